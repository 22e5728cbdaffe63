//! Property tests of `update()`: random sequences of keys, resizes, ticks,
//! mouse, fleet updates, rollout events and answers of background work.
//! Whatever the sequence: no panic (in `update` or in drawing), the
//! selection stays within the rows, a read-only console lets no mutating
//! effect out, a read-only environment neither, and every destructive
//! effect comes from a confirmation (or from the end of a confirmed ship).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fixture::{self, INVENTORY, now};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::app::model::release::RolloutPane;
use shipdeck::app::rows::row_count;
use shipdeck::app::{Action, Effect, Keymap, Mode, State, update};
use shipdeck::domain::{AppContainer, ContainerState, FleetUpdate, Health, Role};
use shipdeck::registry::TagInfo;
use shipdeck::rollout::activity::Activity;
use shipdeck::rollout::events::{HostPhase, RolloutEvent};
use shipdeck::rollout::journal::{Action as ReleaseAction, Outcome, ReleaseSummary};
use shipdeck::rollout::lock::{Control, LockInfo};
use shipdeck::rollout::plan::Plan;
use shipdeck::theme::Theme;

/// The fixture's inventory (`staging` read-only, `prod` wants its name
/// typed) and a second project, `beta`.
const BETA: &str = r#"
[[projects]]
name = "beta"
image = "r.example.com/beta"
[projects.hosts]
staging = ["b1"]
prod = ["b1"]
"#;

const PROJECTS: [&str; 3] = ["alpha", "beta", "nope"];
const ENVS: [&str; 4] = ["dev", "staging", "prod", "qa"];
const HOSTS: [&str; 4] = ["a1", "a2", "b1", "zz"];
const VERSIONS: [&str; 3] = ["v1", "v2", "v3"];
/// Palette lines that jump deep (typed like any other keys).
const PALETTE: [&str; 16] = [
    "env alpha/staging",
    "env alpha/prod",
    "env alpha/dev",
    "env beta/prod",
    "env beta/staging",
    "project alpha",
    "project beta",
    "deploy v2",
    "rollback v1",
    "history",
    "rollout",
    "abort",
    "break-lock",
    "remove",
    "promote",
    "resume",
];
const SIZES: [(u16, u16); 6] = [(1, 1), (40, 10), (80, 24), (120, 40), (20, 3), (200, 6)];

fn state(readonly: bool) -> State {
    fixture::state(&format!("{INVENTORY}{BETA}"), readonly)
}

/// One step of a random session. Some steps are resolved against the state
/// when they run (typing the expected confirmation, answering the plan asked
/// for), so that deep paths are reached at all.
#[derive(Debug, Clone)]
enum Step {
    Key(KeyCode, bool),
    /// A `:` palette line, typed key by key, then Enter.
    Palette(usize),
    Command(usize),
    Confirmed,
    /// Type what the open typed confirmation expects (one key per call).
    TypeExpected,
    Resize(usize),
    Tick,
    Click(u16),
    Scroll(i8),
    Connected(usize, Vec<Ctr>),
    Unreachable(usize),
    Container(usize, Ctr),
    Removed(usize, usize),
    /// Give (project, env) a rollout pane, as a confirmed release does.
    Pane(usize, usize),
    Rollout(usize, usize, Ev),
    /// Answer the plan asked for (or a random one).
    Plan(Option<(usize, usize)>, usize, bool),
    Promotion(bool),
    History(usize, usize, Vec<(usize, usize)>),
    Tags(usize, Vec<usize>, bool),
    RolloutDone(usize, usize, bool),
    Done(bool),
    BuildDone(usize, bool),
    Activity(usize, usize, usize),
    LogTail(usize, usize, usize),
}

#[derive(Debug, Clone)]
struct Ctr {
    project: usize,
    env: usize,
    version: usize,
    role: usize,
    running: bool,
    health: usize,
}

#[derive(Debug, Clone)]
enum Ev {
    Planned(usize, usize),
    Batch(usize, usize),
    Host(usize, usize, bool),
    Paused,
    Resumed,
    RollingBack,
    Finished(usize),
}

fn container(c: &Ctr, n: usize) -> AppContainer {
    let (project, env, version) = (PROJECTS[c.project], ENVS[c.env], VERSIONS[c.version]);
    let role = [Role::Serving, Role::Kept, Role::Retired][c.role];
    AppContainer {
        id: format!("{project}-{env}-{version}-{n}"),
        deployed_at: Some(format!("2026-11-2{}T10:00:00Z", c.version)),
        state: if c.running {
            ContainerState::Running
        } else {
            ContainerState::Exited
        },
        health: [
            Health::None,
            Health::Starting,
            Health::Healthy,
            Health::Unhealthy,
        ][c.health],
        started_at: Some(now() - chrono::Duration::seconds(100 * n as i64)),
        restarts: n as i64,
        ..fixture::container(project, env, version, role)
    }
}

fn plan(project: &str, env: &str, version: &str, hosts: usize) -> Plan {
    let all: Vec<String> = ["a1", "a2", "b1"][..hosts.clamp(1, 3)]
        .iter()
        .map(|h| h.to_string())
        .collect();
    let batches: Vec<Vec<String>> = all.chunks(2).map(<[String]>::to_vec).collect();
    Plan {
        project: project.into(),
        env: env.into(),
        version: version.into(),
        image: format!("r.example.com/{project}:{version}"),
        hosts: all.clone(),
        batches,
        max_unavailable: 2,
        min_serving: all.len().saturating_sub(2),
        canary: false,
        gates: vec!["health: http /health".into()],
        confirm: env == "prod",
        predicted_secs: Some(42.0),
        warnings: Vec::new(),
    }
}

fn summary(project: &str, env: &str, version: &str, outcome: Option<Outcome>) -> ReleaseSummary {
    ReleaseSummary {
        release: format!("r-{version}-{}", outcome.map_or("none", |o| o.word())),
        from_versions: vec!["v0".into()],
        hosts: 3,
        ..fixture::summary(project, env, version, outcome)
    }
}

fn lock(project: &str, env: &str) -> LockInfo {
    LockInfo {
        project: project.into(),
        env: env.into(),
        host: "a1".into(),
        hosts: vec!["a1".into()],
        container_id: "lock-1".into(),
        owner: "other@desk".into(),
        release: "r-other".into(),
        message: "hotfix".into(),
        acquired_at: now() - chrono::Duration::seconds(90),
        heartbeat_at: None,
        expires_at: None,
        expired: false,
        control: Control::Run,
        control_seq: 0,
        state: None,
        held: 1,
        needed: 1,
    }
}

const OUTCOMES: [Outcome; 6] = [
    Outcome::Succeeded,
    Outcome::Failed,
    Outcome::RolledBack,
    Outcome::Aborted,
    Outcome::Refused,
    Outcome::Interrupted,
];

const PHASES: [HostPhase; 11] = [
    HostPhase::Skipped,
    HostPhase::Stopping,
    HostPhase::Starting,
    HostPhase::WaitingHealth,
    HostPhase::Healthy,
    HostPhase::Failed,
    HostPhase::Restoring,
    HostPhase::Restored,
    HostPhase::RestoreFailed,
    HostPhase::RollingBack,
    HostPhase::RolledBack,
];

fn event(project: &str, env: &str, ev: &Ev) -> RolloutEvent {
    match ev {
        Ev::Planned(v, n) => RolloutEvent::Planned {
            release: "r-prop".into(),
            action: ReleaseAction::Deploy,
            plan: plan(project, env, VERSIONS[*v], *n),
        },
        Ev::Batch(i, total) => RolloutEvent::BatchStarted {
            index: *i,
            total: *total,
            hosts: vec!["a1".into()],
        },
        Ev::Host(h, p, detail) => RolloutEvent::Host {
            host: HOSTS[*h].into(),
            phase: PHASES[*p],
            secs: 1.5,
            detail: detail.then(|| "probe: GET /health → 503".into()),
        },
        Ev::Paused => RolloutEvent::Paused {
            reason: "operator".into(),
        },
        Ev::Resumed => RolloutEvent::Resumed,
        Ev::RollingBack => RolloutEvent::RollingBack {
            hosts: vec!["a1".into()],
            reason: "failed".into(),
        },
        Ev::Finished(o) => RolloutEvent::Finished {
            outcome: OUTCOMES[*o],
            secs: 30.0,
            message: "done".into(),
            needs_operator: Vec::new(),
        },
    }
}

/// Every default-bound key, and the keys dialogs and text fields take.
fn keys() -> Vec<(KeyCode, bool)> {
    let mut v: Vec<(KeyCode, bool)> = Keymap::default()
        .bindings()
        .iter()
        .map(|(k, _)| (k.code, k.ctrl))
        .collect();
    for code in [
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::Backspace,
        KeyCode::Char('y'),
        KeyCode::Char('n'),
        KeyCode::Char('p'),
        KeyCode::Char('v'),
        KeyCode::Char('1'),
        KeyCode::Char('e'),
        KeyCode::Char('z'),
    ] {
        v.push((code, false));
    }
    v
}

fn ctr() -> impl Strategy<Value = Ctr> {
    (
        0..3usize,
        0..4usize,
        0..3usize,
        0..3usize,
        any::<bool>(),
        0..4usize,
    )
        .prop_map(|(project, env, version, role, running, health)| Ctr {
            project,
            env,
            version,
            role,
            running,
            health,
        })
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        (0..3usize, 1..4usize).prop_map(|(v, n)| Ev::Planned(v, n)),
        (0..3usize, 0..3usize).prop_map(|(i, t)| Ev::Batch(i, t)),
        (0..4usize, 0..PHASES.len(), any::<bool>()).prop_map(|(h, p, d)| Ev::Host(h, p, d)),
        Just(Ev::Paused),
        Just(Ev::Resumed),
        Just(Ev::RollingBack),
        (0..OUTCOMES.len()).prop_map(Ev::Finished),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let keys = keys();
    let p = 0..PROJECTS.len();
    let e = 0..ENVS.len();
    let h = 0..HOSTS.len();
    prop_oneof![
        12 => prop::sample::select(keys).prop_map(|(k, c)| Step::Key(k, c)),
        2 => (0..PALETTE.len()).prop_map(Step::Palette),
        1 => (0..shipdeck::app::command::COMMANDS.len()).prop_map(Step::Command),
        1 => Just(Step::Confirmed),
        2 => Just(Step::TypeExpected),
        1 => (0..SIZES.len()).prop_map(Step::Resize),
        1 => Just(Step::Tick),
        1 => (0..12u16).prop_map(Step::Click),
        1 => (-3..4i8).prop_map(Step::Scroll),
        2 => (h.clone(), prop::collection::vec(ctr(), 0..5)).prop_map(|(h, c)| Step::Connected(h, c)),
        1 => h.clone().prop_map(Step::Unreachable),
        1 => (h.clone(), ctr()).prop_map(|(h, c)| Step::Container(h, c)),
        1 => (h.clone(), 0..5usize).prop_map(|(h, n)| Step::Removed(h, n)),
        1 => (p.clone(), e.clone()).prop_map(|(p, e)| Step::Pane(p, e)),
        3 => (p.clone(), e.clone(), ev()).prop_map(|(p, e, v)| Step::Rollout(p, e, v)),
        2 => (prop::option::weighted(0.2, (p.clone(), e.clone())), 1..4usize, any::<bool>())
            .prop_map(|(k, n, ok)| Step::Plan(k, n, ok)),
        1 => any::<bool>().prop_map(Step::Promotion),
        1 => (p.clone(), e.clone(), prop::collection::vec((0..3usize, 0..OUTCOMES.len()), 0..5))
            .prop_map(|(p, e, r)| Step::History(p, e, r)),
        1 => (p.clone(), prop::collection::vec(0..3usize, 0..4), any::<bool>())
            .prop_map(|(p, t, ok)| Step::Tags(p, t, ok)),
        1 => (p.clone(), e.clone(), any::<bool>()).prop_map(|(p, e, ok)| Step::RolloutDone(p, e, ok)),
        1 => any::<bool>().prop_map(Step::Done),
        1 => (p.clone(), any::<bool>()).prop_map(|(p, ok)| Step::BuildDone(p, ok)),
        1 => (p.clone(), e.clone(), 0..3usize).prop_map(|(p, e, k)| Step::Activity(p, e, k)),
        1 => (p, e, h).prop_map(|(p, e, h)| Step::LogTail(p, e, h)),
    ]
}

/// The actions of one step (most steps are one action).
fn actions(s: &mut State, step: &Step) -> Vec<Action> {
    let key = |code: KeyCode, ctrl: bool| {
        let m = if ctrl {
            KeyModifiers::CONTROL
        } else {
            KeyModifiers::NONE
        };
        Action::Key(KeyEvent::new(code, m))
    };
    let fleet = |u: FleetUpdate| vec![Action::Fleet(u)];
    match step {
        Step::Key(k, c) => vec![key(*k, *c)],
        Step::Palette(i) => std::iter::once(':')
            .chain(PALETTE[*i].chars())
            .map(|ch| key(KeyCode::Char(ch), false))
            .chain(std::iter::once(key(KeyCode::Enter, false)))
            .collect(),
        Step::Command(i) => vec![Action::Command(
            shipdeck::app::command::COMMANDS[*i].command,
        )],
        Step::Confirmed => vec![Action::Confirmed],
        Step::TypeExpected => match &s.mode {
            Mode::Confirm(c) => match &c.expected {
                Some(e) if c.input.value().is_empty() => {
                    e.chars().map(|ch| key(KeyCode::Char(ch), false)).collect()
                }
                _ => vec![key(KeyCode::Enter, false)],
            },
            _ => Vec::new(),
        },
        Step::Resize(i) => vec![Action::Resize(SIZES[*i].0, SIZES[*i].1)],
        Step::Tick => {
            // `on_tick` reads the wall clock; keep the pinned one.
            vec![Action::Tick]
        }
        Step::Click(r) => vec![Action::Click { row: *r }],
        Step::Scroll(d) => vec![Action::Scroll(*d)],
        Step::Connected(h, cs) => fleet(FleetUpdate::Connected {
            host: HOSTS[*h].into(),
            api_version: "1.41".into(),
            containers: cs
                .iter()
                .enumerate()
                .map(|(n, c)| container(c, n))
                .collect(),
        }),
        Step::Unreachable(h) => fleet(FleetUpdate::Unreachable {
            host: HOSTS[*h].into(),
            error: "connection refused".into(),
            at: now(),
            retry_at: now() + chrono::Duration::seconds(5),
        }),
        Step::Container(h, c) => fleet(FleetUpdate::Container {
            host: HOSTS[*h].into(),
            container: Box::new(container(c, 9)),
        }),
        Step::Removed(h, n) => {
            // An id that may exist: the n-th container known on the host.
            let id = s
                .fleet
                .hosts
                .get(HOSTS[*h])
                .and_then(|hs| hs.containers.keys().nth(*n).cloned())
                .unwrap_or_else(|| "gone".into());
            fleet(FleetUpdate::Removed {
                host: HOSTS[*h].into(),
                id,
            })
        }
        Step::Pane(p, e) => {
            // Not in the read-only `staging`: no release of this console
            // can have started there.
            let env = ["dev", "prod", "qa", "prod"][*e];
            let now = s.now;
            s.env_releases_mut(PROJECTS[*p], env).rollout = Some(RolloutPane::new(
                ReleaseAction::Deploy,
                "v2".into(),
                now,
                30.0,
            ));
            Vec::new()
        }
        Step::Rollout(p, e, ev) => vec![Action::Rollout {
            project: PROJECTS[*p].into(),
            env: ENVS[*e].into(),
            event: event(PROJECTS[*p], ENVS[*e], ev),
        }],
        Step::Plan(k, n, ok) => {
            let (project, env) = match (k, &s.pending_plan) {
                (None, Some(((p, e), _))) => (p.clone(), e.clone()),
                (Some((p, e)), _) => (PROJECTS[*p].to_string(), ENVS[*e].to_string()),
                (None, None) => ("alpha".into(), "prod".into()),
            };
            let result = if *ok {
                Ok(plan(&project, &env, "v2", *n))
            } else {
                Err("the registry has no tag v2".into())
            };
            vec![Action::Plan {
                project,
                env,
                result,
            }]
        }
        Step::Promotion(ok) => {
            let Some(((project, env), _)) = s.pending_plan.clone() else {
                return Vec::new();
            };
            let result = if *ok {
                Ok(shipdeck::rollout::promote::Promotable {
                    version: "v1".into(),
                    digest: "sha256:abcdef0123456789".into(),
                    hosts: 1,
                })
            } else {
                Err("nothing runs healthy in dev".into())
            };
            vec![Action::Promotion {
                project,
                env,
                result,
            }]
        }
        Step::History(p, e, rs) => vec![Action::History {
            project: PROJECTS[*p].into(),
            env: ENVS[*e].into(),
            result: Ok(rs
                .iter()
                .map(|(v, o)| summary(PROJECTS[*p], ENVS[*e], VERSIONS[*v], Some(OUTCOMES[*o])))
                .collect()),
        }],
        Step::Tags(p, ts, ok) => vec![Action::Tags {
            project: PROJECTS[*p].into(),
            result: if *ok {
                Ok(ts
                    .iter()
                    .map(|v| TagInfo {
                        tag: VERSIONS[*v].into(),
                        digest: Some(format!("sha256:{}", VERSIONS[*v].repeat(8))),
                        created: Some(now()),
                        size: Some(1000),
                    })
                    .collect())
            } else {
                Err("401 Unauthorized".into())
            },
        }],
        Step::RolloutDone(p, e, ok) => vec![Action::RolloutDone {
            project: PROJECTS[*p].into(),
            env: ENVS[*e].into(),
            result: if *ok { Ok(()) } else { Err("lock held".into()) },
        }],
        Step::Done(ok) => vec![Action::Done {
            result: if *ok {
                Ok("restarted".into())
            } else {
                Err("no such container".into())
            },
        }],
        Step::BuildDone(p, ok) => vec![Action::BuildDone {
            project: PROJECTS[*p].into(),
            result: if *ok {
                Ok(Some("sha256:0123".into()))
            } else {
                Err("build failed".into())
            },
        }],
        Step::Activity(p, e, k) => {
            let (project, env) = (PROJECTS[*p], ENVS[*e]);
            let activity = match k {
                0 => Activity::Idle,
                1 => Activity::Running {
                    phase: "running".into(),
                    lock: Box::new(lock(project, env)),
                    release: None,
                },
                _ => Activity::Interrupted {
                    release: Box::new(summary(project, env, "v2", None)),
                },
            };
            vec![Action::Activity {
                project: project.into(),
                env: env.into(),
                activity,
                full: true,
            }]
        }
        Step::LogTail(p, e, h) => vec![Action::Rollout {
            project: PROJECTS[*p].into(),
            env: ENVS[*e].into(),
            event: shipdeck::rollout::events::RolloutEvent::HostLog {
                host: HOSTS[*h].into(),
                lines: vec!["panic: boom".into()],
                error: None,
            },
        }],
    }
}

/// The environment an effect acts on, when it names one. Written out again
/// on purpose instead of calling `Effect::env`: the read-only guard in
/// `update()` filters with `Effect::env`, so the check must not trust it.
fn effect_env(e: &Effect) -> Option<&str> {
    match e {
        Effect::StartRelease { env, .. }
        | Effect::StopRollout { env, .. }
        | Effect::Control { env, .. }
        | Effect::BreakLock { env, .. }
        | Effect::RemoveProject { env, .. } => Some(env),
        Effect::StartBuild { deploy_to, .. } => deploy_to.as_deref(),
        _ => None,
    }
}

fn draw(s: &State, theme: &Theme) {
    let mut term = Terminal::new(TestBackend::new(s.width, s.height)).unwrap();
    term.draw(|f| shipdeck::ui::draw(s, theme, f)).unwrap();
}

fn run(readonly: bool, steps: &[Step]) -> Result<(), TestCaseError> {
    let theme: Theme = shipdeck::theme::load("default", None, false).expect("theme");
    let mut s = state(readonly);
    for (i, step) in steps.iter().enumerate() {
        for action in actions(&mut s, step) {
            let was_confirm = matches!(s.mode, Mode::Confirm(_));
            let confirming = was_confirm
                && match &action {
                    Action::Confirmed => true,
                    Action::Key(k) => matches!(k.code, KeyCode::Enter | KeyCode::Char('y')),
                    _ => false,
                };
            let build_done = matches!(action, Action::BuildDone { .. });
            let shown = format!("{action:?}");
            // `on_tick` moves the clock to the wall clock: pin it back.
            let effects = update(&mut s, action);
            s.now = now();
            let n = row_count(&s);
            prop_assert!(
                s.screen().selected < n.max(1),
                "selection {} of {n} rows in {:?} after {shown}",
                s.screen().selected,
                s.screen().view
            );
            for e in &effects {
                if readonly {
                    prop_assert!(!e.mutates(), "read-only console let {e:?} out of {shown}");
                }
                prop_assert!(
                    effect_env(e) != Some("staging") || !e.mutates(),
                    "read-only environment let {e:?} out of {shown}"
                );
                if e.destructive() {
                    prop_assert!(
                        confirming || build_done,
                        "destructive {e:?} out of {shown} (confirm mode before: {was_confirm})"
                    );
                }
            }
        }
        // Drawing dominates the run time: after every resize, every fourth
        // step and the last one.
        if matches!(step, Step::Resize(_)) || i % 4 == 3 || i + 1 == steps.len() {
            draw(&s, &theme);
        }
    }
    Ok(())
}

proptest! {
    // 128 cases run in a few seconds; PROPTEST_CASES=5000 hunts longer.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_sessions_keep_the_invariants(steps in prop::collection::vec(step(), 1..60)) {
        run(false, &steps)?;
    }

    #[test]
    fn a_readonly_console_lets_nothing_mutating_out(steps in prop::collection::vec(step(), 1..60)) {
        run(true, &steps)?;
    }
}
