//! Deploy: the tag picker, the plan, its preview and confirmation, the start.

use super::*;

pub(super) fn pick_deploy(state: &mut State, project: String, env: String) -> Vec<Effect> {
    if busy(state, &project, &env) {
        return Vec::new();
    }
    let mut picker = Picker::new(
        format!("deploy {project} to {env}: pick a tag or type a version"),
        PickPurpose::Deploy {
            project: project.clone(),
            env: env.clone(),
        },
        true,
    );
    fill_deploy_items(state, &project, &mut picker);
    state.mode = Mode::Pick(Box::new(picker));
    match state.tags.get(&project) {
        Some(Loadable::Ready(_)) => Vec::new(),
        _ => nav::load_tags(state, &project),
    }
}

pub(super) fn fill_deploy_items(state: &State, project: &str, picker: &mut Picker) {
    match state.tags.get(project) {
        Some(Loadable::Ready(_)) => {
            picker.items = crate::app::rows::tag_rows(state, project, "")
                .into_iter()
                .map(|r| {
                    let mut note: Vec<String> = r
                        .running_in
                        .iter()
                        .map(|(e, n)| format!("{e} ×{n}"))
                        .collect();
                    if let Some(c) = r.tag.created {
                        note.push(format!(
                            "made {} ago",
                            duration_short((state.now - c).num_seconds())
                        ));
                    }
                    PickItem {
                        value: r.tag.tag,
                        note: note.join(" · "),
                    }
                })
                .collect();
            picker.note = None;
        }
        Some(Loadable::Failed(e)) => {
            picker.note = Some(format!(
                "the registry's tags could not be read: {e}; type a version"
            ));
        }
        _ => picker.note = Some("reading the registry's tags…".into()),
    }
}

/// Answers that arrive while a picker is open refresh its list.
pub fn refresh_picker(state: &mut State, project: &str) {
    let Mode::Pick(p) = &state.mode else {
        return;
    };
    let mut picker = (**p).clone();
    match &picker.purpose {
        PickPurpose::Deploy { project: pp, .. } if pp == project => {
            fill_deploy_items(state, project, &mut picker)
        }
        PickPurpose::Rollback { project: pp, env } if pp == project => {
            let env = env.clone();
            fill_rollback_items(state, project, &env, &mut picker)
        }
        _ => return,
    }
    state.mode = Mode::Pick(Box::new(picker));
}

/// `:deploy VERSION`.
pub fn deploy_version(state: &mut State, version: String) -> Vec<Effect> {
    if let Some(why) = state.refusal(Command::Deploy) {
        flash_error(state, why);
        return Vec::new();
    }
    match target_env(state) {
        Some((p, e)) if !busy(state, &p, &e) => ask_plan(
            state,
            p,
            e,
            Kind::Deploy {
                version,
                digest: None,
                promoted_from: None,
            },
        ),
        _ => Vec::new(),
    }
}

/// Ask for the plan; its answer opens the confirmation.
pub(super) fn ask_plan(state: &mut State, project: String, env: String, kind: Kind) -> Vec<Effect> {
    let version = match &kind {
        Kind::Deploy { version, .. } => version.clone(),
        _ => return Vec::new(),
    };
    state.pending_plan = Some(((project.clone(), env.clone()), kind));
    state.flash = Some(Flash {
        text: format!("making the plan of {project} {version} → {env}…"),
        error: false,
    });
    vec![Effect::LoadPlan {
        project,
        env,
        version,
    }]
}

/// The plan arrived: the preview, then the confirmation.
pub fn on_plan(
    state: &mut State,
    project: String,
    env: String,
    result: Result<Plan, String>,
) -> Vec<Effect> {
    state.dirty = true;
    let key = (project.clone(), env.clone());
    let Some((pending, kind)) = state.pending_plan.take() else {
        return Vec::new();
    };
    if pending != key {
        state.pending_plan = Some((pending, kind));
        return Vec::new();
    }
    state.flash = None;
    let plan = match result {
        Ok(p) => p,
        Err(e) => {
            flash_error(state, e);
            return Vec::new();
        }
    };
    let mut lines = plan_lines(&plan);
    let (verb, message) = match &kind {
        Kind::Deploy {
            digest: Some(d),
            promoted_from: Some(from),
            ..
        } => {
            lines.insert(
                0,
                format!(
                    "promotes exactly {} (what runs healthy in {from})",
                    short_digest(d)
                ),
            );
            ("promote", format!("promoted from {from}"))
        }
        _ => ("deploy", "deployed from the console".to_string()),
    };
    let effect = Effect::StartRelease {
        project: project.clone(),
        env: env.clone(),
        kind,
        message,
    };
    let title = format!("{verb} {project} {} → {env}?", plan.version);
    confirm(
        state,
        title,
        lines,
        effect,
        &env,
        Some(View::Rollout {
            project,
            env: env.clone(),
        }),
    );
    Vec::new()
}

/// What the plan preview says: batches, capacity kept, gates, time.
pub fn plan_lines(plan: &Plan) -> Vec<String> {
    let mut lines = vec![format!(
        "{} host(s) in {} batch(es), at most {} unavailable: {} keep serving",
        plan.hosts.len(),
        plan.batches.len(),
        plan.max_unavailable,
        plan.min_serving
    )];
    for (i, b) in plan.batches.iter().enumerate() {
        let canary = if plan.canary && i == 0 {
            " (canary)"
        } else {
            ""
        };
        lines.push(format!("  batch {}{canary}: {}", i + 1, b.join(", ")));
    }
    for g in &plan.gates {
        lines.push(format!("gate: {g}"));
    }
    lines.push(match plan.predicted_secs {
        Some(s) => format!(
            "predicted: about {} (from history)",
            duration_short(s as i64)
        ),
        None => "predicted: no history yet".into(),
    });
    for w in &plan.warnings {
        lines.push(format!("warning: {w}"));
    }
    lines
}

/// Open the confirmation of `effect` on `env` (typed when protected).
pub(super) fn confirm(
    state: &mut State,
    title: String,
    lines: Vec<String>,
    effect: Effect,
    env: &str,
    then_open: Option<View>,
) {
    let expected = Confirmation::for_env(&state.config, env)
        .expected()
        .map(str::to_string);
    let mut c = Confirm::new(title, lines, effect, expected);
    c.then_open = then_open;
    state.mode = Mode::Confirm(Box::new(c));
}

/// Start a confirmed release: its pane, its view, its effect.
pub fn start_release(
    state: &mut State,
    project: &str,
    env: &str,
    kind: Kind,
    message: String,
) -> Vec<Effect> {
    let mut pane = crate::app::update::new_pane(state, project, &kind);
    // What serves now: the header's "from → to" (no event tells it).
    pane.from_versions = crate::app::rows::env_summary(state, project, env)
        .versions
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    let r = state.env_releases_mut(project, env);
    r.rollout = Some(pane);
    nav::open(
        state,
        View::Rollout {
            project: project.to_string(),
            env: env.to_string(),
        },
    );
    vec![Effect::StartRelease {
        project: project.to_string(),
        env: env.to_string(),
        kind,
        message,
    }]
}
