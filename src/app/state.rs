//! The console's single owner of state.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::Keymap;
use super::model::dialog::{Confirm, Picker};
use super::model::release::{EnvKey, EnvReleases};
use crate::config::Config;
use crate::domain::{Fleet, HostState};
use crate::registry::TagInfo;

/// One screen of the projects → environments → hosts drill-down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Projects,
    /// Environments of a project.
    Environments {
        project: String,
    },
    /// Hosts of a project in one environment.
    Hosts {
        project: String,
        env: String,
    },
    /// The Dockerfile a build of the project uses (its template, rendered).
    Dockerfile {
        project: String,
    },
    /// The project's image tags in its registry.
    Tags {
        project: String,
    },
    /// The project's console build: its streamed output.
    Build {
        project: String,
    },
    /// A host of an environment: its serving container in detail.
    HostDetail {
        project: String,
        env: String,
        host: String,
    },
    /// The environment's rollout (this console's, or another operator's).
    Rollout {
        project: String,
        env: String,
    },
    /// The environment's releases.
    History {
        project: String,
        env: String,
    },
    /// One release's events, from the journal.
    Release {
        project: String,
        env: String,
        release: String,
    },
    /// Logs of the environment's hosts in one stream, or of one host;
    /// without a project, of every project's serving container on `host`.
    Logs {
        project: Option<String>,
        env: Option<String>,
        host: Option<String>,
    },
    /// The environment's health, host by host over time, with its rollouts.
    Health {
        project: String,
        env: String,
    },
}

impl View {
    /// Breadcrumb text.
    pub fn title(&self) -> String {
        match self {
            View::Projects => "projects".into(),
            View::Environments { project } => format!("{project} › environments"),
            View::Hosts { project, env } => format!("{project} › {env} › hosts"),
            View::Dockerfile { project } => format!("{project} › dockerfile"),
            View::Tags { project } => format!("{project} › tags"),
            View::Build { project } => format!("{project} › build"),
            View::HostDetail { project, env, host } => format!("{project} › {env} › {host}"),
            View::Rollout { project, env } => format!("{project} › {env} › rollout"),
            View::History { project, env } => format!("{project} › {env} › history"),
            View::Release {
                project,
                env,
                release,
            } => format!("{project} › {env} › release {release}"),
            View::Logs {
                project: Some(project),
                env: Some(env),
                host,
            } => match host {
                Some(h) => format!("{project} › {env} › {h} › logs"),
                None => format!("{project} › {env} › logs"),
            },
            View::Logs { host, .. } => {
                format!("{} › logs of every project", host.as_deref().unwrap_or("?"))
            }
            View::Health { project, env } => format!("{project} › {env} › health"),
        }
    }

    /// The environment this view is about, if any.
    pub fn env(&self) -> Option<&str> {
        match self {
            View::Hosts { env, .. }
            | View::HostDetail { env, .. }
            | View::Rollout { env, .. }
            | View::History { env, .. }
            | View::Release { env, .. }
            | View::Health { env, .. } => Some(env),
            View::Logs { env, .. } => env.as_deref(),
            _ => None,
        }
    }

    /// The project this view is about, if any.
    pub fn project(&self) -> Option<&str> {
        match self {
            View::Projects => None,
            View::Logs { project, .. } => project.as_deref(),
            View::Environments { project }
            | View::Hosts { project, .. }
            | View::Dockerfile { project }
            | View::Tags { project }
            | View::Build { project }
            | View::HostDetail { project, .. }
            | View::Rollout { project, .. }
            | View::History { project, .. }
            | View::Release { project, .. }
            | View::Health { project, .. } => Some(project),
        }
    }
}

/// Something fetched in the background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loadable<T> {
    Loading,
    Ready(T),
    /// What went wrong, as the user reads it.
    Failed(String),
}

/// How a console build stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildStatus {
    Running,
    Succeeded { digest: Option<String> },
    Failed(String),
}

/// Lines of a build's output the console keeps (older ones are in the log file).
pub const BUILD_LINES: usize = 5000;
/// Longest line the console keeps (a progress bar without newlines…).
pub const LINE_MAX: usize = 2000;

/// A build started from the console: its output as it streams in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPane {
    /// Ship: the environment the pushed version goes to once built.
    pub deploy_to: Option<String>,
    pub version: Option<String>,
    pub log: Option<String>,
    pub lines: VecDeque<String>,
    pub status: BuildStatus,
}

impl BuildPane {
    pub fn new() -> Self {
        Self {
            deploy_to: None,
            version: None,
            log: None,
            lines: VecDeque::new(),
            status: BuildStatus::Running,
        }
    }

    /// Append a line (cut at [`LINE_MAX`] chars), dropping the oldest beyond
    /// [`BUILD_LINES`]. True when a line was dropped.
    pub fn push(&mut self, mut line: String) -> bool {
        if let Some((cut, _)) = line.char_indices().nth(LINE_MAX) {
            line.truncate(cut);
            line.push('…');
        }
        let dropped = self.lines.len() >= BUILD_LINES;
        if dropped {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
        dropped
    }
}

impl Default for BuildPane {
    fn default() -> Self {
        Self::new()
    }
}

/// A view on the navigation stack with its own selection and filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    pub view: View,
    pub selected: usize,
    /// Case-insensitive substring filter on the row's name.
    pub filter: String,
    /// The column the rows are sorted by (0: the view's natural order).
    pub sort: usize,
}

impl Screen {
    pub fn new(view: View) -> Self {
        Self {
            view,
            selected: 0,
            filter: String::new(),
            sort: 0,
        }
    }
}

/// What the keyboard is talking to.
#[derive(Debug, Clone, Default)]
pub enum Mode {
    #[default]
    Normal,
    /// Typing a `/` filter.
    Filter(Input),
    /// Typing a `:` command.
    Palette(Input),
    /// Typing a search of the log (`f`).
    Search(Input),
    /// `?` overlay.
    Help,
    /// A destructive effect waits for its confirmation (typed for a
    /// protected environment).
    Confirm(Box<Confirm>),
    /// Choosing a version (deploy, rollback, build).
    Pick(Box<Picker>),
}

/// The engine a console without an inventory file opened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoInventory {
    /// Its endpoint, e.g. `unix:///var/run/docker.sock`.
    pub endpoint: String,
    /// How it was found, e.g. `DOCKER_HOST` or `current Docker context "sbx"`.
    pub source: String,
}

impl NoInventory {
    /// What the console says under its header.
    pub fn banner(&self) -> String {
        format!(
            "No inventory: a read-only view of {} ({}), from shipdeck's labels. To deploy, write ./shipdeck.toml (see config/example.toml; `shipdeck check` validates it).",
            self.endpoint, self.source
        )
    }
}

/// A message in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
}

/// Everything the console shows. Owned by the action loop; views get `&State`.
#[derive(Debug, Clone)]
pub struct State {
    pub config: Arc<Config>,
    pub fleet: Fleet,
    /// Navigation stack; never empty (the root is `Projects`).
    pub stack: Vec<Screen>,
    pub mode: Mode,
    pub flash: Option<Flash>,
    pub keymap: Keymap,
    pub readonly: bool,
    /// Set when the console opened without an inventory file, on the Docker
    /// environment's engine: it is then read-only and says how to write one.
    pub no_inventory: Option<NoInventory>,
    /// Wall clock of the last tick (uptime columns use it; tests pin it).
    pub now: DateTime<Utc>,
    /// Rows visible in the list (for half-page moves); set on resize.
    pub page_rows: usize,
    /// Something changed since the last draw.
    pub dirty: bool,
    /// `q` was pressed while a build runs: the next `q` quits.
    pub quit_armed: bool,
    /// Rendered Dockerfiles by project (loaded when the view opens).
    pub dockerfiles: BTreeMap<String, Loadable<String>>,
    /// Registry tags by project (loaded when the view opens).
    pub tags: BTreeMap<String, Loadable<Vec<TagInfo>>>,
    /// Console builds by project (the latest one each).
    pub builds: BTreeMap<String, BuildPane>,
    /// Releases by project+environment: this console's rollouts, what the
    /// fleet says, the history.
    pub releases: BTreeMap<EnvKey, EnvReleases>,
    /// A plan (or a promotion's source) asked for, whose answer opens the
    /// confirmation of this release.
    pub pending_plan: Option<(EnvKey, crate::rollout::executor::Kind)>,
    /// Events of releases opened from the history view.
    pub release_events: BTreeMap<String, Loadable<Vec<String>>>,
    /// The last changes seen on each host (its detail view lists them).
    pub host_events: BTreeMap<String, VecDeque<String>>,
    /// The console quits once its rollouts have stopped.
    pub quitting: bool,
    /// Ticks (seconds) since the start: polls are spaced by them.
    pub ticks: u64,
    /// The open logs view's buffer (one at a time; its stream stops when
    /// the view closes).
    pub logs: Option<super::logs::LogPane>,
    /// Numbers the log streams, so a replaced stream's late lines are dropped.
    pub log_generation: u64,
    /// Health transitions and rollout marks, for the health timeline.
    pub timeline: super::timeline::Timeline,
    /// CPU and memory of the containers in view (Docker stats).
    pub stats: super::stats::Stats,
    /// Terminal size.
    pub width: u16,
    pub height: u16,
}

impl State {
    pub fn new(config: Arc<Config>, now: DateTime<Utc>) -> Self {
        let keymap = Keymap::with_bindings(&config.keys);
        let hosts = config
            .hosts
            .iter()
            .map(|h| {
                (
                    h.name.clone(),
                    HostState::new(&h.name, &h.endpoint.to_string()),
                )
            })
            .collect();
        Self {
            config,
            fleet: Fleet { hosts },
            stack: vec![Screen::new(View::Projects)],
            mode: Mode::Normal,
            flash: None,
            keymap,
            readonly: false,
            no_inventory: None,
            now,
            page_rows: 20,
            dirty: true,
            quit_armed: false,
            dockerfiles: BTreeMap::new(),
            tags: BTreeMap::new(),
            builds: BTreeMap::new(),
            releases: BTreeMap::new(),
            pending_plan: None,
            release_events: BTreeMap::new(),
            host_events: BTreeMap::new(),
            quitting: false,
            ticks: 0,
            logs: None,
            log_generation: 0,
            timeline: Default::default(),
            stats: Default::default(),
            width: 80,
            height: 24,
        }
    }

    /// Lines the no-inventory banner takes at `width` columns: none
    /// without one, else what its text needs, at most 2.
    pub fn banner_lines(&self, width: u16) -> u16 {
        let Some(n) = &self.no_inventory else {
            return 0;
        };
        let w = usize::from(width.max(1));
        u16::try_from(unicode_width::UnicodeWidthStr::width(n.banner().as_str()).div_ceil(w))
            .unwrap_or(2)
            .clamp(1, 2)
    }

    /// Releases of `project`/`env` (empty when nothing is known yet).
    pub fn env_releases(&self, project: &str, env: &str) -> Option<&EnvReleases> {
        self.releases.get(&(project.to_string(), env.to_string()))
    }

    pub fn env_releases_mut(&mut self, project: &str, env: &str) -> &mut EnvReleases {
        self.releases
            .entry((project.to_string(), env.to_string()))
            .or_default()
    }

    /// The rollout cell of an environment: (text, bad).
    pub fn env_activity_text(&self, project: &str, env: &str) -> Option<(String, bool)> {
        let r = self.env_releases(project, env)?;
        if let Some(p) = r.rollout.as_ref().filter(|p| p.running()) {
            let (b, n) = p.batch;
            return Some((
                format!(
                    "{} {} · batch {b}/{n} · {}",
                    p.action.word(),
                    p.version,
                    super::model::release::status_word(p.status)
                ),
                false,
            ));
        }
        if let Some(l) = r.other_rollout() {
            return Some((
                format!("in progress by {} ({})", l.owner, l.phase_word()),
                false,
            ));
        }
        if let Some(i) = r.interrupted() {
            return Some((
                format!(
                    "UNFINISHED {} {} by {}: u resume, R roll back",
                    i.action.word(),
                    i.version,
                    i.user
                ),
                true,
            ));
        }
        r.rollout.as_ref().map(|p| {
            (
                format!(
                    "last: {} {} {}",
                    p.action.word(),
                    p.version,
                    super::model::release::status_word(p.status)
                ),
                !matches!(
                    p.status,
                    super::model::release::RolloutStatus::Finished(
                        crate::rollout::journal::Outcome::Succeeded
                    )
                ),
            )
        })
    }

    /// The screen on top of the stack.
    pub fn screen(&self) -> &Screen {
        // The stack is never empty: `Back` stops at the root.
        &self.stack[self.stack.len() - 1]
    }

    pub fn screen_mut(&mut self) -> &mut Screen {
        let n = self.stack.len() - 1;
        &mut self.stack[n]
    }
}
