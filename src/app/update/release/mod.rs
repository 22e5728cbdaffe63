//! Release and container commands: deploy (tag picker → plan preview →
//! confirmation), promote, one-key rollback, pause / resume / abort, retry
//! of the failed hosts, resume of an unfinished release, lock break, build
//! and ship, container actions. Every destructive effect goes through the
//! confirm mode; what needs a typed confirmation comes from
//! `rollout::checks`, the same policy the headless CLI applies.

mod build;
mod containers;
mod control;
mod deploy;
mod events;
mod promote;
mod quit;
mod rollback;

use std::collections::BTreeSet;

use crate::app::model::dialog::{Confirm, PickItem, PickPurpose, Picker};
use crate::app::state::{BuildPane, BuildStatus, Flash, Loadable, Mode, State, View};
use crate::app::update::common::{self as nav, flash_error, target_env, target_project};
use crate::app::{Command, ContainerVerb, Effect};
use crate::domain::Role;
use crate::domain::summary::duration_short;
use crate::rollout::checks::{Confirmation, rollback_choice};
use crate::rollout::events::{HostPhase, RolloutEvent, short_digest};
use crate::rollout::executor::Kind;
use crate::rollout::journal::ReleaseSummary;
use crate::rollout::lock::Control;
use crate::rollout::plan::Plan;
use crate::rollout::promote::Promotable;

pub use build::*;
use containers::*;
pub use control::*;
pub use deploy::*;
pub use events::*;
pub use promote::*;
pub use quit::*;
pub use rollback::*;

pub fn on_command(state: &mut State, command: Command) -> Vec<Effect> {
    match command {
        Command::Build => match target_project(state) {
            Some(p) => ask_build(state, p, None),
            None => Vec::new(),
        },
        Command::Ship => match target_env(state) {
            Some((p, e)) => ask_build(state, p, Some(e)),
            None => Vec::new(),
        },
        Command::Deploy => match target_env(state) {
            Some((p, e)) => pick_deploy(state, p, e),
            None => Vec::new(),
        },
        Command::Rollback => match target_env(state) {
            Some((p, e)) => pick_rollback(state, p, e),
            None => Vec::new(),
        },
        Command::Promote => match target_env(state) {
            Some((p, e)) => promote(state, p, e),
            None => Vec::new(),
        },
        Command::Rollout => match target_env(state) {
            Some((project, env)) => {
                nav::open(state, View::Rollout { project, env });
                Vec::new()
            }
            None => Vec::new(),
        },
        Command::History => match target_env(state) {
            Some((project, env)) => {
                nav::open(
                    state,
                    View::History {
                        project: project.clone(),
                        env: env.clone(),
                    },
                );
                load_history(state, &project, &env)
            }
            None => Vec::new(),
        },
        Command::PauseResume => {
            let Some((p, e)) = target_env(state) else {
                return Vec::new();
            };
            let paused = state.env_releases(&p, &e).is_some_and(|r| {
                r.rollout.as_ref().is_some_and(|x| {
                    x.running() && x.status == crate::app::model::release::RolloutStatus::Paused
                }) || r
                    .other_rollout()
                    .is_some_and(|l| matches!(l.phase_word(), "paused" | "pausing"))
            });
            control(state, !paused)
        }
        Command::Abort => abort(state),
        Command::Retry => retry(state),
        Command::Resume => resume(state),
        Command::BreakLock => break_lock(state),
        Command::Restart => container_action(state, ContainerVerb::Restart),
        Command::Stop => container_action(state, ContainerVerb::Stop),
        Command::Start => container_action(state, ContainerVerb::Start),
        Command::Shell => shell(state),
        Command::RemoveProject => remove_project(state),
        _ => Vec::new(),
    }
}

pub(super) fn load_history(state: &mut State, project: &str, env: &str) -> Vec<Effect> {
    let r = state.env_releases_mut(project, env);
    if r.loading_history {
        return Vec::new();
    }
    r.loading_history = true;
    vec![Effect::LoadHistory {
        project: project.to_string(),
        env: env.to_string(),
    }]
}

/// A busy environment takes no new release from this console.
pub(super) fn busy(state: &mut State, project: &str, env: &str) -> bool {
    let Some(r) = state.env_releases(project, env) else {
        return false;
    };
    let msg = if r.running_here() {
        Some(format!(
            "a rollout of {project}/{env} from this console is running: o shows it, space pauses, A aborts"
        ))
    } else {
        r.other_rollout().map(|l| {
            format!(
                "{project}/{env} is locked by {} (release {}, {}): wait, or X breaks the lock",
                l.owner,
                l.release,
                l.phase_word()
            )
        })
    };
    match msg {
        Some(m) => {
            flash_error(state, m);
            true
        }
        None => false,
    }
}
