//! Everything that can change the console's state, and what `update()` asks
//! the runner to do in return.

use crossterm::event::KeyEvent;

use super::Command;
use crate::domain::FleetUpdate;

/// An input to `update()`.
// Fleet updates dominate the size; they are moved once from a channel into
// `update()`, so boxing them would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A key press, before the keymap: text fields (filter, palette) take raw keys.
    Key(KeyEvent),
    /// A command, from the keymap or the palette.
    Command(Command),
    /// A host watcher reported a change.
    Fleet(FleetUpdate),
    /// Once a second: uptimes and "ago" columns move on.
    Tick,
    /// The terminal was resized to (width, height).
    Resize(u16, u16),
}

/// Work `update()` hands to the runner (the only place with side effects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Leave the console and restore the terminal.
    Quit,
}
