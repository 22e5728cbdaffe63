//! Everything that can change the console's state, and what `update()` asks
//! the runner to do in return.

use crossterm::event::KeyEvent;

use super::Command;
use crate::build::BuildEvent;
use crate::domain::FleetUpdate;
use crate::registry::TagInfo;

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
    /// A project's rendered Dockerfile, or why there is none.
    Dockerfile {
        project: String,
        result: Result<String, String>,
    },
    /// A project's registry tags, or why they could not be read.
    Tags {
        project: String,
        result: Result<Vec<TagInfo>, String>,
    },
    /// An event of a console build.
    Build { project: String, event: BuildEvent },
    /// A console build ended: its digest (if pushed), or the error.
    BuildDone {
        project: String,
        result: Result<Option<String>, String>,
    },
}

/// Work `update()` hands to the runner (the only place with side effects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Leave the console and restore the terminal.
    Quit,
    /// Render the project's Dockerfile (answer: `Action::Dockerfile`).
    LoadDockerfile { project: String },
    /// Read the project's tags from its registry (answer: `Action::Tags`).
    LoadTags { project: String },
    /// Build and push the project's image (answers: `Action::Build`, `Action::BuildDone`).
    StartBuild { project: String },
}
