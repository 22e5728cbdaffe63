//! The health timeline's points and marks, from the watchers' updates and
//! the rollout events as `update()` sees them.

use super::super::state::State;
use super::super::timeline::{Level, Mark, Point};
use crate::domain::{AppContainer, FleetUpdate, Role};
use crate::rollout::events::{HostPhase, RolloutEvent};

/// A serving container as seen now: a point when its level changed.
fn container_point(state: &mut State, host: &str, c: &AppContainer, text: Option<&str>) {
    if c.role != Role::Serving {
        return;
    }
    let at = state.now;
    let level = Level::of(c);
    if state.timeline.level_at(host, &c.project, &c.env, at) == Some(level) {
        return;
    }
    state.timeline.point(
        host,
        Point {
            at,
            scope: Some((c.project.clone(), c.env.clone())),
            level,
            text: text.map_or_else(|| format!("{} {}", level.word(), c.version), str::to_string),
        },
    );
}

/// A host's container changed, or its engine went away.
pub fn on_fleet(state: &mut State, u: &FleetUpdate) {
    let at = state.now;
    match u {
        FleetUpdate::Container { host, container } => container_point(state, host, container, None),
        FleetUpdate::Connected {
            host, containers, ..
        } => {
            for c in containers {
                container_point(state, host, c, None);
            }
        }
        FleetUpdate::Removed { host, id } => {
            let gone = state
                .fleet
                .hosts
                .get(host)
                .and_then(|h| h.containers.get(id))
                .cloned();
            if let Some(mut c) = gone {
                c.state = crate::domain::ContainerState::Exited;
                let text = format!("down: {} {} removed", c.name, c.version);
                container_point(state, host, &c, Some(&text));
            }
        }
        FleetUpdate::Unreachable { host, error, .. } => {
            let already = state
                .fleet
                .hosts
                .get(host)
                .is_some_and(|h| h.unreachable_since.is_some());
            if !already {
                state.timeline.point(
                    host,
                    Point {
                        at,
                        scope: None,
                        level: Level::Down,
                        text: format!("engine unreachable: {error}"),
                    },
                );
            }
        }
        FleetUpdate::Connecting { .. } => {}
    }
}

/// A rollout's moments become marks; probe outputs are kept per host.
pub fn on_rollout(state: &mut State, project: &str, env: &str, ev: &RolloutEvent) {
    let at = state.now;
    let (host, text) = match ev {
        RolloutEvent::Planned {
            release,
            action,
            plan,
        } => (
            None,
            format!(
                "release {release} started: {} {} on {} host(s)",
                action.word(),
                plan.version,
                plan.hosts.len()
            ),
        ),
        RolloutEvent::Host {
            host,
            phase,
            detail,
            ..
        } => {
            if let Some(d) = detail
                && matches!(phase, HostPhase::WaitingHealth | HostPhase::Failed)
            {
                state.timeline.probes.insert(host.clone(), (at, d.clone()));
            }
            let what = match phase {
                HostPhase::Healthy => "replaced: healthy on the new version".to_string(),
                HostPhase::Failed => format!(
                    "FAILED{}",
                    detail
                        .as_deref()
                        .and_then(|d| d.lines().next())
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
                HostPhase::Restored => "restored to the version before".into(),
                HostPhase::RestoreFailed => "RESTORE FAILED: needs an operator".into(),
                HostPhase::RolledBack => "rolled back".into(),
                _ => return,
            };
            (Some(host.clone()), format!("{host} {what}"))
        }
        RolloutEvent::RollingBack { reason, .. } => (None, format!("rolling back: {reason}")),
        RolloutEvent::Finished { outcome, .. } => {
            (None, format!("release finished: {}", outcome.word()))
        }
        _ => return,
    };
    state.timeline.mark(project, env, Mark { at, host, text });
}
