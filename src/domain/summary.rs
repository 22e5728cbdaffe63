//! What a project looks like in one environment, summed over its hosts: the
//! one summary the console's rows and the headless `status` both print, so
//! that a summary never disagrees with the rows under it. Pure; no config
//! types (callers pass the environment's host names), no ratatui.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AppContainer, ContainerState, Fleet, Health, Reachability};

/// The one word an operator reads first about an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The project has no host in this environment.
    NoHosts,
    /// No host runs a container of the project.
    Empty,
    /// A host is unreachable, unhealthy, stopped or has no serving container.
    Degraded,
    /// Every host serves, and some health checks have not passed yet.
    Starting,
    /// Every host serves healthy, not all the same version.
    Mixed,
    Ok,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::NoHosts => "no hosts",
            Verdict::Empty => "empty",
            Verdict::Degraded => "degraded",
            Verdict::Starting => "starting",
            Verdict::Mixed => "mixed",
            Verdict::Ok => "ok",
        }
    }
}

/// A project in one environment, summed over its hosts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct EnvSummary {
    pub env: String,
    pub hosts: usize,
    /// Hosts whose serving container runs.
    pub running: usize,
    /// Running, and its health check passes.
    pub healthy: usize,
    pub unhealthy: usize,
    /// Running, health check not decided yet.
    pub starting: usize,
    /// Running without a health check (`no check`, never counted healthy).
    pub no_check: usize,
    pub unreachable: usize,
    /// Reachable hosts with no serving container of the project.
    pub missing: usize,
    /// Version → number of hosts running it, most common first.
    pub versions: Vec<(String, usize)>,
}

impl EnvSummary {
    pub fn verdict(&self) -> Verdict {
        if self.hosts == 0 {
            Verdict::NoHosts
        } else if self.missing == self.hosts {
            Verdict::Empty
        } else if self.unreachable > 0 || self.unhealthy > 0 || self.running < self.hosts {
            Verdict::Degraded
        } else if self.starting > 0 {
            Verdict::Starting
        } else if self.versions.len() > 1 {
            Verdict::Mixed
        } else {
            Verdict::Ok
        }
    }

    /// `healthy 2/3`, `running 2/2, no check`, `healthy 1/2, 1 no check`:
    /// hosts without a health check are never counted as healthy.
    pub fn health_text(&self) -> String {
        if self.no_check > 0 && self.no_check == self.running && self.healthy == 0 {
            return format!("running {}/{}, no check", self.running, self.hosts);
        }
        let mut s = format!("healthy {}/{}", self.healthy, self.hosts);
        if self.no_check > 0 {
            s.push_str(&format!(", {} no check", self.no_check));
        }
        s
    }

    /// `v2 ×3, v1 ×1`, or `-`.
    pub fn versions_text(&self) -> String {
        if self.versions.is_empty() {
            return "-".into();
        }
        self.versions
            .iter()
            .map(|(v, n)| format!("{v} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Summarise `project` in `env` over `hosts` (the environment's host names).
pub fn env_summary(fleet: &Fleet, project: &str, env: &str, hosts: &[String]) -> EnvSummary {
    let mut s = EnvSummary {
        env: env.to_string(),
        ..Default::default()
    };
    let mut versions: BTreeMap<String, usize> = BTreeMap::new();
    for host in hosts {
        s.hosts += 1;
        let Some(h) = fleet.hosts.get(host) else {
            s.unreachable += 1;
            continue;
        };
        if !h.reach.is_reachable() {
            s.unreachable += 1;
            continue;
        }
        let Some(c) = h.app_container(project, env) else {
            s.missing += 1;
            continue;
        };
        if c.state != ContainerState::Running {
            continue;
        }
        s.running += 1;
        *versions.entry(c.version.clone()).or_default() += 1;
        match c.health {
            Health::Healthy => s.healthy += 1,
            Health::Unhealthy => s.unhealthy += 1,
            Health::Starting => s.starting += 1,
            Health::None => s.no_check += 1,
        }
    }
    let mut v: Vec<(String, usize)> = versions.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    s.versions = v;
    s
}

/// What the fleet says about one host of an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serving {
    /// The engine answers and runs (or ran) this serving container.
    Container(Box<AppContainer>),
    /// The engine answers and has no serving container of the project
    /// (kept ones may exist: they are not the app).
    None,
    /// The engine does not answer: the last thing seen, if anything.
    Unknown {
        last_seen: Option<Box<AppContainer>>,
    },
}

/// A host row: the same facts for the console and `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSummary {
    pub host: String,
    pub endpoint: String,
    pub reach: Reachability,
    /// When the engine stopped answering (kept across retries).
    pub unreachable_since: Option<DateTime<Utc>>,
    pub serving: Serving,
    /// Kept (rollback target) containers of the project here.
    pub kept: usize,
}

impl HostSummary {
    /// The serving container, live or last seen.
    pub fn container(&self) -> Option<&AppContainer> {
        match &self.serving {
            Serving::Container(c) => Some(c),
            Serving::Unknown { last_seen } => last_seen.as_deref(),
            Serving::None => None,
        }
    }

    /// True when what is shown is only the last thing seen.
    pub fn stale(&self) -> bool {
        matches!(self.serving, Serving::Unknown { .. })
    }
}

/// One row per host of `hosts`, in that order.
pub fn host_summaries(
    fleet: &Fleet,
    project: &str,
    env: &str,
    hosts: &[String],
) -> Vec<HostSummary> {
    hosts
        .iter()
        .map(|name| match fleet.hosts.get(name) {
            Some(h) => {
                let c = h.app_container(project, env).cloned().map(Box::new);
                let serving = if h.reach.is_reachable() {
                    c.map_or(Serving::None, Serving::Container)
                } else {
                    Serving::Unknown { last_seen: c }
                };
                HostSummary {
                    host: name.clone(),
                    endpoint: h.endpoint.clone(),
                    reach: h.reach.clone(),
                    unreachable_since: h.unreachable_since,
                    serving,
                    kept: h.kept_containers(project, env),
                }
            }
            None => HostSummary {
                host: name.clone(),
                endpoint: String::new(),
                reach: Reachability::Connecting,
                unreachable_since: None,
                serving: Serving::Unknown { last_seen: None },
                kept: 0,
            },
        })
        .collect()
}

/// How a container's state reads in a table: health only while it runs, the
/// exit code once it stopped (a clean stop `exited 0` is not a kill
/// `exited 137`).
pub fn state_text(c: &AppContainer) -> String {
    match (c.state, c.exit_code) {
        (ContainerState::Exited | ContainerState::Dead, Some(code)) => {
            format!("{} {code}", c.state.word())
        }
        (s, _) => s.word().to_string(),
    }
}

/// The health column: only a running container has one.
pub fn health_text(c: &AppContainer) -> &'static str {
    match (c.state, c.health) {
        (ContainerState::Running, Health::None) => "no check",
        (ContainerState::Running, h) => h.word(),
        _ => "-",
    }
}

/// `45s`, `3m12s`, `2h05m`, `3d04h`.
pub fn duration_short(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}
