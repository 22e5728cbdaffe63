//! What a key can be bound to. Commands are the user's vocabulary: stable
//! kebab-case names (`[keys]` in the config binds them), one description
//! and one short hint each, and whether they change the fleet. The help
//! screen, the footer hints and the read-only policy all read this table.

use serde::{Deserialize, Serialize};

/// A user-facing command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
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
    Up,
    Down,
    Top,
    Bottom,
    HalfPageDown,
    HalfPageUp,
    /// Open the selected row (project → environments → hosts → host).
    Enter,
    /// Go back one view, or clear the filter.
    Back,
    /// Show the Dockerfile a build of the project uses.
    Dockerfile,
    /// Show the project's image tags in its registry.
    Tags,
    /// Build the project's image (asks for its version) and push it.
    Build,
    /// Deploy a version to the environment (picked or typed; plan first).
    Deploy,
    /// Deploy what runs healthy in the previous environment, by digest.
    Promote,
    /// Go back to the last release that served (or a chosen kept one).
    Rollback,
    /// Open the environment's rollout view.
    Rollout,
    /// The environment's release history.
    History,
    /// Pause the running rollout, or resume a paused one.
    PauseResume,
    /// Abort the running rollout (completed hosts roll back per policy).
    Abort,
    /// Deploy the last rollout's version again on its failed hosts only.
    Retry,
    /// Finish the environment's unfinished release.
    Resume,
    /// Break the environment's fleet lock (typed confirmation).
    BreakLock,
    /// Restart the selected host's serving container.
    Restart,
    /// Stop the selected host's serving container.
    Stop,
    /// Start the selected host's serving container.
    Start,
    /// A shell in the selected host's serving container.
    Shell,
    /// Remove the project's containers from the environment (typed).
    RemoveProject,
    /// Build, push and deploy in one go.
    Ship,
    /// Sort the list by the next column.
    Sort,
    /// Redraw the whole screen.
    Redraw,
    /// Hosts that wait for their next connection attempt try now.
    Reconnect,
    /// The logs of the environment (every host), of the host in view or
    /// selected, or of a failed rollout's host.
    Logs,
    /// Search the log (a regular expression; `n` / `N` move between hits).
    Search,
    SearchNext,
    SearchPrev,
    /// Show or hide each line's timestamp.
    Timestamps,
    /// Wrap long lines, or cut them at the edge.
    Wrap,
    /// Write what the log shows to a file.
    SaveLogs,
    /// The log alone on the screen.
    Fullscreen,
    /// The next since / tail preset (tail 100, 1m, 5m, 15m, 1h, all).
    Since,
    /// The environment's health timeline with its rollouts.
    HealthTimeline,
}

/// One row of the command table.
pub struct CommandInfo {
    pub command: Command,
    /// The name in `[keys]` and in the palette.
    pub name: &'static str,
    /// The footer's word.
    pub hint: &'static str,
    /// The help screen's line.
    pub help: &'static str,
    /// Changes the fleet or starts work on it: refused when read-only.
    pub mutates: bool,
}

macro_rules! commands {
    ($( $c:ident, $name:literal, $hint:literal, $help:literal, $m:literal; )*) => {
        /// Every command, in help order.
        pub const COMMANDS: &[CommandInfo] = &[
            $( CommandInfo { command: Command::$c, name: $name, hint: $hint, help: $help, mutates: $m }, )*
        ];
    };
}

commands! {
    Enter, "enter", "open", "open the selected row (a host: its detail)", false;
    Back, "back", "back", "back / clear filter / close", false;
    Up, "up", "up", "up", false;
    Down, "down", "down", "down", false;
    Top, "top", "top", "first row", false;
    Bottom, "bottom", "follow", "last row (follows a log)", false;
    HalfPageDown, "half-page-down", "page down", "half page down", false;
    HalfPageUp, "half-page-up", "page up", "half page up", false;
    Filter, "filter", "filter", "filter rows", false;
    Sort, "sort", "sort", "sort by the next column", false;
    Deploy, "deploy", "deploy", "deploy a version (tag picker, plan preview, confirm)", true;
    Promote, "promote", "promote", "promote what runs healthy in the previous environment", true;
    Rollback, "rollback", "rollback", "roll back (names the version; only versions kept on every host)", true;
    Rollout, "rollout", "rollout", "the environment's rollout view", false;
    History, "history", "history", "the environment's releases", false;
    PauseResume, "pause-resume", "pause/resume", "pause or resume the running rollout", true;
    Abort, "abort", "abort", "abort the running rollout", true;
    Retry, "retry", "retry failed", "deploy again on the failed hosts only", true;
    Resume, "resume", "resume", "finish the environment's unfinished release", true;
    BreakLock, "break-lock", "break lock", "break the environment's fleet lock (typed)", true;
    Restart, "restart", "restart", "restart the host's serving container", true;
    Stop, "stop", "stop", "stop the host's serving container", true;
    Start, "start", "start", "start the host's serving container", true;
    Shell, "shell", "shell", "a shell in the host's serving container", true;
    RemoveProject, "remove-project", "remove", "remove the project from the environment (typed)", true;
    Dockerfile, "dockerfile", "dockerfile", "the project's rendered Dockerfile", false;
    Tags, "tags", "tags", "the project's image tags (registry)", false;
    Build, "build", "build", "build + push the project's image (asks its version)", true;
    Ship, "ship", "ship", "build, push and deploy to this environment", true;
    Reconnect, "reconnect", "reconnect", "unreachable hosts: try again now", false;
    Logs, "logs", "logs", "logs: the environment's hosts in one stream (a host: its container)", false;
    HealthTimeline, "health", "health", "the environment's health timeline with its rollouts", false;
    Search, "search", "search", "search the log (regex; n / N: next / previous hit)", false;
    SearchNext, "search-next", "next", "next search hit", false;
    SearchPrev, "search-prev", "prev", "previous search hit", false;
    Timestamps, "timestamps", "time", "log: show / hide timestamps", false;
    Wrap, "wrap", "wrap", "log: wrap long lines", false;
    SaveLogs, "save-logs", "save", "log: write what is shown to a file (:save 15m PATH: fetch again)", false;
    Fullscreen, "fullscreen", "fullscreen", "log: the whole screen", false;
    Since, "since", "since", "log: next since preset (tail 100, 1m, 5m, 15m, 1h, all)", false;
    Redraw, "redraw", "redraw", "redraw the screen", false;
    Palette, "palette", "palette", "command palette (:deploy v2, :env prod, :q …)", false;
    Help, "help", "help", "this help", false;
    Quit, "quit", "quit", "quit", false;
}

impl Command {
    /// This command's row of the table.
    pub fn info(self) -> &'static CommandInfo {
        COMMANDS
            .iter()
            .find(|i| i.command == self)
            .unwrap_or(&COMMANDS[0])
    }

    /// Changes the fleet (refused in a read-only console or environment).
    pub fn mutates(self) -> bool {
        self.info().mutates
    }

    /// The command named `name` in `[keys]` or the palette.
    pub fn by_name(name: &str) -> Option<Command> {
        COMMANDS.iter().find(|i| i.name == name).map(|i| i.command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_one_row() {
        for i in COMMANDS {
            assert_eq!(i.command.info().name, i.name);
            assert_eq!(Command::by_name(i.name), Some(i.command));
        }
        let mut names: Vec<&str> = COMMANDS.iter().map(|i| i.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
        // `[keys]` is checked at load against the config's copy of the names.
        let mut config_names: Vec<&str> = crate::config::keys::COMMAND_NAMES.to_vec();
        config_names.sort();
        assert_eq!(names, config_names);
    }
}
