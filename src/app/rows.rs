//! Rows of each view, derived from `State` (pure). Views draw them; `update()`
//! uses their count and names for selection and drill-down.

use super::state::{Loadable, State, View};
use crate::domain::ContainerState;
pub use crate::domain::summary::{self, EnvSummary, HostSummary};
use crate::registry::TagInfo;

/// A row of the projects view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    pub name: String,
    pub image: String,
    pub envs: Vec<EnvSummary>,
}

fn matches(filter: &str, name: &str) -> bool {
    filter.is_empty() || name.to_lowercase().contains(&filter.to_lowercase())
}

/// Summarise `project` in `env` over the fleet.
pub fn env_summary(state: &State, project: &str, env: &str) -> EnvSummary {
    let hosts = state
        .config
        .project(project)
        .map(|p| p.hosts_in(env).to_vec())
        .unwrap_or_default();
    summary::env_summary(&state.fleet, project, env, &hosts)
}

/// Rows of the projects view, filtered.
pub fn project_rows(state: &State, filter: &str) -> Vec<ProjectRow> {
    state
        .config
        .projects
        .iter()
        .filter(|p| matches(filter, &p.name))
        .map(|p| ProjectRow {
            name: p.name.clone(),
            image: p.image.clone(),
            envs: state
                .config
                .environments
                .iter()
                .filter(|e| !p.hosts_in(&e.name).is_empty())
                .map(|e| env_summary(state, &p.name, &e.name))
                .collect(),
        })
        .collect()
}

/// Rows of the environments view (every configured environment, in order).
pub fn env_rows(state: &State, project: &str, filter: &str) -> Vec<EnvSummary> {
    state
        .config
        .environments
        .iter()
        .filter(|e| matches(filter, &e.name))
        .map(|e| env_summary(state, project, &e.name))
        .collect()
}

/// What the hosts view can be sorted by (`O` cycles).
pub const HOST_SORTS: [&str; 6] = ["host", "state", "version", "health", "uptime", "restarts"];

/// Rows of the hosts view, sorted by the screen's sort column.
pub fn host_rows(state: &State, project: &str, env: &str, filter: &str) -> Vec<HostSummary> {
    let Some(p) = state.config.project(project) else {
        return Vec::new();
    };
    let hosts: Vec<String> = p
        .hosts_in(env)
        .iter()
        .filter(|h| matches(filter, h))
        .cloned()
        .collect();
    let mut rows = summary::host_summaries(&state.fleet, project, env, &hosts);
    let sort = match &state.screen().view {
        View::Hosts { project: p, env: e } if p == project && e == env => state.screen().sort,
        _ => 0,
    };
    let now = state.now;
    match sort {
        1 => rows.sort_by_key(|r| r.container().map(|c| c.state)),
        2 => rows.sort_by(|a, b| {
            a.container()
                .map(|c| c.version.clone())
                .cmp(&b.container().map(|c| c.version.clone()))
        }),
        3 => rows.sort_by_key(|r| r.container().map(summary::health_text)),
        4 => {
            rows.sort_by_key(|r| std::cmp::Reverse(r.container().and_then(|c| c.uptime_secs(now))))
        }
        5 => rows.sort_by_key(|r| std::cmp::Reverse(r.container().map(|c| c.restarts))),
        _ => {}
    }
    rows
}

/// Rows of the rollout view: the hosts of the plan (or of the environment).
pub fn rollout_hosts(state: &State, project: &str, env: &str) -> Vec<String> {
    if let Some(p) = state
        .env_releases(project, env)
        .and_then(|r| r.rollout.as_ref())
        .filter(|p| !p.order.is_empty())
    {
        return p.order.clone();
    }
    state
        .config
        .project(project)
        .map(|p| p.hosts_in(env).to_vec())
        .unwrap_or_default()
}

/// Rows of the rollout view, filtered.
pub fn rollout_rows(state: &State, project: &str, env: &str, filter: &str) -> Vec<String> {
    rollout_hosts(state, project, env)
        .into_iter()
        .filter(|h| matches(filter, h))
        .collect()
}

/// Rows of the history view: releases, newest first.
pub fn history_rows(
    state: &State,
    project: &str,
    env: &str,
    filter: &str,
) -> Vec<crate::rollout::journal::ReleaseSummary> {
    match state
        .env_releases(project, env)
        .and_then(|r| r.history.as_ref())
    {
        Some(Ok(h)) => h
            .iter()
            .rev()
            .filter(|r| {
                matches(filter, &r.version)
                    || matches(filter, &r.user)
                    || matches(filter, &r.release)
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// A row of the tags view: the tag and the environments running it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub tag: TagInfo,
    /// `prod ×3` style: environments whose hosts run this version.
    pub running_in: Vec<(String, usize)>,
}

/// Rows of the tags view (empty while loading or after an error).
pub fn tag_rows(state: &State, project: &str, filter: &str) -> Vec<TagRow> {
    let Some(Loadable::Ready(tags)) = state.tags.get(project) else {
        return Vec::new();
    };
    // What runs per environment: (version, digest) of each serving container.
    let Some(p) = state.config.project(project) else {
        return Vec::new();
    };
    type Serving = Vec<(String, Option<String>)>;
    let running: Vec<(String, Serving)> = state
        .config
        .environments
        .iter()
        .map(|e| {
            let here = p
                .hosts_in(&e.name)
                .iter()
                .filter_map(|h| state.fleet.hosts.get(h))
                .filter(|h| h.reach.is_reachable())
                .filter_map(|h| h.app_container(project, &e.name))
                .filter(|c| c.state == ContainerState::Running)
                .map(|c| (c.version.clone(), c.digest.clone()))
                .collect();
            (e.name.clone(), here)
        })
        .collect();
    tags.iter()
        .filter(|t| matches(filter, &t.tag))
        .map(|t| TagRow {
            tag: t.clone(),
            running_in: running
                .iter()
                .filter_map(|(env, here)| {
                    // The same image: by digest when both are known (a tag
                    // moved with --force is not the image that runs).
                    let n = here
                        .iter()
                        .filter(|(v, d)| match (d, &t.digest) {
                            (Some(d), Some(td)) => d == td,
                            _ => *v == t.tag,
                        })
                        .count();
                    (n > 0).then(|| (env.clone(), n))
                })
                .collect(),
        })
        .collect()
}

/// Lines of a text view (the Dockerfile, a build's output), filtered.
pub fn text_rows(state: &State, view: &View, filter: &str) -> Vec<String> {
    let lines: Vec<String> = match view {
        View::Dockerfile { project } => match state.dockerfiles.get(project) {
            Some(Loadable::Ready(text)) => text.lines().map(str::to_string).collect(),
            _ => Vec::new(),
        },
        View::Release { release, .. } => match state.release_events.get(release) {
            Some(Loadable::Ready(lines)) => lines.clone(),
            _ => Vec::new(),
        },
        View::Build { project } => state
            .builds
            .get(project)
            .map(|b| b.lines.iter().cloned().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    lines.into_iter().filter(|l| matches(filter, l)).collect()
}

/// The names the projects, environments and hosts views list, in config
/// order, filtered: their rows are these, whatever the fleet says.
fn config_names<'a>(state: &'a State, view: &View, filter: &str) -> Option<Vec<&'a str>> {
    let names: Vec<&str> = match view {
        View::Projects => state
            .config
            .projects
            .iter()
            .map(|p| p.name.as_str())
            .collect(),
        View::Environments { .. } => state
            .config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect(),
        View::Hosts { project, env } | View::Health { project, env } => state
            .config
            .project(project)
            .map(|p| p.hosts_in(env).iter().map(String::as_str).collect())
            .unwrap_or_default(),
        _ => return None,
    };
    Some(names.into_iter().filter(|n| matches(filter, n)).collect())
}

/// How many rows the current view has (counted without building the rows:
/// this runs after every fleet update and rollout event).
pub fn row_count(state: &State) -> usize {
    let screen = state.screen();
    if let Some(names) = config_names(state, &screen.view, &screen.filter) {
        return names.len();
    }
    match &screen.view {
        View::Build { project } => state.builds.get(project).map_or(0, |b| {
            b.lines
                .iter()
                .filter(|l| matches(&screen.filter, l))
                .count()
        }),
        _ => row_names(state).len(),
    }
}

/// Names of the rows in the current view (what selection indexes into).
pub fn row_names(state: &State) -> Vec<String> {
    let screen = state.screen();
    match &screen.view {
        // Sorted hosts are in the fleet's order, not the config's.
        View::Hosts { project, env } if screen.sort != 0 => {
            host_rows(state, project, env, &screen.filter)
                .into_iter()
                .map(|r| r.host)
                .collect()
        }
        view @ (View::Projects
        | View::Environments { .. }
        | View::Hosts { .. }
        | View::Health { .. }) => config_names(state, view, &screen.filter)
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect(),
        View::Tags { project } => tag_rows(state, project, &screen.filter)
            .into_iter()
            .map(|r| r.tag.tag)
            .collect(),
        view @ (View::Dockerfile { .. } | View::Build { .. } | View::Release { .. }) => {
            text_rows(state, view, &screen.filter)
        }
        View::HostDetail { .. } | View::Logs { .. } => Vec::new(),
        View::Rollout { project, env } => rollout_rows(state, project, env, &screen.filter),
        View::History { project, env } => history_rows(state, project, env, &screen.filter)
            .into_iter()
            .map(|r| r.release)
            .collect(),
    }
}
