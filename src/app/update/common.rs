//! What the update modules share: the target of a command (project,
//! environment), opening views, asking for tags, the selection's bounds, an
//! error in the status line.

use crate::app::Effect;
use crate::app::rows::{row_count, row_names};
use crate::app::state::{Flash, Loadable, Screen, State, View};

/// The project `d`, `t` and `b` act on: the selected row in the projects
/// view, else the project of the current view.
pub fn target_project(state: &mut State) -> Option<String> {
    let found = match &state.screen().view {
        View::Projects => row_names(state).get(state.screen().selected).cloned(),
        other => other.project().map(str::to_string),
    };
    if found.is_none() {
        flash_error(state, "no project selected: open one first".into());
    }
    found
}

/// The project+environment a release command acts on: the environment in
/// view, or the selected row of the environments view.
pub fn target_env(state: &mut State) -> Option<(String, String)> {
    let found = match &state.screen().view {
        View::Environments { project } => row_names(state)
            .get(state.screen().selected)
            .map(|e| (project.clone(), e.clone())),
        View::Projects => None,
        other => match (other.project(), other.env()) {
            (Some(p), Some(e)) => Some((p.to_string(), e.to_string())),
            _ => None,
        },
    };
    if found.is_none() {
        flash_error(
            state,
            "no environment in view: open a project's environment first (enter, or :env NAME)"
                .into(),
        );
    }
    found
}

/// Push `view` unless it is already on top; leaf views (Dockerfile, tags,
/// build, history, rollout, host detail) replace one another, so Esc goes
/// back to where the key was pressed.
pub fn open(state: &mut State, view: View) {
    if state.screen().view == view {
        return;
    }
    let leaf = |v: &View| {
        matches!(
            v,
            View::Dockerfile { .. }
                | View::Tags { .. }
                | View::Build { .. }
                | View::Rollout { .. }
                | View::History { .. }
        )
    };
    if leaf(&state.screen().view) && leaf(&view) && state.stack.len() > 1 {
        state.stack.pop();
    }
    state.stack.push(Screen::new(view));
}

/// Ask for the project's tags unless a request is in flight.
pub fn load_tags(state: &mut State, project: &str) -> Vec<Effect> {
    if state.tags.get(project) == Some(&Loadable::Loading) {
        return Vec::new();
    }
    state.tags.insert(project.to_string(), Loadable::Loading);
    // The tags view shows no rows while they load: keep the selection in them.
    clamp_selection(state);
    vec![Effect::LoadTags {
        project: project.to_string(),
    }]
}

pub fn set_filter(state: &mut State, text: String) {
    let screen = state.screen_mut();
    screen.filter = text;
    screen.selected = 0;
}

pub fn clamp_selection(state: &mut State) {
    let n = row_count(state);
    let screen = state.screen_mut();
    screen.selected = screen.selected.min(n.saturating_sub(1));
}

pub fn flash_error(state: &mut State, text: String) {
    state.flash = Some(Flash { text, error: true });
}
