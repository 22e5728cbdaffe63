//! The console's state and its transitions: `Command`s (what keys bind to),
//! `Action`s (everything that can change state), and the pure `update()`.
//! No terminal, no Docker, no ratatui drawing here.

pub mod action;
pub mod command;
pub mod keymap;
pub mod rows;
pub mod state;
pub mod update;

pub use action::{Action, Effect};
pub use command::Command;
pub use keymap::Keymap;
pub use state::{Mode, State, View};
pub use update::update;
