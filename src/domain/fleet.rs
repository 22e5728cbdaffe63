//! Live fleet state: hosts, their reachability and the shipdeck containers on them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Whether a host's Docker engine answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Reachability {
    /// Not tried yet, or a (re)connect is in flight.
    Connecting,
    /// The engine answered; `api_version` is the negotiated API version.
    Reachable { api_version: String },
    /// The last attempt failed; the watcher retries at `retry_at` (or when
    /// asked to reconnect now).
    Unreachable {
        error: String,
        retry_at: DateTime<Utc>,
    },
}

impl Reachability {
    pub fn is_reachable(&self) -> bool {
        matches!(self, Reachability::Reachable { .. })
    }
    /// One word for tables.
    pub fn word(&self) -> &'static str {
        match self {
            Reachability::Connecting => "connecting",
            Reachability::Reachable { .. } => "up",
            Reachability::Unreachable { .. } => "unreachable",
        }
    }
}

/// Docker's container state, reduced to what an operator acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    Running,
    Restarting,
    Paused,
    Created,
    Exited,
    Dead,
    Removing,
    Unknown,
}

impl ContainerState {
    pub fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "restarting" => Self::Restarting,
            "paused" => Self::Paused,
            "created" => Self::Created,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            "removing" => Self::Removing,
            _ => Self::Unknown,
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Paused => "paused",
            Self::Created => "created",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Removing => "removing",
            Self::Unknown => "unknown",
        }
    }
}

/// Docker HEALTHCHECK status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// The image has no health check.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn parse(s: &str) -> Self {
        match s {
            "starting" => Self::Starting,
            "healthy" => Self::Healthy,
            "unhealthy" => Self::Unhealthy,
            _ => Self::None,
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            Self::None => "-",
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// One container that carries shipdeck labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppContainer {
    pub id: String,
    pub name: String,
    pub project: String,
    pub env: String,
    /// From the version label; `?` when missing.
    pub version: String,
    pub release: Option<String>,
    pub digest: Option<String>,
    pub image: String,
    /// Serving, kept (a stopped earlier release) or retired (failed or rolled
    /// back), told by the container's name.
    pub role: super::Role,
    /// The restart policy the engine has for it now (`no`, `always`, …).
    pub restart_policy: String,
    /// The restart policy it was created with (label `shipdeck.restart`),
    /// put back when a kept container serves again.
    pub restart_original: Option<String>,
    pub deployed_by: Option<String>,
    pub deployed_at: Option<String>,
    pub state: ContainerState,
    pub health: Health,
    pub started_at: Option<DateTime<Utc>>,
    pub restarts: i64,
    pub exit_code: Option<i64>,
}

impl AppContainer {
    /// Seconds since it started, while it runs.
    pub fn uptime_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        match (self.state, self.started_at) {
            (ContainerState::Running, Some(t)) => Some((now - t).num_seconds().max(0)),
            _ => None,
        }
    }
}

/// One host as seen live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostState {
    pub name: String,
    pub endpoint: String,
    pub reach: Reachability,
    /// When the engine stopped answering; kept across retries, cleared on
    /// a connect. What `containers` holds meanwhile is the last thing seen.
    pub unreachable_since: Option<DateTime<Utc>>,
    /// shipdeck containers by id.
    pub containers: BTreeMap<String, AppContainer>,
}

impl HostState {
    pub fn new(name: &str, endpoint: &str) -> Self {
        Self {
            name: name.to_string(),
            endpoint: endpoint.to_string(),
            reach: Reachability::Connecting,
            unreachable_since: None,
            containers: BTreeMap::new(),
        }
    }

    /// The container that serves `project` in `env` on this host (running or
    /// not): never a kept or retired one, which are not the app. With no
    /// serving container the answer is `None`, whatever else is kept here.
    pub fn app_container(&self, project: &str, env: &str) -> Option<&AppContainer> {
        self.containers
            .values()
            .filter(|c| c.project == project && c.env == env)
            .filter(|c| c.role == super::Role::Serving)
            .max_by_key(|c| (c.state == ContainerState::Running, c.started_at))
    }

    /// Every container of `project` in `env` here, serving first, then the
    /// newest.
    pub fn containers_of(&self, project: &str, env: &str) -> Vec<&AppContainer> {
        let mut v: Vec<&AppContainer> = self
            .containers
            .values()
            .filter(|c| c.project == project && c.env == env)
            .collect();
        v.sort_by_key(|c| (c.role, std::cmp::Reverse(c.started_at)));
        v
    }

    /// Kept (stopped, earlier-release) containers of `project` in `env`.
    pub fn kept_containers(&self, project: &str, env: &str) -> usize {
        self.containers
            .values()
            .filter(|c| c.project == project && c.env == env && c.role == super::Role::Kept)
            .count()
    }
}

/// A change reported by a host watcher.
#[derive(Debug, Clone, PartialEq)]
pub enum FleetUpdate {
    /// A (re)connect attempt started.
    Connecting { host: String },
    /// Connected and listed: replaces everything known about the host.
    Connected {
        host: String,
        api_version: String,
        containers: Vec<AppContainer>,
    },
    /// The host stopped answering at `at`; the next attempt is at `retry_at`.
    Unreachable {
        host: String,
        error: String,
        at: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    },
    /// A container appeared or changed.
    Container {
        host: String,
        container: Box<AppContainer>,
    },
    /// A container is gone.
    Removed { host: String, id: String },
}

/// The whole fleet, keyed by host name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Fleet {
    pub hosts: BTreeMap<String, HostState>,
}

impl Fleet {
    /// Apply one watcher report. Returns whether anything changed.
    pub fn apply(&mut self, update: FleetUpdate) -> bool {
        match update {
            FleetUpdate::Connecting { host } => {
                let Some(h) = self.hosts.get_mut(&host) else {
                    return false;
                };
                // Keep showing Unreachable during retries; only a first connect shows Connecting.
                if matches!(h.reach, Reachability::Unreachable { .. }) {
                    return false;
                }
                let changed = h.reach != Reachability::Connecting;
                h.reach = Reachability::Connecting;
                changed
            }
            FleetUpdate::Connected {
                host,
                api_version,
                containers,
            } => {
                let Some(h) = self.hosts.get_mut(&host) else {
                    return false;
                };
                h.reach = Reachability::Reachable { api_version };
                h.unreachable_since = None;
                h.containers = containers.into_iter().map(|c| (c.id.clone(), c)).collect();
                true
            }
            FleetUpdate::Unreachable {
                host,
                error,
                at,
                retry_at,
            } => {
                let Some(h) = self.hosts.get_mut(&host) else {
                    return false;
                };
                // The containers stay: they are the last thing seen, shown
                // greyed, never blanked.
                h.unreachable_since.get_or_insert(at);
                let next = Reachability::Unreachable { error, retry_at };
                let changed = h.reach != next;
                h.reach = next;
                changed
            }
            FleetUpdate::Container { host, container } => {
                let Some(h) = self.hosts.get_mut(&host) else {
                    return false;
                };
                let container = *container;
                let old = h.containers.insert(container.id.clone(), container.clone());
                old.as_ref() != Some(&container)
            }
            FleetUpdate::Removed { host, id } => self
                .hosts
                .get_mut(&host)
                .map(|h| h.containers.remove(&id).is_some())
                .unwrap_or(false),
        }
    }
}
