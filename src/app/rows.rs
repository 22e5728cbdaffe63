//! Rows of each view, derived from `State` (pure). Views draw them; `update()`
//! uses their count and names for selection and drill-down.

use std::collections::BTreeMap;

use super::state::{Loadable, State, View};
use crate::domain::{AppContainer, ContainerState, Health, Reachability};
use crate::registry::TagInfo;

/// Health of one project in one environment, summed over its hosts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvSummary {
    pub env: String,
    pub hosts: usize,
    pub running: usize,
    pub healthy: usize,
    pub unhealthy: usize,
    pub unreachable: usize,
    /// Hosts with no container of the project.
    pub missing: usize,
    /// Version → number of hosts running it, most common first.
    pub versions: Vec<(String, usize)>,
}

impl EnvSummary {
    /// One word an operator reads first.
    pub fn verdict(&self) -> &'static str {
        if self.hosts == 0 {
            "no hosts"
        } else if self.missing == self.hosts {
            "empty"
        } else if self.unreachable > 0 || self.unhealthy > 0 || self.running < self.hosts {
            "degraded"
        } else if self.healthy < self.running {
            "starting"
        } else if self.versions.len() > 1 {
            "mixed"
        } else {
            "ok"
        }
    }
}

/// A row of the projects view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    pub name: String,
    pub image: String,
    pub envs: Vec<EnvSummary>,
}

/// A row of the hosts view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub host: String,
    pub endpoint: String,
    pub reach: Reachability,
    pub container: Option<AppContainer>,
    pub kept: usize,
}

fn matches(filter: &str, name: &str) -> bool {
    filter.is_empty() || name.to_lowercase().contains(&filter.to_lowercase())
}

/// Summarise `project` in `env` over the fleet.
pub fn env_summary(state: &State, project: &str, env: &str) -> EnvSummary {
    let mut s = EnvSummary {
        env: env.to_string(),
        ..Default::default()
    };
    let Some(p) = state.config.project(project) else {
        return s;
    };
    let mut versions: BTreeMap<String, usize> = BTreeMap::new();
    for host in p.hosts_in(env) {
        s.hosts += 1;
        let Some(h) = state.fleet.hosts.get(host) else {
            s.unreachable += 1;
            continue;
        };
        if !h.reach.is_reachable() {
            s.unreachable += 1;
            continue;
        }
        match h.app_container(project, env) {
            None => s.missing += 1,
            Some(c) => {
                if c.state == ContainerState::Running {
                    s.running += 1;
                    *versions.entry(c.version.clone()).or_default() += 1;
                }
                match c.health {
                    Health::Healthy => s.healthy += 1,
                    Health::Unhealthy => s.unhealthy += 1,
                    Health::None if c.state == ContainerState::Running => s.healthy += 1,
                    _ => {}
                }
            }
        }
    }
    let mut v: Vec<(String, usize)> = versions.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    s.versions = v;
    s
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

/// Rows of the hosts view.
pub fn host_rows(state: &State, project: &str, env: &str, filter: &str) -> Vec<HostRow> {
    let Some(p) = state.config.project(project) else {
        return Vec::new();
    };
    p.hosts_in(env)
        .iter()
        .filter(|h| matches(filter, h))
        .map(|name| match state.fleet.hosts.get(name) {
            Some(h) => HostRow {
                host: name.clone(),
                endpoint: h.endpoint.clone(),
                reach: h.reach.clone(),
                container: h.app_container(project, env).cloned(),
                kept: h.kept_containers(project, env),
            },
            None => HostRow {
                host: name.clone(),
                endpoint: String::new(),
                reach: Reachability::Connecting,
                container: None,
                kept: 0,
            },
        })
        .collect()
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
        View::Build { project } => state
            .builds
            .get(project)
            .map(|b| b.lines.iter().cloned().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    lines.into_iter().filter(|l| matches(filter, l)).collect()
}

/// How many rows the current view has (text views counted without copying).
pub fn row_count(state: &State) -> usize {
    let screen = state.screen();
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
        View::Projects => project_rows(state, &screen.filter)
            .into_iter()
            .map(|r| r.name)
            .collect(),
        View::Environments { project } => env_rows(state, project, &screen.filter)
            .into_iter()
            .map(|r| r.env)
            .collect(),
        View::Hosts { project, env } => host_rows(state, project, env, &screen.filter)
            .into_iter()
            .map(|r| r.host)
            .collect(),
        View::Tags { project } => tag_rows(state, project, &screen.filter)
            .into_iter()
            .map(|r| r.tag.tag)
            .collect(),
        view @ (View::Dockerfile { .. } | View::Build { .. }) => {
            text_rows(state, view, &screen.filter)
        }
    }
}
