//! The health timeline's data: per host, the health of each project's
//! serving container as it changed (from the watchers' events), the
//! engine going away and coming back, the last probe output a rollout saw,
//! and rollout marks (release started, host replaced, rolled back) per
//! environment, on one time axis. Bounded per host and per environment.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::domain::{AppContainer, ContainerState, Health};

/// Points kept per host, marks per environment.
pub const KEEP: usize = 240;

/// How a host's container stands at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Healthy,
    /// Running without a health check.
    Running,
    Starting,
    Unhealthy,
    /// Stopped, removed, or the engine did not answer.
    Down,
}

impl Level {
    pub fn of(c: &AppContainer) -> Level {
        if c.state != ContainerState::Running {
            return Level::Down;
        }
        match c.health {
            Health::Healthy => Level::Healthy,
            Health::Starting => Level::Starting,
            Health::Unhealthy => Level::Unhealthy,
            Health::None => Level::Running,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Level::Healthy => "healthy",
            Level::Running => "running",
            Level::Starting => "starting",
            Level::Unhealthy => "UNHEALTHY",
            Level::Down => "down",
        }
    }
}

/// A change of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub at: DateTime<Utc>,
    /// The container's project and environment; `None` for the engine
    /// (reachable or not), which concerns every project on the host.
    pub scope: Option<(String, String)>,
    pub level: Level,
    /// What happened, as the list under the chart says it.
    pub text: String,
}

/// A rollout's moment in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub at: DateTime<Utc>,
    pub host: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub points: BTreeMap<String, VecDeque<Point>>,
    pub marks: BTreeMap<(String, String), VecDeque<Mark>>,
    /// The last probe output of each host (a rollout's health gate).
    pub probes: BTreeMap<String, (DateTime<Utc>, String)>,
}

fn bounded<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() >= KEEP {
        q.pop_front();
    }
    q.push_back(v);
}

impl Timeline {
    pub fn point(&mut self, host: &str, p: Point) {
        bounded(self.points.entry(host.to_string()).or_default(), p);
    }

    pub fn mark(&mut self, project: &str, env: &str, m: Mark) {
        bounded(
            self.marks
                .entry((project.to_string(), env.to_string()))
                .or_default(),
            m,
        );
    }

    /// The points of `host` that concern `project` in `env`.
    pub fn points_of<'a>(
        &'a self,
        host: &str,
        project: &'a str,
        env: &'a str,
    ) -> impl Iterator<Item = &'a Point> + 'a {
        self.points
            .get(host)
            .into_iter()
            .flatten()
            .filter(move |p| {
                p.scope
                    .as_ref()
                    .is_none_or(|(pp, ee)| pp == project && ee == env)
            })
    }

    /// How `host` stood for `project`/`env` at `t` (the last point at or
    /// before it), if anything was seen by then.
    pub fn level_at(
        &self,
        host: &str,
        project: &str,
        env: &str,
        t: DateTime<Utc>,
    ) -> Option<Level> {
        self.points_of(host, project, env)
            .take_while(|p| p.at <= t)
            .last()
            .map(|p| p.level)
    }

    pub fn marks_of(&self, project: &str, env: &str) -> impl Iterator<Item = &Mark> {
        self.marks
            .get(&(project.to_string(), env.to_string()))
            .into_iter()
            .flatten()
    }
}
