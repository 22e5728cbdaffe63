//! Promote: what runs healthy in the environment before, pinned to its digest.

use super::*;

/// The environment a promotion into `env` takes from: its
/// `require_promotion_from`, else the one before it (of those the project
/// has hosts in).
pub(super) fn promotion_source(state: &State, project: &str, env: &str) -> Option<String> {
    if let Some(from) = state
        .config
        .environment(env)
        .and_then(|e| e.require_promotion_from.clone())
    {
        return Some(from);
    }
    let p = state.config.project(project)?;
    let envs: Vec<&str> = state
        .config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .filter(|e| !p.hosts_in(e).is_empty())
        .collect();
    let i = envs.iter().position(|e| *e == env)?;
    i.checked_sub(1).map(|j| envs[j].to_string())
}

pub(super) fn promote(state: &mut State, project: String, env: String) -> Vec<Effect> {
    if busy(state, &project, &env) {
        return Vec::new();
    }
    let Some(from) = promotion_source(state, &project, &env) else {
        flash_error(
            state,
            format!(
                "{env} is the first environment of {project}: there is nothing to promote from; deploy a version instead (D)"
            ),
        );
        return Vec::new();
    };
    state.flash = Some(Flash {
        text: format!("reading what runs healthy in {from}…"),
        error: false,
    });
    state.pending_plan = Some((
        (project.clone(), env.clone()),
        Kind::Deploy {
            version: String::new(),
            digest: None,
            promoted_from: Some(from.clone()),
        },
    ));
    vec![Effect::LoadPromotion { project, env, from }]
}

pub fn on_promotion(
    state: &mut State,
    project: String,
    env: String,
    result: Result<Promotable, String>,
) -> Vec<Effect> {
    state.dirty = true;
    let key = (project.clone(), env.clone());
    let from = match &state.pending_plan {
        Some((
            k,
            Kind::Deploy {
                promoted_from: Some(f),
                ..
            },
        )) if *k == key => f.clone(),
        _ => return Vec::new(),
    };
    state.pending_plan = None;
    match result {
        Err(e) => {
            flash_error(state, e);
            Vec::new()
        }
        Ok(src) => ask_plan(
            state,
            project,
            env,
            Kind::Deploy {
                version: src.version,
                digest: Some(src.digest),
                promoted_from: Some(from),
            },
        ),
    }
}
