//! The domain model shared by the engine, the console and the headless CLI:
//! what runs where on the fleet. No ratatui, no bollard here.

pub mod fleet;
pub mod labels;
pub mod naming;
pub mod summary;
pub mod text;

pub use fleet::*;
pub use naming::Role;
