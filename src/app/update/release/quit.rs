//! Quitting while rollouts of this console run.

use super::*;

pub fn ask_quit(state: &mut State) -> Vec<Effect> {
    let running: Vec<String> = state
        .releases
        .iter()
        .filter(|(_, r)| r.running_here())
        .map(|((p, e), _)| format!("{p}/{e}"))
        .collect();
    let lines = vec![
        format!("rollouts of this console run: {}", running.join(", ")),
        "quitting launches no further host, lets the hosts in flight finish, then releases the lock".into(),
        "the release ends interrupted: u (resume) or R (rollback) finishes it later".into(),
    ];
    let c = Confirm::new("quit while rollouts run?".into(), lines, Effect::Quit, None);
    state.mode = Mode::Confirm(Box::new(c));
    Vec::new()
}

/// Confirmed quit: stop every rollout of this console; quit when they end.
pub fn quit_after_rollouts(state: &mut State) -> Vec<Effect> {
    let running: Vec<(String, String)> = state
        .releases
        .iter()
        .filter(|(_, r)| r.running_here())
        .map(|(k, _)| k.clone())
        .collect();
    if running.is_empty() {
        return vec![Effect::Quit];
    }
    state.quitting = true;
    state.flash = Some(Flash {
        text: format!(
            "quitting: waiting for the hosts in flight of {} to finish…",
            running
                .iter()
                .map(|(p, e)| format!("{p}/{e}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        error: false,
    });
    running
        .into_iter()
        .map(|(project, env)| Effect::StopRollout {
            project,
            env,
            abort: false,
        })
        .collect()
}

/// The phase words of the rollout view's rows.
pub fn phase_word(phase: Option<HostPhase>) -> &'static str {
    phase.map_or("waiting", HostPhase::word)
}
