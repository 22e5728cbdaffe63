//! The console's single owner of state.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::Keymap;
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
        }
    }

    /// The project this view is about, if any.
    pub fn project(&self) -> Option<&str> {
        match self {
            View::Projects => None,
            View::Environments { project }
            | View::Hosts { project, .. }
            | View::Dockerfile { project }
            | View::Tags { project }
            | View::Build { project } => Some(project),
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
    pub version: Option<String>,
    pub log: Option<String>,
    pub lines: VecDeque<String>,
    pub status: BuildStatus,
}

impl BuildPane {
    pub fn new() -> Self {
        Self {
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
}

impl Screen {
    pub fn new(view: View) -> Self {
        Self {
            view,
            selected: 0,
            filter: String::new(),
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
    /// `?` overlay.
    Help,
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
}

impl State {
    pub fn new(config: Arc<Config>, now: DateTime<Utc>) -> Self {
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
            keymap: Keymap::default(),
            readonly: false,
            now,
            page_rows: 20,
            dirty: true,
            quit_armed: false,
            dockerfiles: BTreeMap::new(),
            tags: BTreeMap::new(),
            builds: BTreeMap::new(),
        }
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
