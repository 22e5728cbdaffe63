//! Everything that can change the console's state (`Action`), and what
//! `update()` asks the runner to do in return (`Effect`).

use crossterm::event::KeyEvent;

use super::Command;
use crate::domain::FleetUpdate;
use crate::image::BuildEvent;
use crate::registry::TagInfo;
use crate::rollout::activity::Activity;
use crate::rollout::events::RolloutEvent;
use crate::rollout::executor::Kind;
use crate::rollout::journal::ReleaseSummary;
use crate::rollout::lock::Control;
use crate::rollout::plan::Plan;
use crate::rollout::promote::Promotable;

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
    /// A mouse click on a row of the list (its index on screen).
    Click { row: u16 },
    /// The mouse wheel: positive scrolls down.
    Scroll(i8),
    /// The open confirmation was confirmed (typed text checked by `update`).
    Confirmed,
    /// A host watcher reported a change.
    Fleet(FleetUpdate),
    /// Once a second: uptimes, countdowns and "ago" columns move on.
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
    /// The plan of a release asked for with `Effect::LoadPlan`.
    Plan {
        project: String,
        env: String,
        result: Result<Plan, String>,
    },
    /// What a promotion would deploy (`Effect::LoadPromotion`).
    Promotion {
        project: String,
        env: String,
        result: Result<Promotable, String>,
    },
    /// An event of a rollout this console runs.
    Rollout {
        project: String,
        env: String,
        event: RolloutEvent,
    },
    /// A rollout of this console ended (`Err`: refused before it started,
    /// or its task crashed).
    RolloutDone {
        project: String,
        env: String,
        result: Result<(), String>,
    },
    /// What the fleet says goes on in an environment (lock, unfinished release).
    Activity {
        project: String,
        env: String,
        activity: Activity,
        /// Read with the releases (else from the lock alone).
        full: bool,
    },
    /// The releases of an environment, oldest first.
    History {
        project: String,
        env: String,
        result: Result<Vec<ReleaseSummary>, String>,
    },
    /// The journal's events of one release (`enter` in the history view).
    ReleaseEvents {
        release: String,
        result: Result<Vec<String>, String>,
    },
    /// A one-off operation finished (control, lock break, container action):
    /// its message for the status line.
    Done { result: Result<String, String> },
    /// Lines (and markers) of the log stream numbered `generation`.
    Logs {
        generation: u64,
        events: Vec<crate::engine::logs::LogEvent>,
    },
    /// A reading of a watched container's CPU and memory.
    Stats {
        id: String,
        sample: super::stats::Sample,
    },
}

/// A container operation from the hosts view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerVerb {
    Restart,
    Stop,
    Start,
}

impl ContainerVerb {
    pub fn word(self) -> &'static str {
        match self {
            ContainerVerb::Restart => "restart",
            ContainerVerb::Stop => "stop",
            ContainerVerb::Start => "start",
        }
    }
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
    /// Build and push the project's image; with `deploy_to`, deploy the
    /// pushed version there afterwards (ship).
    StartBuild {
        project: String,
        version: Option<String>,
        deploy_to: Option<String>,
    },
    /// Make the plan of deploying `version` (answer: `Action::Plan`).
    LoadPlan {
        project: String,
        env: String,
        version: String,
    },
    /// What runs healthy in `from`, for a promotion into `env`.
    LoadPromotion {
        project: String,
        env: String,
        from: String,
    },
    /// Start a release (answers: `Action::Rollout`…, `Action::RolloutDone`).
    StartRelease {
        project: String,
        env: String,
        kind: Kind,
        message: String,
    },
    /// Stop this console's rollout: launch no further host (`abort`: also
    /// cancel the health waits in flight and roll back per policy).
    StopRollout {
        project: String,
        env: String,
        abort: bool,
    },
    /// Write a control word into the environment's lock (any operator's rollout).
    Control {
        project: String,
        env: String,
        control: Control,
    },
    /// Break the environment's fleet lock.
    BreakLock { project: String, env: String },
    /// Read the environment's lock and newest release (answer: `Action::Activity`).
    /// With `full`, the releases too (journal and ledger); else the lock only.
    PollActivity {
        project: String,
        env: String,
        full: bool,
    },
    /// Read the environment's releases (answer: `Action::History`).
    LoadHistory { project: String, env: String },
    /// Read one release's events from the journal (answer: `Action::ReleaseEvents`).
    LoadReleaseEvents { release: String },
    /// Restart, stop or start a container.
    ContainerAction {
        host: String,
        container: String,
        verb: ContainerVerb,
    },
    /// Hand the terminal to a shell in a container, and take it back.
    Shell { host: String, container: String },
    /// Remove every container of the project from the environment.
    RemoveProject { project: String, env: String },
    /// Unreachable hosts try again now.
    Reconnect,
    /// Follow the logs of `targets` (answers: `Action::Logs`), replacing
    /// the stream before it.
    StreamLogs {
        generation: u64,
        targets: super::logs::LogTargets,
        range: crate::engine::logs::LogRange,
    },
    /// Stop the log stream (its view closed).
    StopLogs,
    /// Write `text` (what the logs view shows) to `path`.
    SaveLogs {
        path: std::path::PathBuf,
        text: String,
    },
    /// Read `range` of the targets' logs again from the hosts into `path`.
    FetchLogs {
        targets: super::logs::LogTargets,
        range: crate::engine::logs::LogRange,
        path: std::path::PathBuf,
    },
    /// Read the stats of exactly these containers: (host, id).
    WatchStats { containers: Vec<(String, String)> },
    /// Clear and redraw the whole screen.
    Redraw,
}

impl Effect {
    /// Changes the fleet: never leaves a read-only console, and only after
    /// its confirmation.
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            Effect::StartBuild { .. }
                | Effect::StartRelease { .. }
                | Effect::StopRollout { .. }
                | Effect::Control { .. }
                | Effect::BreakLock { .. }
                | Effect::ContainerAction { .. }
                | Effect::Shell { .. }
                | Effect::RemoveProject { .. }
        )
    }

    /// The environment a mutating effect changes, when it names one.
    pub fn env(&self) -> Option<&str> {
        match self {
            Effect::StartRelease { env, .. }
            | Effect::StopRollout { env, .. }
            | Effect::Control { env, .. }
            | Effect::BreakLock { env, .. }
            | Effect::RemoveProject { env, .. } => Some(env),
            Effect::StartBuild { deploy_to, .. } => deploy_to.as_deref(),
            _ => None,
        }
    }

    /// Destructive: only released by a confirmation.
    pub fn destructive(&self) -> bool {
        matches!(
            self,
            Effect::StartRelease { .. }
                | Effect::StopRollout { abort: true, .. }
                | Effect::Control {
                    control: Control::Abort,
                    ..
                }
                | Effect::BreakLock { .. }
                | Effect::ContainerAction {
                    verb: ContainerVerb::Restart | ContainerVerb::Stop,
                    ..
                }
                | Effect::RemoveProject { .. }
                | Effect::StartBuild {
                    deploy_to: Some(_),
                    ..
                }
        )
    }
}
