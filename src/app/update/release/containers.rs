//! Container actions on the hosts view: restart, stop, start, shell; removing a project.

use super::*;

/// The selected host's serving container: (project, env, host, id, name).
pub(super) fn selected_container(
    state: &mut State,
) -> Option<(String, String, String, String, String)> {
    let (project, env, host) = match &state.screen().view {
        View::Hosts { project, env } => {
            let names = crate::app::rows::row_names(state);
            let host = names.get(state.screen().selected)?.clone();
            (project.clone(), env.clone(), host)
        }
        View::HostDetail { project, env, host } => (project.clone(), env.clone(), host.clone()),
        _ => {
            flash_error(state, "select a host first (the hosts view)".into());
            return None;
        }
    };
    let c = state
        .fleet
        .hosts
        .get(&host)
        .filter(|h| h.reach.is_reachable())
        .and_then(|h| h.app_container(&project, &env))
        .map(|c| (c.id.clone(), c.name.clone()));
    match c {
        Some((id, name)) => Some((project, env, host, id, name)),
        None => {
            flash_error(
                state,
                format!(
                    "{host} has no serving container of {project} (or its engine does not answer)"
                ),
            );
            None
        }
    }
}

pub(super) fn container_action(state: &mut State, verb: ContainerVerb) -> Vec<Effect> {
    let Some((_, env, host, id, name)) = selected_container(state) else {
        return Vec::new();
    };
    let effect = Effect::ContainerAction {
        host: host.clone(),
        container: id,
        verb,
    };
    if verb == ContainerVerb::Start {
        state.flash = Some(Flash {
            text: format!("starting {name} on {host}…"),
            error: false,
        });
        return vec![effect];
    }
    let lines = vec![
        format!("{} {name} on {host}", verb.word()),
        "this host stops serving until the container is back".into(),
    ];
    confirm(
        state,
        format!("{} {name} on {host}?", verb.word()),
        lines,
        effect,
        &env,
        None,
    );
    Vec::new()
}

pub(super) fn shell(state: &mut State) -> Vec<Effect> {
    let Some((_, _, host, id, _)) = selected_container(state) else {
        return Vec::new();
    };
    vec![Effect::Shell {
        host,
        container: id,
    }]
}

pub(super) fn remove_project(state: &mut State) -> Vec<Effect> {
    let Some((project, env)) = target_env(state) else {
        return Vec::new();
    };
    if busy(state, &project, &env) {
        return Vec::new();
    }
    let hosts = kept_hosts(state, &project, &env);
    let lines = vec![
        format!("stops and removes every container of {project} in {env} (serving, kept, retired)"),
        format!("on {hosts}"),
        "nothing can roll this back: a later deploy starts from scratch".into(),
    ];
    let effect = Effect::RemoveProject {
        project: project.clone(),
        env: env.clone(),
    };
    // Always typed: this cannot be undone.
    let c = Confirm::new(
        format!("remove {project} from {env}?"),
        lines,
        effect,
        Some(env.clone()),
    );
    state.mode = Mode::Confirm(Box::new(c));
    Vec::new()
}
