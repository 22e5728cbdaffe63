//! The console's state and its transitions: `Command`s (what keys bind to),
//! `Action`s (everything that can change state), `Effect`s (what the runner
//! does), and the pure `update()`. No terminal, no Docker, no drawing here.

pub mod action;
pub mod command;
pub mod keymap;
pub mod logs;
pub mod model;
pub mod palette;
pub mod policy;
pub mod rows;
pub mod state;
pub mod stats;
pub mod timeline;
pub mod update;

pub use action::{Action, ContainerVerb, Effect};
pub use command::Command;
pub use keymap::Keymap;
pub use state::{Mode, NoInventory, State, View};
pub use update::update;
