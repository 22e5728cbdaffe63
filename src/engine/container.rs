//! One container's state and events as the health gate needs them, in
//! bollard-free types: running / restarting / exit code / restart count, when
//! it (last) started on the engine's clock, Docker's HEALTHCHECK status and
//! last log entry, and its `docker events` (die, health_status) as an enum.
//! Callers (the health gate) get these types and `EngineError`, not bollard's.
//! Must not import ratatui, app/ui or health.

use std::collections::HashMap;

use bollard::models::{ContainerInspectResponse, EventMessage, HealthStatusEnum};
use bollard::query_parameters::{EventsOptions, InspectContainerOptions};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};

use super::connect::{EngineError, timed};
use super::ops::Engine;

/// Docker's HEALTHCHECK status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockerHealth {
    /// No HEALTHCHECK, or the engine reports none.
    None,
    /// Checks run, none has decided yet.
    Starting,
    Healthy,
    Unhealthy,
}

/// The newest entry of Docker's health log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthLogEntry {
    /// The check command's exit code (`None` when the engine gave none).
    pub exit_code: Option<i64>,
    /// What the check printed (may be empty).
    pub output: String,
}

/// What `docker inspect` says about a container's life, for health gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    /// The engine's full container id.
    pub id: String,
    /// The process runs. Docker also reports `true` while `restarting`.
    pub running: bool,
    /// The restart policy is between two runs (the last one exited).
    pub restarting: bool,
    /// The last run's exit code (`None` when the engine gave none).
    pub exit_code: Option<i64>,
    /// How often the restart policy restarted it since it was last started
    /// by hand (the engine resets it on `docker start`).
    pub restart_count: i64,
    /// When it last started, on the engine's clock, to the nanosecond;
    /// `None` when it never started.
    pub started_at: Option<DateTime<Utc>>,
    /// Docker's HEALTHCHECK status.
    pub health: DockerHealth,
    /// It has a real HEALTHCHECK (not none, not `NONE`).
    pub has_healthcheck: bool,
    /// The newest health log entry, if any.
    pub last_health: Option<HealthLogEntry>,
}

impl ContainerStatus {
    /// `started_at` in nanoseconds since the Unix epoch (engine clock).
    pub fn started_at_nanos(&self) -> Option<i64> {
        self.started_at.and_then(|t| t.timestamp_nanos_opt())
    }

    /// Not running, between two runs, or restarted since `restarts_before`
    /// (the restart count seen earlier): the container died at least once.
    pub fn has_died_since(&self, restarts_before: i64) -> bool {
        !self.running || self.restarting || self.restart_count > restarts_before
    }

    fn from_inspect(c: &ContainerInspectResponse) -> Self {
        let state = c.state.as_ref();
        let health = state.and_then(|s| s.health.as_ref());
        let started_at = state
            .and_then(|s| s.started_at.as_deref())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            // "0001-01-01T00:00:00Z": never started.
            .filter(|t| t.timestamp() > 0);
        let has_healthcheck = c
            .config
            .as_ref()
            .and_then(|c| c.healthcheck.as_ref())
            .and_then(|h| h.test.as_ref())
            .and_then(|t| t.first())
            .is_some_and(|first| first != "NONE");
        ContainerStatus {
            id: c.id.clone().unwrap_or_default(),
            running: state.and_then(|s| s.running).unwrap_or(false),
            restarting: state.and_then(|s| s.restarting).unwrap_or(false),
            exit_code: state.and_then(|s| s.exit_code),
            restart_count: c.restart_count.unwrap_or(0),
            started_at,
            health: match health.and_then(|h| h.status) {
                Some(HealthStatusEnum::STARTING) => DockerHealth::Starting,
                Some(HealthStatusEnum::HEALTHY) => DockerHealth::Healthy,
                Some(HealthStatusEnum::UNHEALTHY) => DockerHealth::Unhealthy,
                _ => DockerHealth::None,
            },
            has_healthcheck,
            last_health: health
                .and_then(|h| h.log.as_ref())
                .and_then(|l| l.last())
                .map(|r| HealthLogEntry {
                    exit_code: r.exit_code,
                    output: r.output.clone().unwrap_or_default(),
                }),
        }
    }
}

/// One of a container's `docker events`, with the engine's time of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerEvent {
    /// The process exited (`exit_code` as the engine reported it).
    Died {
        exit_code: Option<i64>,
        at_nanos: i64,
    },
    /// Docker's HEALTHCHECK turned healthy.
    Healthy { at_nanos: i64 },
    /// Docker's HEALTHCHECK turned unhealthy.
    Unhealthy { at_nanos: i64 },
    /// Anything else (`start`, `kill`, `restart`, `destroy`, …): the action.
    Other { action: String, at_nanos: i64 },
}

impl ContainerEvent {
    /// When it happened, in nanoseconds since the Unix epoch (engine clock).
    pub fn at_nanos(&self) -> i64 {
        match self {
            ContainerEvent::Died { at_nanos, .. }
            | ContainerEvent::Healthy { at_nanos }
            | ContainerEvent::Unhealthy { at_nanos }
            | ContainerEvent::Other { at_nanos, .. } => *at_nanos,
        }
    }

    fn from_message(msg: EventMessage) -> Self {
        let at_nanos = msg
            .time_nano
            .or_else(|| msg.time.map(|s| s.saturating_mul(1_000_000_000)))
            .unwrap_or(0);
        let action = msg.action.unwrap_or_default();
        let attr = |k: &str| {
            msg.actor
                .as_ref()
                .and_then(|a| a.attributes.as_ref())
                .and_then(|a| a.get(k).cloned())
        };
        // Engines before 1.44 send "health_status: healthy"; so do newer
        // ones, some with the status in the `healthStatus` attribute too.
        let health = action
            .strip_prefix("health_status")
            .map(|rest| rest.trim_start_matches(':').trim().to_string())
            .map(|s| {
                if s.is_empty() {
                    attr("healthStatus").unwrap_or_default()
                } else {
                    s
                }
            });
        match (action.as_str(), health.as_deref()) {
            ("die", _) => ContainerEvent::Died {
                exit_code: attr("exitCode").and_then(|c| c.parse().ok()),
                at_nanos,
            },
            (_, Some("healthy")) => ContainerEvent::Healthy { at_nanos },
            (_, Some("unhealthy")) => ContainerEvent::Unhealthy { at_nanos },
            _ => ContainerEvent::Other { action, at_nanos },
        }
    }
}

/// `since` as the engine's events API takes it: seconds.nanoseconds.
fn since_param(since: Option<DateTime<Utc>>) -> String {
    match since {
        Some(t) => format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos()),
        // Unknown start: a little before now (on this machine's clock).
        None => (Utc::now().timestamp() - 2).to_string(),
    }
}

impl Engine {
    /// The container's status; `Ok(None)` when the engine says 404 (gone).
    pub async fn container_status(&self, id: &str) -> Result<Option<ContainerStatus>, EngineError> {
        match timed(
            &self.endpoint,
            "inspect container",
            self.timeout,
            self.docker
                .inspect_container(id, None::<InspectContainerOptions>),
        )
        .await
        {
            Ok(c) => Ok(Some(ContainerStatus::from_inspect(&c))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Follow container `id`'s events from `since` (engine clock; `None`: a
    /// little before now). Events older than `since` are dropped, so the death
    /// of an earlier run is not taken for this one's. The stream ends when the
    /// engine closes it and yields an error when the transport fails; it has
    /// no timeout of its own (it is meant to stay open).
    pub fn container_events(
        &self,
        id: &str,
        since: Option<DateTime<Utc>>,
    ) -> impl Stream<Item = Result<ContainerEvent, EngineError>> + Send + Unpin + use<> {
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("container".to_string(), vec![id.to_string()]),
        ]);
        let floor = since
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(i64::MIN);
        let endpoint = self.endpoint.clone();
        self.docker
            .events(Some(EventsOptions {
                since: Some(since_param(since)),
                filters: Some(filters),
                ..Default::default()
            }))
            .filter_map(move |item| {
                let out = match item {
                    Ok(msg) => {
                        let ev = ContainerEvent::from_message(msg);
                        (ev.at_nanos() >= floor).then_some(Ok(ev))
                    }
                    Err(e) => Some(Err(EngineError::from_bollard(
                        &endpoint,
                        "follow container events",
                        &e,
                    ))),
                };
                futures::future::ready(out)
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn event(action: &str, attrs: &[(&str, &str)], nanos: i64) -> ContainerEvent {
        let json = serde_json::json!({
            "Type": "container",
            "Action": action,
            "Actor": {
                "ID": "abc",
                "Attributes": attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>(),
            },
            "time": nanos / 1_000_000_000,
            "timeNano": nanos,
        });
        ContainerEvent::from_message(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn events_become_the_enum() {
        assert_eq!(
            event("die", &[("exitCode", "137")], 5),
            ContainerEvent::Died {
                exit_code: Some(137),
                at_nanos: 5
            }
        );
        assert_eq!(
            event("die", &[], 5),
            ContainerEvent::Died {
                exit_code: None,
                at_nanos: 5
            }
        );
        assert_eq!(
            event("health_status: healthy", &[], 6),
            ContainerEvent::Healthy { at_nanos: 6 }
        );
        assert_eq!(
            event("health_status", &[("healthStatus", "unhealthy")], 7),
            ContainerEvent::Unhealthy { at_nanos: 7 }
        );
        assert_eq!(
            event("start", &[], 8),
            ContainerEvent::Other {
                action: "start".into(),
                at_nanos: 8
            }
        );
    }

    #[test]
    fn inspect_becomes_a_status() {
        let json = serde_json::json!({
            "Id": "abc",
            "RestartCount": 2,
            "State": {
                "Status": "restarting",
                "Running": true,
                "Restarting": true,
                "ExitCode": 1,
                "StartedAt": "2026-03-04T05:06:07.123456789Z",
                "Health": {"Status": "unhealthy", "Log": [
                    {"ExitCode": 0, "Output": "fine"},
                    {"ExitCode": 1, "Output": "404 Not Found"}
                ]}
            },
            "Config": {"Healthcheck": {"Test": ["CMD-SHELL", "wget -q localhost"]}}
        });
        let s = ContainerStatus::from_inspect(&serde_json::from_value(json).unwrap());
        assert!(s.running && s.restarting);
        assert_eq!(s.exit_code, Some(1));
        assert_eq!(s.restart_count, 2);
        assert_eq!(s.health, DockerHealth::Unhealthy);
        assert!(s.has_healthcheck);
        assert_eq!(s.started_at_nanos().unwrap() % 1_000_000_000, 123_456_789);
        assert_eq!(
            s.last_health,
            Some(HealthLogEntry {
                exit_code: Some(1),
                output: "404 Not Found".into()
            })
        );
        assert!(s.has_died_since(2), "restarting means it died");

        let none = serde_json::json!({
            "Id": "abc",
            "State": {"Running": true, "StartedAt": "0001-01-01T00:00:00Z"},
            "Config": {"Healthcheck": {"Test": ["NONE"]}}
        });
        let s = ContainerStatus::from_inspect(&serde_json::from_value(none).unwrap());
        assert!(!s.has_healthcheck);
        assert_eq!(s.started_at, None);
        assert_eq!(s.health, DockerHealth::None);
        assert!(!s.has_died_since(0));
        assert!(
            ContainerStatus {
                restart_count: 1,
                ..s
            }
            .has_died_since(0)
        );
    }

    #[test]
    fn since_keeps_nanoseconds() {
        let t = DateTime::parse_from_rfc3339("2026-03-04T05:06:07.000000042Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(since_param(Some(t)), format!("{}.000000042", t.timestamp()));
    }
}
