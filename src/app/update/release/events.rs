//! A rollout's events and its end, as this console sees them.

use super::*;

pub fn on_rollout_event(
    state: &mut State,
    project: &str,
    env: &str,
    event: &RolloutEvent,
) -> Vec<Effect> {
    state.dirty = true;
    let now = state.now;
    let failed = match state.env_releases_mut(project, env).rollout.as_mut() {
        Some(p) => p.apply(event, now),
        None => None,
    };
    // A plan with fewer hosts than rows before keeps the cursor in range.
    nav::clamp_selection(state);
    if let Some(host) = failed {
        // The failing host's row is the one to look at.
        let is_view = matches!(&state.screen().view, View::Rollout { project: p, env: e } if p == project && e == env);
        if is_view
            && let Some(i) = crate::app::rows::row_names(state)
                .iter()
                .position(|h| *h == host)
        {
            state.screen_mut().selected = i;
        }
    }
    Vec::new()
}

pub fn on_rollout_done(
    state: &mut State,
    project: &str,
    env: &str,
    result: Result<(), String>,
) -> Vec<Effect> {
    state.dirty = true;
    let now = state.now;
    let r = state.env_releases_mut(project, env);
    if let Some(p) = r.rollout.as_mut() {
        if p.running() {
            p.status = match &result {
                Ok(()) => crate::app::model::release::RolloutStatus::Finished(
                    crate::rollout::journal::Outcome::Interrupted,
                ),
                Err(_) => crate::app::model::release::RolloutStatus::Refused,
            };
            p.finished_at = Some(now);
        }
        if let Err(e) = &result {
            p.message = e.clone();
        }
    }
    r.activity = None;
    let mut fx = Vec::new();
    if let Err(e) = result {
        flash_error(state, format!("{project}/{env}: {e}"));
    } else if let Some(p) = state
        .env_releases(project, env)
        .and_then(|r| r.rollout.as_ref())
    {
        let failed = p.failed_hosts();
        let text = format!(
            "{project}/{env}: {} {} {}{}",
            p.action.word(),
            p.version,
            crate::app::model::release::status_word(p.status),
            if failed.is_empty() {
                String::new()
            } else {
                format!(" · failed: {} (T retries them)", failed.join(", "))
            }
        );
        let ok = p.status
            == crate::app::model::release::RolloutStatus::Finished(
                crate::rollout::journal::Outcome::Succeeded,
            );
        state.flash = Some(Flash { text, error: !ok });
    }
    fx.extend(load_history(state, project, env));
    if state.quitting && !state.releases.values().any(|r| r.running_here()) {
        fx.push(Effect::Quit);
    }
    fx
}
