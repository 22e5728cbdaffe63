//! Steering a running rollout: pause / resume, abort, retry of the failed hosts, resume of an unfinished release, lock break.

use super::*;

/// Pause (or resume) the environment's running rollout, whoever runs it.
pub fn control(state: &mut State, pause: bool) -> Vec<Effect> {
    if let Some(why) = state.refusal(Command::PauseResume) {
        flash_error(state, why);
        return Vec::new();
    }
    let Some((project, env)) = target_env(state) else {
        return Vec::new();
    };
    let running = state
        .env_releases(&project, &env)
        .is_some_and(|r| r.running_here() || r.other_rollout().is_some());
    if !running {
        flash_error(state, format!("no rollout of {project}/{env} is running"));
        return Vec::new();
    }
    state.flash = Some(Flash {
        text: format!(
            "{} {project}/{env}: written into its lock, waiting for the rollout to answer…",
            if pause { "pausing" } else { "resuming" }
        ),
        error: false,
    });
    vec![Effect::Control {
        project,
        env,
        control: if pause { Control::Pause } else { Control::Run },
    }]
}

pub(super) fn abort(state: &mut State) -> Vec<Effect> {
    let Some((project, env)) = target_env(state) else {
        return Vec::new();
    };
    let (ours, other) = match state.env_releases(&project, &env) {
        Some(r) => (r.running_here(), r.other_rollout().map(|l| l.owner.clone())),
        None => (false, None),
    };
    if !ours && other.is_none() {
        flash_error(state, format!("no rollout of {project}/{env} is running"));
        return Vec::new();
    }
    let who = other.map_or("this console's".to_string(), |o| format!("{o}'s"));
    let lines = vec![
        format!("aborts {who} rollout of {project}/{env}"),
        "hosts in flight are restored; completed hosts roll back per failure_action".into(),
    ];
    let effect = Effect::Control {
        project: project.clone(),
        env: env.clone(),
        control: Control::Abort,
    };
    confirm(
        state,
        format!("abort the rollout of {project}/{env}?"),
        lines,
        effect,
        &env,
        None,
    );
    Vec::new()
}

pub(super) fn retry(state: &mut State) -> Vec<Effect> {
    let Some((project, env)) = target_env(state) else {
        return Vec::new();
    };
    let Some(pane) = state
        .env_releases(&project, &env)
        .and_then(|r| r.rollout.clone())
    else {
        flash_error(
            state,
            format!("no rollout of {project}/{env} from this console to retry"),
        );
        return Vec::new();
    };
    if pane.running() {
        flash_error(state, "the rollout is still running".into());
        return Vec::new();
    }
    let failed = pane.failed_hosts();
    if failed.is_empty() {
        flash_error(
            state,
            "no host failed in the last rollout: nothing to retry".into(),
        );
        return Vec::new();
    }
    if busy(state, &project, &env) {
        return Vec::new();
    }
    let version = pane.version.clone();
    let fx = ask_plan(
        state,
        project,
        env,
        Kind::Deploy {
            version,
            digest: pane.digest.clone(),
            promoted_from: None,
        },
    );
    state.flash = Some(Flash {
        text: format!(
            "retry: hosts already on {} and healthy are skipped, so only {} are replaced; making the plan…",
            pane.version,
            failed.join(", ")
        ),
        error: false,
    });
    fx
}

pub(super) fn resume(state: &mut State) -> Vec<Effect> {
    let Some((project, env)) = target_env(state) else {
        return Vec::new();
    };
    let Some(r) = state
        .env_releases(&project, &env)
        .and_then(|r| r.interrupted().cloned())
    else {
        flash_error(state, format!("{project}/{env} has no unfinished release"));
        return Vec::new();
    };
    let lines = vec![
        format!(
            "finishes {} {} by {} (release {}, started {})",
            r.action.word(),
            r.version,
            r.user,
            r.release,
            r.started_at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        "hosts already on it and healthy are skipped; decided under the lock".into(),
    ];
    let effect = Effect::StartRelease {
        project: project.clone(),
        env: env.clone(),
        kind: Kind::Resume,
        message: "resumed from the console".into(),
    };
    confirm(
        state,
        format!("resume {project}/{env}?"),
        lines,
        effect,
        &env,
        None,
    );
    Vec::new()
}

pub(super) fn break_lock(state: &mut State) -> Vec<Effect> {
    let Some((project, env)) = target_env(state) else {
        return Vec::new();
    };
    let lock = match state
        .env_releases(&project, &env)
        .map(|r| r.activity.clone())
    {
        Some(Some(crate::rollout::activity::Activity::Running { lock, .. })) => lock,
        _ => {
            flash_error(
                state,
                format!("{project}/{env} is not locked (as of the last read)"),
            );
            return Vec::new();
        }
    };
    let age = (state.now - lock.acquired_at).num_seconds();
    let mut lines = vec![
        format!(
            "held by {} since {} ({} ago), release {}",
            lock.owner,
            lock.acquired_at.format("%H:%M:%S"),
            duration_short(age),
            lock.release
        ),
        format!("state: {}", lock.phase_word()),
    ];
    if !lock.message.is_empty() {
        lines.push(format!("message: \"{}\"", lock.message));
    }
    lines.push("a live holder stops at its next check; break only a lock you know is dead".into());
    let effect = Effect::BreakLock {
        project: project.clone(),
        env: env.clone(),
    };
    // Always typed: a wrong break lets two rollouts run at once.
    let mut c = Confirm::new(
        format!("break the lock of {project}/{env}?"),
        lines,
        effect,
        Some(env.clone()),
    );
    c.then_open = None;
    state.mode = Mode::Confirm(Box::new(c));
    Vec::new()
}
