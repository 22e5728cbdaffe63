//! What a key can be bound to. Commands are the user's vocabulary; they are
//! stable names so that keys can be remapped.

use serde::{Deserialize, Serialize};

/// A user-facing command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// Leave the console.
    Quit,
    /// Show or hide the key help.
    Help,
    /// Start typing a filter for the current list.
    Filter,
    /// Open the `:` command palette.
    Palette,
    /// Move the selection up one row.
    Up,
    /// Move the selection down one row.
    Down,
    /// Jump to the first row.
    Top,
    /// Jump to the last row.
    Bottom,
    /// Move half a page down.
    HalfPageDown,
    /// Move half a page up.
    HalfPageUp,
    /// Open the selected row (project → environments → hosts).
    Enter,
    /// Go back one view, or clear the filter.
    Back,
    /// Show the Dockerfile a build of the project uses.
    Dockerfile,
    /// Show the project's image tags in its registry.
    Tags,
    /// Build the project's image on its build host and push it.
    Build,
}

impl Command {
    /// Every command with a one-line description, for `?`.
    pub const ALL: &'static [(Command, &'static str)] = &[
        (Command::Enter, "open the selected row"),
        (Command::Back, "back / clear filter / close"),
        (Command::Up, "up"),
        (Command::Down, "down"),
        (Command::Top, "first row"),
        (Command::Bottom, "last row"),
        (Command::HalfPageDown, "half page down"),
        (Command::HalfPageUp, "half page up"),
        (Command::Filter, "filter rows"),
        (Command::Dockerfile, "the project's rendered Dockerfile"),
        (Command::Tags, "the project's image tags (registry)"),
        (Command::Build, "build + push the project's image"),
        (
            Command::Palette,
            "command palette (:projects, :env NAME, :q)",
        ),
        (Command::Help, "this help"),
        (Command::Quit, "quit"),
    ];
}
