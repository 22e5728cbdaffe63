//! Release and container commands: deploy (tag picker → plan preview →
//! confirmation), promote, one-key rollback, pause / resume / abort, retry
//! of the failed hosts, resume of an unfinished release, lock break, build
//! and ship, container actions. Every destructive effect goes through the
//! confirm mode; what needs a typed confirmation comes from
//! `rollout::checks`, the same policy the headless CLI applies.

use std::collections::BTreeSet;

use super::super::model::dialog::{Confirm, PickItem, PickPurpose, Picker};
use super::super::state::{BuildPane, BuildStatus, Flash, Loadable, Mode, State, View};
use super::super::{Command, ContainerVerb, Effect};
use super::nav::{self, flash_error, target_env, target_project};
use crate::domain::Role;
use crate::domain::summary::duration_short;
use crate::rollout::checks::{Confirmation, rollback_choice};
use crate::rollout::events::{HostPhase, RolloutEvent, short_digest};
use crate::rollout::executor::Kind;
use crate::rollout::journal::ReleaseSummary;
use crate::rollout::lock::Control;
use crate::rollout::plan::Plan;
use crate::rollout::promote::Promotable;

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
                    x.running() && x.status == super::super::model::release::RolloutStatus::Paused
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

fn load_history(state: &mut State, project: &str, env: &str) -> Vec<Effect> {
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
fn busy(state: &mut State, project: &str, env: &str) -> bool {
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

// ---- deploy -------------------------------------------------------------

fn pick_deploy(state: &mut State, project: String, env: String) -> Vec<Effect> {
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

fn fill_deploy_items(state: &State, project: &str, picker: &mut Picker) {
    match state.tags.get(project) {
        Some(Loadable::Ready(_)) => {
            picker.items = super::super::rows::tag_rows(state, project, "")
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
fn ask_plan(state: &mut State, project: String, env: String, kind: Kind) -> Vec<Effect> {
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
fn confirm(
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
    let mut pane = super::new_pane(state, project, &kind);
    // What serves now: the header's "from → to" (no event tells it).
    pane.from_versions = super::super::rows::env_summary(state, project, env)
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

// ---- promote ------------------------------------------------------------

/// The environment a promotion into `env` takes from: its
/// `require_promotion_from`, else the one before it (of those the project
/// has hosts in).
fn promotion_source(state: &State, project: &str, env: &str) -> Option<String> {
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

fn promote(state: &mut State, project: String, env: String) -> Vec<Effect> {
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

// ---- rollback -----------------------------------------------------------

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

fn pick_rollback(state: &mut State, project: String, env: String) -> Vec<Effect> {
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

fn fill_rollback_items(state: &State, project: &str, env: &str, picker: &mut Picker) {
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
            let serving = super::super::rows::env_summary(state, &project, &env).versions_text();
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

fn kept_hosts(state: &State, project: &str, env: &str) -> String {
    state
        .config
        .project(project)
        .map(|p| p.hosts_in(env).join(", "))
        .unwrap_or_default()
}

// ---- build / ship -------------------------------------------------------

/// Ask for the build's version (the default shown), then build.
pub fn ask_build(state: &mut State, project: String, deploy_to: Option<String>) -> Vec<Effect> {
    if let Some(why) = state.refusal(Command::Build) {
        flash_error(state, why);
        return Vec::new();
    }
    if state
        .config
        .project(&project)
        .is_some_and(|p| p.build.is_none())
    {
        flash_error(
            state,
            format!("{project} has no [projects.build] table in the inventory; nothing to build"),
        );
        return Vec::new();
    }
    if state
        .builds
        .get(&project)
        .is_some_and(|b| b.status == BuildStatus::Running)
    {
        nav::open(
            state,
            View::Build {
                project: project.clone(),
            },
        );
        state.flash = Some(Flash {
            text: format!("a build of {project} is running already"),
            error: false,
        });
        return Vec::new();
    }
    let title = match &deploy_to {
        Some(env) => format!("ship {project} to {env}: the version to build"),
        None => format!("build {project}: the version to tag and push"),
    };
    let mut picker = Picker::new(title, PickPurpose::Build { project, deploy_to }, true);
    picker.note = Some(
        "type a version, or enter for the default: the git short sha + UTC time of the build context"
            .into(),
    );
    state.mode = Mode::Pick(Box::new(picker));
    Vec::new()
}

pub fn begin_build(
    state: &mut State,
    project: String,
    version: Option<String>,
    deploy_to: Option<String>,
) -> Vec<Effect> {
    nav::open(
        state,
        View::Build {
            project: project.clone(),
        },
    );
    let mut pane = BuildPane::new();
    pane.deploy_to = deploy_to.clone();
    state.builds.insert(project.clone(), pane);
    state.screen_mut().selected = 0;
    vec![Effect::StartBuild {
        project,
        version,
        deploy_to,
    }]
}

// ---- control ------------------------------------------------------------

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

fn abort(state: &mut State) -> Vec<Effect> {
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

fn retry(state: &mut State) -> Vec<Effect> {
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

fn resume(state: &mut State) -> Vec<Effect> {
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

fn break_lock(state: &mut State) -> Vec<Effect> {
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

// ---- containers -----------------------------------------------------------

/// The selected host's serving container: (project, env, host, id, name).
fn selected_container(state: &mut State) -> Option<(String, String, String, String, String)> {
    let (project, env, host) = match &state.screen().view {
        View::Hosts { project, env } => {
            let names = super::super::rows::row_names(state);
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

fn container_action(state: &mut State, verb: ContainerVerb) -> Vec<Effect> {
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

fn shell(state: &mut State) -> Vec<Effect> {
    let Some((_, _, host, id, _)) = selected_container(state) else {
        return Vec::new();
    };
    vec![Effect::Shell {
        host,
        container: id,
    }]
}

fn remove_project(state: &mut State) -> Vec<Effect> {
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

// ---- rollout events ---------------------------------------------------------

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
            && let Some(i) = super::super::rows::row_names(state)
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
                Ok(()) => super::super::model::release::RolloutStatus::Finished(
                    crate::rollout::journal::Outcome::Interrupted,
                ),
                Err(_) => super::super::model::release::RolloutStatus::Refused,
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
            super::super::model::release::status_word(p.status),
            if failed.is_empty() {
                String::new()
            } else {
                format!(" · failed: {} (T retries them)", failed.join(", "))
            }
        );
        let ok = p.status
            == super::super::model::release::RolloutStatus::Finished(
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

// ---- quitting -------------------------------------------------------------

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
        .map(|(project, env)| {
            if let Some(p) = state.env_releases_mut(&project, &env).rollout.as_mut() {
                p.stop_sent = true;
            }
            Effect::StopRollout {
                project,
                env,
                abort: false,
            }
        })
        .collect()
}

/// The phase words of the rollout view's rows.
pub fn phase_word(phase: Option<HostPhase>) -> &'static str {
    phase.map_or("waiting", HostPhase::word)
}
