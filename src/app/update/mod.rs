//! `update(&mut State, Action) -> Vec<Effect>`: the console's only state
//! transition. Synchronous and free of I/O, so it is tested without a
//! terminal. Keys and modes are in `keys`, navigation in `nav`, releases in
//! `release`, answers of background work here.

mod common;
mod keys;
mod logs;
mod nav;
mod release;
mod timeline;

use super::model::release::{RolloutPane, RolloutStatus};
use super::state::{BuildStatus, Flash, Loadable, State, View};
use super::{Action, Effect};
use crate::rollout::activity::Activity;

pub use common::clamp_selection;
pub use release::phase_word;

/// Apply one action. Returns the side effects the runner must carry out.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let effects = match action {
        Action::Key(key) => keys::on_key(state, key),
        Action::Command(c) => nav::on_command(state, c),
        Action::Confirmed => keys::confirmed(state),
        Action::Click { row } => nav::click(state, row),
        Action::Scroll(d) => nav::scroll(state, d),
        Action::Fleet(u) => {
            timeline::on_fleet(state, &u);
            note_host_event(state, &u);
            if state.fleet.apply(u) {
                clamp_selection(state);
                state.dirty = true;
            }
            Vec::new()
        }
        Action::Tick => on_tick(state),
        Action::Resize(w, h) => {
            state.width = w;
            state.height = h;
            let banner = state.banner_lines(w);
            state.page_rows = usize::from(h.saturating_sub(6 + banner)).max(1);
            state.dirty = true;
            Vec::new()
        }
        Action::Dockerfile { project, result } => {
            let v = match result {
                Ok(text) => Loadable::Ready(text),
                Err(e) => Loadable::Failed(e),
            };
            state.dockerfiles.insert(project, v);
            clamp_selection(state);
            state.dirty = true;
            Vec::new()
        }
        Action::Tags { project, result } => {
            let v = match result {
                Ok(tags) => Loadable::Ready(tags),
                Err(e) => Loadable::Failed(e),
            };
            state.tags.insert(project.clone(), v);
            release::refresh_picker(state, &project);
            clamp_selection(state);
            state.dirty = true;
            Vec::new()
        }
        Action::Build { project, event } => {
            on_build_event(state, &project, &event);
            Vec::new()
        }
        Action::BuildDone { project, result } => on_build_done(state, project, result),
        Action::Plan {
            project,
            env,
            result,
        } => release::on_plan(state, project, env, result),
        Action::Promotion {
            project,
            env,
            result,
        } => release::on_promotion(state, project, env, result),
        Action::Rollout {
            project,
            env,
            event,
        } => {
            timeline::on_rollout(state, &project, &env, &event);
            release::on_rollout_event(state, &project, &env, &event)
        }
        Action::RolloutDone {
            project,
            env,
            result,
        } => release::on_rollout_done(state, &project, &env, result),
        Action::Activity {
            project,
            env,
            activity,
            full,
        } => {
            let ticks = state.ticks;
            let r = state.env_releases_mut(&project, &env);
            r.polling = false;
            let activity = if full {
                r.full_due = false;
                r.full_at = ticks;
                activity
            } else {
                merge_lock_read(r, activity)
            };
            let changed = r.activity.as_ref() != Some(&activity);
            r.activity = Some(activity);
            state.dirty |= changed;
            Vec::new()
        }
        Action::History {
            project,
            env,
            result,
        } => {
            let r = state.env_releases_mut(&project, &env);
            r.loading_history = false;
            r.history = Some(result);
            release::refresh_picker(state, &project);
            clamp_selection(state);
            state.dirty = true;
            Vec::new()
        }
        Action::ReleaseEvents { release, result } => {
            let v = match result {
                Ok(lines) => Loadable::Ready(lines),
                Err(e) => Loadable::Failed(e),
            };
            state.release_events.insert(release, v);
            clamp_selection(state);
            state.dirty = true;
            Vec::new()
        }
        Action::Done { result } => {
            state.flash = Some(match result {
                Ok(text) => Flash { text, error: false },
                Err(text) => Flash { text, error: true },
            });
            state.dirty = true;
            Vec::new()
        }
        Action::Logs { generation, events } => {
            logs::on_events(state, generation, events);
            Vec::new()
        }
        Action::Stats { id, sample } => {
            if state.stats.watching.iter().any(|(_, w)| *w == id) {
                state.stats.push(&id, sample);
                state.dirty = true;
            }
            Vec::new()
        }
    };
    let mut effects = guard(state, effects);
    logs::reconcile(state, &mut effects);
    effects
}

/// Host events the host detail keeps (per host).
const HOST_EVENTS: usize = 20;

/// Remember what changed on a host, for its detail view: container state
/// and health changes, removals, the engine going away and coming back.
fn note_host_event(state: &mut State, u: &crate::domain::FleetUpdate) {
    use crate::domain::FleetUpdate as U;
    use crate::domain::summary::{health_text, state_text};
    let at = state.now.format("%H:%M:%S");
    let (host, text) = match u {
        U::Container { host, container } => {
            let before = state
                .fleet
                .hosts
                .get(host)
                .and_then(|h| h.containers.get(&container.id));
            let now = format!("{} {}", state_text(container), health_text(container));
            let was = before.map(|c| format!("{} {}", state_text(c), health_text(c)));
            if was.as_deref() == Some(now.as_str()) {
                return;
            }
            (
                host,
                match was {
                    Some(w) => {
                        format!("{at} {} {}: {w} → {now}", container.name, container.version)
                    }
                    None => format!("{at} {} {}: new, {now}", container.name, container.version),
                },
            )
        }
        U::Removed { host, id } => {
            let name = state
                .fleet
                .hosts
                .get(host)
                .and_then(|h| h.containers.get(id))
                .map(|c| c.name.clone())
                .unwrap_or_else(|| id.chars().take(12).collect());
            (host, format!("{at} {name}: removed"))
        }
        U::Unreachable { host, error, .. } => {
            if state
                .fleet
                .hosts
                .get(host)
                .is_some_and(|h| h.unreachable_since.is_some())
            {
                return;
            }
            (host, format!("{at} engine unreachable: {error}"))
        }
        U::Connected { host, .. } => (host, format!("{at} engine connected")),
        U::Connecting { .. } => return,
    };
    let q = state.host_events.entry(host.clone()).or_default();
    if q.len() >= HOST_EVENTS {
        q.pop_front();
    }
    q.push_back(text);
}

/// A poll of the lock alone, merged with what the last full read knew: an
/// unfinished release stays while nobody holds the lock, a running one keeps
/// its release. A lock that came or went asks for a full read next.
fn merge_lock_read(r: &mut super::model::release::EnvReleases, lock_only: Activity) -> Activity {
    let was_running = matches!(r.activity, Some(Activity::Running { .. }));
    let now_running = matches!(lock_only, Activity::Running { .. });
    if was_running != now_running {
        r.full_due = true;
    }
    match (lock_only, &r.activity) {
        (Activity::Idle, Some(prev @ Activity::Interrupted { .. })) => prev.clone(),
        (
            Activity::Running {
                phase,
                lock,
                release: None,
            },
            Some(Activity::Running {
                lock: old,
                release: Some(rel),
                ..
            }),
        ) if old.release == lock.release => Activity::Running {
            phase,
            lock,
            release: Some(rel.clone()),
        },
        (other, _) => other,
    }
}

/// The last net under the read-only promise: a mutating effect never leaves
/// a read-only console, whatever path produced it.
fn guard(state: &mut State, effects: Vec<Effect>) -> Vec<Effect> {
    if !state.readonly {
        // A read-only environment (`readonly = true`) takes no mutating
        // effect either, whichever view asked for it.
        let config = state.config.clone();
        let (kept, refused): (Vec<Effect>, Vec<Effect>) = effects.into_iter().partition(|e| {
            !e.mutates()
                || !e
                    .env()
                    .is_some_and(|env| crate::rollout::checks::env_readonly(&config, env))
        });
        if let Some(env) = refused.first().and_then(Effect::env) {
            state.flash = Some(Flash {
                text: format!(
                    "environment {env} is read-only (readonly = true in the inventory): nothing that changes it runs"
                ),
                error: true,
            });
        }
        return kept;
    }
    let (kept, refused): (Vec<Effect>, Vec<Effect>) =
        effects.into_iter().partition(|e| !e.mutates());
    if !refused.is_empty() {
        state.flash = Some(Flash {
            text: state.readonly_refusal("nothing that changes the fleet runs"),
            error: true,
        });
    }
    kept
}

/// How often (in ticks of 1 s) the fleet is asked what goes on in the
/// environments in view (a read of the lock and the ledger on every host):
/// every 2 s while a rollout runs, every 15 s otherwise. This console's own
/// rollouts are live from their events either way.
const POLL_BUSY: u64 = 2;
const POLL_IDLE: u64 = 15;
/// The lock alone is read in between; the releases (journal and ledger)
/// at most this often, or when a lock came or went.
const FULL_EVERY: u64 = 60;

fn on_tick(state: &mut State) -> Vec<Effect> {
    state.now = chrono::Utc::now();
    state.ticks += 1;
    // Uptimes, ages and countdowns move on: views that show them are drawn
    // again once a second; the others only when something changed.
    if matches!(
        state.screen().view,
        View::Hosts { .. }
            | View::HostDetail { .. }
            | View::Rollout { .. }
            | View::Tags { .. }
            | View::History { .. }
    ) {
        state.dirty = true;
    }
    let mut fx = Vec::new();
    for (project, env) in nav::envs_in_view(state) {
        let ticks = state.ticks;
        let r = state.env_releases_mut(&project, &env);
        if r.polling {
            continue;
        }
        let busy = r.running_here()
            || matches!(r.activity, Some(Activity::Running { .. }))
            || r.activity.is_none();
        let every = if busy { POLL_BUSY } else { POLL_IDLE };
        if r.activity.is_none() || ticks.is_multiple_of(every) {
            r.polling = true;
            let full =
                r.activity.is_none() || r.full_due || ticks.saturating_sub(r.full_at) >= FULL_EVERY;
            fx.push(Effect::PollActivity { project, env, full });
        }
    }
    fx
}

/// A console build's event: its lines go to the pane; a view at the bottom
/// of the output follows it.
fn on_build_event(state: &mut State, project: &str, event: &crate::image::BuildEvent) {
    let watching = matches!(&state.screen().view, View::Build { project: p } if p == project);
    let following = watching && {
        let n = super::rows::row_count(state);
        n == 0 || state.screen().selected + 1 >= n
    };
    let pane = state.builds.entry(project.to_string()).or_default();
    if let crate::image::BuildEvent::Started { version, log, .. } = event {
        pane.version = Some(version.clone());
        pane.log = Some(log.clone());
    }
    let mut dropped = 0;
    for line in event.human().lines() {
        if pane.push(line.to_string()) {
            dropped += 1;
        }
    }
    if following {
        let n = super::rows::row_count(state);
        state.screen_mut().selected = n.saturating_sub(1);
    } else if watching && state.screen().filter.is_empty() {
        // Scrolled up: stay on the same line while old ones fall off the top.
        let s = state.screen_mut();
        s.selected = s.selected.saturating_sub(dropped);
    }
    state.dirty = true;
}

fn on_build_done(
    state: &mut State,
    project: String,
    result: Result<Option<String>, String>,
) -> Vec<Effect> {
    let pane = state.builds.entry(project.clone()).or_default();
    state.dirty = true;
    match result {
        Ok(digest) => {
            let version = pane.version.clone().unwrap_or_default();
            let text = match &digest {
                Some(d) => format!("build of {project} {version} pushed: {d}"),
                None => format!("build of {project} succeeded"),
            };
            pane.status = BuildStatus::Succeeded {
                digest: digest.clone(),
            };
            let ship = pane.deploy_to.take();
            state.flash = Some(Flash { text, error: false });
            // Ship: the deploy was confirmed with the build; it goes now.
            if let Some(env) = ship {
                if digest.is_none() {
                    common::flash_error(
                        state,
                        format!("{project} {version} was not pushed: nothing to deploy"),
                    );
                    return Vec::new();
                }
                return release::start_release(
                    state,
                    &project,
                    &env,
                    crate::rollout::executor::Kind::Deploy {
                        version,
                        digest: None,
                        promoted_from: None,
                    },
                    "shipped from the console".into(),
                );
            }
            Vec::new()
        }
        Err(e) => {
            pane.status = BuildStatus::Failed(e.clone());
            pane.deploy_to = None;
            common::flash_error(state, e);
            Vec::new()
        }
    }
}

/// A rollout pane for a release about to start.
pub(crate) fn new_pane(
    state: &State,
    project: &str,
    kind: &crate::rollout::executor::Kind,
) -> RolloutPane {
    use crate::rollout::executor::Kind;
    use crate::rollout::journal::Action as A;
    let (action, version) = match kind {
        Kind::Deploy {
            version,
            promoted_from,
            ..
        } => (
            if promoted_from.is_some() {
                A::Promote
            } else {
                A::Deploy
            },
            version.clone(),
        ),
        Kind::Rollback { to, .. } => (A::Rollback, to.clone().unwrap_or_default()),
        Kind::Resume => (A::Deploy, String::new()),
    };
    let gate = state
        .config
        .project(project)
        .map(|p| crate::health::deadline_for(&p.health).as_secs_f64())
        .unwrap_or(0.0);
    let mut pane = RolloutPane::new(action, version, state.now, gate);
    pane.status = RolloutStatus::Preparing;
    pane
}
