//! The console's single owner of state.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::Keymap;
use crate::config::Config;
use crate::domain::{Fleet, HostState};

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
}

impl View {
    /// Breadcrumb text.
    pub fn title(&self) -> String {
        match self {
            View::Projects => "projects".into(),
            View::Environments { project } => format!("{project} › environments"),
            View::Hosts { project, env } => format!("{project} › {env} › hosts"),
        }
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
