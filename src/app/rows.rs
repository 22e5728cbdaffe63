//! Rows of each view, derived from `State` (pure). Views draw them; `update()`
//! uses their count and names for selection and drill-down.

use std::collections::BTreeMap;

use super::state::{State, View};
use crate::domain::{AppContainer, ContainerState, Health, Reachability};

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
    }
}
