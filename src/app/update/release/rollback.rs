//! One-key rollback: the version it goes back to, only versions kept on every host; the picker's answer.

use super::*;

/// Versions kept (a stopped release that served) on every host of the
/// environment that answers, newest first; with a host that does not
/// answer, none can be vouched for.
pub fn kept_everywhere(state: &State, project: &str, env: &str) -> Result<Vec<String>, String> {
    let hosts = state
        .config
        .project(project)
        .map(|p| p.hosts_in(env).to_vec())
        .unwrap_or_default();
    if hosts.is_empty() {
        return Err(format!("{project} has no hosts in {env}"));
    }
    let mut common: Option<BTreeSet<String>> = None;
    let mut newest: std::collections::BTreeMap<String, String> = Default::default();
    for h in &hosts {
        let Some(hs) = state.fleet.hosts.get(h).filter(|h| h.reach.is_reachable()) else {
            return Err(format!(
                "{h} does not answer: which versions it keeps is unknown"
            ));
        };
        let here: BTreeSet<String> = hs
            .containers_of(project, env)
            .into_iter()
            .filter(|c| c.role == Role::Kept)
            .map(|c| {
                let at = c.deployed_at.clone().unwrap_or_default();
                let e = newest.entry(c.version.clone()).or_default();
                if at > *e {
                    *e = at;
                }
                c.version.clone()
            })
            .collect();
        common = Some(match common {
            None => here,
            Some(c) => c.intersection(&here).cloned().collect(),
        });
    }
    let mut v: Vec<String> = common.unwrap_or_default().into_iter().collect();
    v.sort_by(|a, b| newest.get(b).cmp(&newest.get(a)));
    Ok(v)
}

pub(super) fn pick_rollback(state: &mut State, project: String, env: String) -> Vec<Effect> {
    if busy(state, &project, &env) {
        return Vec::new();
    }
    let mut picker = Picker::new(
        format!("roll {project}/{env} back to"),
        PickPurpose::Rollback {
            project: project.clone(),
            env: env.clone(),
        },
        false,
    );
    fill_rollback_items(state, &project, &env, &mut picker);
    state.mode = Mode::Pick(Box::new(picker));
    load_history(state, &project, &env)
}

pub(super) fn fill_rollback_items(state: &State, project: &str, env: &str, picker: &mut Picker) {
    let kept = match kept_everywhere(state, project, env) {
        Ok(k) => k,
        Err(e) => {
            picker.items.clear();
            picker.note = Some(format!("no rollback offered: {e}"));
            return;
        }
    };
    let releases: Vec<ReleaseSummary> = match state
        .env_releases(project, env)
        .and_then(|r| r.history.clone())
    {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            picker.note = Some(format!(
                "the releases could not be read ({e}); kept versions only"
            ));
            Vec::new()
        }
        None => {
            picker.note = Some("reading the releases…".into());
            Vec::new()
        }
    };
    let real: Vec<&ReleaseSummary> = releases.iter().filter(|r| !r.refused()).collect();
    let default = rollback_choice(&real).map(|r| r.version.clone());
    let mut items: Vec<PickItem> = Vec::new();
    if let Some(d) = &default {
        if kept.contains(d) {
            items.push(PickItem {
                value: d.clone(),
                note: "the last release that served (default)".into(),
            });
        } else {
            picker.note = Some(format!(
                "the last release that served, {d}, is not kept on every host; pick a kept one"
            ));
        }
    }
    for v in &kept {
        if Some(v) == default.as_ref() {
            continue;
        }
        let note = releases
            .iter()
            .rev()
            .find(|r| &r.version == v)
            .map(|r| {
                format!(
                    "{} {} by {}",
                    r.result_word(),
                    r.started_at.format("%m-%d %H:%M"),
                    r.user
                )
            })
            .unwrap_or_else(|| "kept on every host".into());
        items.push(PickItem {
            value: v.clone(),
            note,
        });
    }
    if items.is_empty() && picker.note.is_none() {
        picker.note = Some(format!(
            "no version is kept on every host of {env}: nothing to roll back to without a pull"
        ));
    }
    if !items.is_empty() && !releases.is_empty() {
        picker.note = picker.note.take().filter(|n| !n.starts_with("reading"));
    }
    picker.items = items;
}

/// `:rollback VERSION`.
pub fn rollback_to(state: &mut State, version: String) -> Vec<Effect> {
    if let Some(why) = state.refusal(Command::Rollback) {
        flash_error(state, why);
        return Vec::new();
    }
    match target_env(state) {
        Some((p, e)) if !busy(state, &p, &e) => picked(
            state,
            PickPurpose::Rollback { project: p, env: e },
            Some(version),
        ),
        _ => Vec::new(),
    }
}

/// The picker's answer.
pub fn picked(state: &mut State, purpose: PickPurpose, choice: Option<String>) -> Vec<Effect> {
    state.dirty = true;
    match purpose {
        PickPurpose::Deploy { project, env } => match choice {
            Some(version) => ask_plan(
                state,
                project,
                env,
                Kind::Deploy {
                    version,
                    digest: None,
                    promoted_from: None,
                },
            ),
            None => {
                flash_error(state, "no version picked: nothing was changed".into());
                Vec::new()
            }
        },
        PickPurpose::Rollback { project, env } => {
            let Some(version) = choice else {
                flash_error(state, "no version picked: nothing was changed".into());
                return Vec::new();
            };
            let kept = kept_everywhere(state, &project, &env).unwrap_or_default();
            if !kept.contains(&version) {
                flash_error(
                    state,
                    format!(
                        "{version} is not kept on every host of {env}: pick one the list offers"
                    ),
                );
                return Vec::new();
            }
            let serving = crate::app::rows::env_summary(state, &project, &env).versions_text();
            let hosts = kept_hosts(state, &project, &env);
            let lines = vec![
                format!("goes back to {version} (now: {serving})"),
                format!("from the kept containers on {hosts}: no pull"),
                "hosts go back in batches of this environment's max_unavailable".into(),
            ];
            let effect = Effect::StartRelease {
                project: project.clone(),
                env: env.clone(),
                kind: Kind::Rollback {
                    to: Some(version.clone()),
                    digest: None,
                },
                message: "rolled back from the console".into(),
            };
            confirm(
                state,
                format!("roll {project}/{env} back to {version}?"),
                lines,
                effect,
                &env,
                None,
            );
            Vec::new()
        }
        PickPurpose::Build { project, deploy_to } => {
            let version = choice.filter(|v| !v.trim().is_empty());
            match deploy_to {
                None => begin_build(state, project, version, None),
                Some(env) => {
                    let shown = version
                        .clone()
                        .unwrap_or_else(|| "the default version (git sha + time)".into());
                    let lines = vec![
                        format!("builds {project} {shown} on its build host and pushes it"),
                        format!("then deploys it to {env} in batches with health gates"),
                    ];
                    let effect = Effect::StartBuild {
                        project: project.clone(),
                        version,
                        deploy_to: Some(env.clone()),
                    };
                    confirm(
                        state,
                        format!("ship {project} to {env}?"),
                        lines,
                        effect,
                        &env,
                        None,
                    );
                    Vec::new()
                }
            }
        }
    }
}

pub(super) fn kept_hosts(state: &State, project: &str, env: &str) -> String {
    state
        .config
        .project(project)
        .map(|p| p.hosts_in(env).join(", "))
        .unwrap_or_default()
}
