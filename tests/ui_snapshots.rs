//! One insta snapshot per view, drawn on ratatui's `TestBackend` from a fixed
//! state (config + fleet + pinned clock), so layout changes show up in review.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::app::{Action, Command, Effect, State, update};
use shipdeck::domain::{AppContainer, ContainerState, FleetUpdate, Health};
use shipdeck::rollout::journal::{Outcome, ReleaseSummary};
use shipdeck::theme::Theme;

const CONFIG: &str = r#"
[[environments]]
name = "dev"
[[environments]]
name = "staging"
[[environments]]
name = "prod"
confirm = true

[[hosts]]
name = "web-01"
endpoint = "tcp://10.0.0.11:2375"
[[hosts]]
name = "web-02"
endpoint = "tcp://10.0.0.12:2375"
[[hosts]]
name = "web-03"
endpoint = "tcp://10.0.0.13:2375"
[[hosts]]
name = "build-01"
endpoint = "unix:///run/docker.sock"

[[projects]]
name = "storefront"
image = "registry.example.com/shop/storefront"
[projects.hosts]
dev = ["build-01"]
prod = ["web-01", "web-02", "web-03"]

[[projects]]
name = "checkout"
image = "registry.example.com/shop/checkout"
[projects.hosts]
staging = ["web-01"]
"#;

fn at(secs_ago: i64) -> chrono::DateTime<Utc> {
    now() - chrono::Duration::seconds(secs_ago)
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

fn container(project: &str, env: &str, version: &str, health: Health, up: i64) -> AppContainer {
    AppContainer {
        id: format!("{project}-{env}-{version}-{up}"),
        name: format!("{project}-{env}-{version}"),
        project: project.into(),
        env: env.into(),
        version: version.into(),
        release: Some("r-20261121-1".into()),
        digest: Some(format!("sha256:{}", version.repeat(8))),
        image: format!("registry.example.com/shop/{project}:{version}"),
        role: shipdeck::domain::Role::Serving,
        restart_policy: "always".into(),
        restart_original: Some("always".into()),
        deployed_by: Some("ops@laptop".into()),
        deployed_at: None,
        state: ContainerState::Running,
        health,
        started_at: Some(at(up)),
        restarts: 0,
        exit_code: None,
    }
}

fn state() -> State {
    let config = shipdeck::config::load_str(CONFIG, Path::new("snap.toml")).expect("config");
    let mut s = State::new(Arc::new(config), now());
    let updates = vec![
        FleetUpdate::Connected {
            host: "web-01".into(),
            api_version: "1.41".into(),
            containers: vec![
                container("storefront", "prod", "v2", Health::Healthy, 3725),
                container("checkout", "staging", "1.4.0", Health::Healthy, 86_500),
            ],
        },
        FleetUpdate::Connected {
            host: "web-02".into(),
            api_version: "1.41".into(),
            containers: vec![{
                let mut c = container("storefront", "prod", "v1", Health::Unhealthy, 42);
                c.restarts = 3;
                c
            }],
        },
        FleetUpdate::Unreachable {
            host: "web-03".into(),
            error: "version negotiation: connection refused".into(),
            at: at(65),
            retry_at: now() + chrono::Duration::seconds(4),
        },
        FleetUpdate::Connected {
            host: "build-01".into(),
            api_version: "1.47".into(),
            containers: vec![container("storefront", "dev", "v3", Health::Starting, 5)],
        },
    ];
    for u in updates {
        update(&mut s, Action::Fleet(u));
    }
    s
}

fn render(state: &State) -> String {
    render_sized(state, 14)
}

fn render_sized(state: &State, height: u16) -> String {
    let theme: Theme = shipdeck::theme::load("default", None, false).expect("theme");
    let mut term = Terminal::new(TestBackend::new(120, height)).unwrap();
    term.draw(|f| shipdeck::ui::draw(state, &theme, f)).unwrap();
    term.backend().to_string()
}

fn key(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

#[test]
fn projects_view() {
    insta::assert_snapshot!(render(&state()));
}

#[test]
fn environments_view() {
    let mut s = state();
    update(&mut s, Action::Command(Command::Enter));
    insta::assert_snapshot!(render(&s));
}

#[test]
fn hosts_view_with_an_unreachable_host() {
    let mut s = state();
    update(&mut s, Action::Command(Command::Enter)); // storefront
    update(&mut s, Action::Command(Command::Bottom)); // prod
    update(&mut s, Action::Command(Command::Enter));
    insta::assert_snapshot!(render(&s));
}

#[test]
fn help_overlay() {
    let mut s = state();
    update(&mut s, key('?'));
    insta::assert_snapshot!(render_sized(&s, 24));
}

#[test]
fn filter_being_typed() {
    let mut s = state();
    for c in ['/', 'c', 'h', 'e'] {
        update(&mut s, key(c));
    }
    insta::assert_snapshot!(render(&s));
}

#[test]
fn palette_error_message() {
    let mut s = state();
    for c in ":env storefront/qa".chars() {
        update(&mut s, key(c));
    }
    update(
        &mut s,
        Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    insta::assert_snapshot!(render(&s));
}

#[test]
fn dockerfile_view() {
    let mut s = state();
    update(&mut s, Action::Command(Command::Dockerfile)); // storefront
    update(
        &mut s,
        Action::Dockerfile {
            project: "storefront".into(),
            result: Ok("# shipdeck template \"java-tomcat\"\nFROM registry.example.com/base/tomcat:10.1\nRUN rm -rf /usr/local/tomcat/webapps/*\nARG SHIPDECK_CACHE_BUST\nCOPY target/storefront.war /usr/local/tomcat/webapps/ROOT.war\nEXPOSE 8080\n".into()),
        },
    );
    insta::assert_snapshot!(render(&s));
}

#[test]
fn tags_view_shows_where_each_tag_runs() {
    use shipdeck::registry::TagInfo;
    let mut s = state();
    update(&mut s, Action::Command(Command::Tags)); // storefront
    // Digests as the fleet's containers carry them (see `container`); v1's
    // tag was moved since prod pulled it, so prod's v1 is not this image.
    let tag = |t: &str, d: &str, ago: i64, size: u64| TagInfo {
        tag: t.into(),
        digest: Some(format!("sha256:{d}")),
        created: Some(at(ago)),
        size: Some(size),
    };
    update(
        &mut s,
        Action::Tags {
            project: "storefront".into(),
            result: Ok(vec![
                tag("v3", &"v3".repeat(8), 300, 12_582_912),
                tag("v2", &"v2".repeat(8), 7_200, 12_400_000),
                tag("v1", "1111111111111111cccc", 3 * 86_400, 900_000),
            ]),
        },
    );
    insta::assert_snapshot!(render(&s));
}

#[test]
fn tags_view_with_a_registry_error() {
    let mut s = state();
    update(&mut s, Action::Command(Command::Tags));
    update(
        &mut s,
        Action::Tags {
            project: "storefront".into(),
            result: Err("registry 'harbor' (https://harbor.example.com) refused the credentials of user 'robot' (401 Unauthorized): check the password reference file:/etc/shipdeck/harbor".into()),
        },
    );
    insta::assert_snapshot!(render(&s));
}

#[test]
fn build_view_with_a_failed_step() {
    use shipdeck::app::state::BuildPane;
    use shipdeck::image::BuildEvent;
    let mut s = state();
    s.builds.insert("storefront".into(), BuildPane::new());
    s.stack.push(shipdeck::app::state::Screen::new(
        shipdeck::app::View::Build {
            project: "storefront".into(),
        },
    ));
    let events = vec![
        BuildEvent::Started {
            project: "storefront".into(),
            version: "3f2a9c1-20261121T120000Z".into(),
            image: "registry.example.com/shop/storefront:3f2a9c1-20261121T120000Z".into(),
            host: "build-01".into(),
            dockerfile: "template java-tomcat".into(),
            context_files: 12,
            context_bytes: 40_960,
            ignored: 3,
            log: "/home/ops/.local/state/shipdeck/builds/storefront/3f2a9c1-20261121T120000Z.log"
                .into(),
        },
        BuildEvent::Step {
            step: 1,
            total: 3,
            instruction: "FROM registry.example.com/base/tomcat:10.1".into(),
        },
        BuildEvent::Output {
            line: " ---> 6be60dabefb0".into(),
        },
        BuildEvent::Step {
            step: 2,
            total: 3,
            instruction: "RUN ./verify.sh".into(),
        },
        BuildEvent::Output {
            line: "verify: missing target/storefront.war".into(),
        },
        BuildEvent::Failed {
            stage: "build".into(),
            step: Some("2/3 (RUN ./verify.sh)".into()),
            error: "The command '/bin/sh -c ./verify.sh' returned a non-zero code: 1".into(),
            output: vec!["verify: missing target/storefront.war".into()],
        },
    ];
    for event in events {
        update(
            &mut s,
            Action::Build {
                project: "storefront".into(),
                event,
            },
        );
    }
    update(
        &mut s,
        Action::BuildDone {
            project: "storefront".into(),
            result: Err("build of storefront failed at step 2/3".into()),
        },
    );
    insta::assert_snapshot!(render_sized(&s, 16));
}

// ---- releases: rollout view, dialogs, history ---------------------------

fn render_wh(state: &State, width: u16, height: u16) -> String {
    let theme: Theme = shipdeck::theme::load("default", None, false).expect("theme");
    let mut term = Terminal::new(TestBackend::new(width, height)).unwrap();
    term.draw(|f| shipdeck::ui::draw(state, &theme, f)).unwrap();
    term.backend().to_string()
}

fn enter() -> Action {
    Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
}

/// The hosts view of `project`/`env` (reached with the palette).
fn hosts_of(s: &mut State, project: &str, env: &str) {
    for c in format!(":env {project}/{env}").chars() {
        update(s, key(c));
    }
    update(s, enter());
}

fn prod_plan() -> shipdeck::rollout::plan::Plan {
    shipdeck::rollout::plan::Plan {
        project: "storefront".into(),
        env: "prod".into(),
        version: "v3".into(),
        image: "registry.example.com/shop/storefront:v3".into(),
        hosts: vec!["web-01".into(), "web-02".into(), "web-03".into()],
        batches: vec![
            vec!["web-01".into(), "web-02".into()],
            vec!["web-03".into()],
        ],
        max_unavailable: 2,
        min_serving: 1,
        canary: false,
        gates: vec!["type \"prod\" to confirm".into()],
        confirm: true,
        predicted_secs: Some(95.0),
        warnings: Vec::new(),
    }
}

fn rollout_event(s: &mut State, event: shipdeck::rollout::events::RolloutEvent) -> Vec<Effect> {
    update(
        s,
        Action::Rollout {
            project: "storefront".into(),
            env: "prod".into(),
            event,
        },
    )
}

fn host_phase(
    s: &mut State,
    host: &str,
    phase: shipdeck::rollout::events::HostPhase,
    secs: f64,
    detail: Option<&str>,
) -> Vec<Effect> {
    rollout_event(
        s,
        shipdeck::rollout::events::RolloutEvent::Host {
            host: host.into(),
            phase,
            secs,
            detail: detail.map(str::to_string),
        },
    )
}

/// The rollout of storefront/prod ends with `outcome`.
fn finished(s: &mut State, outcome: Outcome, secs: f64, message: &str) -> Vec<Effect> {
    rollout_event(
        s,
        shipdeck::rollout::events::RolloutEvent::Finished {
            outcome,
            secs,
            message: message.into(),
            needs_operator: Vec::new(),
        },
    )
}

/// storefront/prod's rollout view, 40 s into a rollout of v3 confirmed
/// from the console: batch 1/2 with web-01 healthy and web-02 waiting for
/// health.
fn mid_rollout() -> State {
    use shipdeck::rollout::events::{HostPhase, RolloutEvent};
    use shipdeck::rollout::journal::Action as ReleaseAction;
    let mut s = deploy_to_prod();
    s.now = at(40);
    for c in "prod".chars() {
        update(&mut s, key(c));
    }
    let fx = update(&mut s, enter());
    assert!(
        // The hosts view's stats stop as the rollout view opens.
        matches!(fx.as_slice(), [Effect::StartRelease { env, .. }, Effect::WatchStats { containers }] if env == "prod" && containers.is_empty()),
        "{fx:?}"
    );
    assert_eq!(
        s.screen().view,
        shipdeck::app::View::Rollout {
            project: "storefront".into(),
            env: "prod".into()
        }
    );
    // What served before the release: the header's "from".
    let pane = s
        .env_releases("storefront", "prod")
        .unwrap()
        .rollout
        .as_ref()
        .unwrap();
    assert_eq!(pane.from_versions, vec!["v1".to_string(), "v2".to_string()]);
    rollout_event(
        &mut s,
        RolloutEvent::Planned {
            release: "r-20261121-2".into(),
            action: ReleaseAction::Deploy,
            plan: prod_plan(),
        },
    );
    for host in ["web-01", "web-02", "web-03"] {
        rollout_event(
            &mut s,
            RolloutEvent::HostPulled {
                host: host.into(),
                digest: format!("sha256:{}", "v3".repeat(8)),
                secs: 4.2,
            },
        );
    }
    rollout_event(
        &mut s,
        RolloutEvent::PullsDone {
            digest: format!("sha256:{}", "v3".repeat(8)),
            secs: 4.2,
        },
    );
    rollout_event(
        &mut s,
        RolloutEvent::BatchStarted {
            index: 1,
            total: 2,
            hosts: vec!["web-01".into(), "web-02".into()],
        },
    );
    s.now = at(30);
    host_phase(&mut s, "web-01", HostPhase::Stopping, 0.0, None);
    host_phase(&mut s, "web-02", HostPhase::Stopping, 0.0, None);
    host_phase(&mut s, "web-01", HostPhase::Starting, 1.1, None);
    host_phase(&mut s, "web-02", HostPhase::Starting, 1.3, None);
    s.now = at(25);
    host_phase(&mut s, "web-02", HostPhase::WaitingHealth, 2.0, None);
    host_phase(&mut s, "web-01", HostPhase::WaitingHealth, 2.1, None);
    s.now = at(12);
    host_phase(&mut s, "web-01", HostPhase::Healthy, 14.9, None);
    s.now = now();
    s
}

#[test]
fn rollout_view_mid_rollout() {
    let s = mid_rollout();
    insta::assert_snapshot!(render_sized(&s, 20));
}

#[test]
fn rollout_view_after_a_failure() {
    use shipdeck::rollout::events::{HostPhase, RolloutEvent};
    let mut s = mid_rollout();
    host_phase(
        &mut s,
        "web-02",
        HostPhase::Failed,
        62.0,
        Some(
            "health gate: GET http://10.0.0.12:8080/health → 503 Service Unavailable (7 of 7 probes)",
        ),
    );
    // The executor sends the failed container's last lines itself.
    rollout_event(
        &mut s,
        RolloutEvent::HostLog {
            host: "web-02".into(),
            lines: vec![
                "12:00:01 INFO  starting storefront v3".into(),
                "12:00:02 ERROR datasource: connection to db-01:5432 refused".into(),
                "12:00:02 ERROR health: /health returns 503 (db down)".into(),
            ],
            error: None,
        },
    );
    host_phase(&mut s, "web-02", HostPhase::Restoring, 63.0, None);
    host_phase(&mut s, "web-02", HostPhase::Restored, 65.0, None);
    finished(
        &mut s,
        Outcome::Failed,
        70.0,
        "web-02 failed its health gate; it serves v1 again",
    );
    insta::assert_snapshot!(render_sized(&s, 24));
}

#[test]
fn rollout_view_with_hooks_and_a_failing_pre_host_hook() {
    use shipdeck::config::HookPoint;
    use shipdeck::rollout::events::{HostPhase, RolloutEvent};
    let mut s = mid_rollout();
    let hook = |on, host: Option<&str>, ok, detail: &str| RolloutEvent::Hook {
        on,
        hook: "webhook https://lb.example.internal/api/drain".into(),
        host: host.map(str::to_string),
        ok,
        secs: 0.2,
        detail: detail.into(),
        required: on == HookPoint::PreHost,
    };
    rollout_event(
        &mut s,
        hook(HookPoint::PostHost, Some("web-01"), true, "HTTP 200"),
    );
    rollout_event(
        &mut s,
        hook(
            HookPoint::PreHost,
            Some("web-03"),
            false,
            "HTTP 503 Service Unavailable: pool busy",
        ),
    );
    host_phase(
        &mut s,
        "web-03",
        HostPhase::Failed,
        0.2,
        Some(
            "the pre_host hook (webhook https://lb.example.internal/api/drain) failed: HTTP 503 Service Unavailable: pool busy",
        ),
    );
    rollout_event(
        &mut s,
        hook(
            HookPoint::PostRollout,
            None,
            false,
            "the request failed: connection refused",
        ),
    );
    insta::assert_snapshot!(render_sized(&s, 24));
}

#[test]
fn rollout_view_after_a_rollback() {
    use shipdeck::rollout::events::{HostPhase, RolloutEvent};
    let mut s = mid_rollout();
    host_phase(
        &mut s,
        "web-02",
        HostPhase::Failed,
        62.0,
        Some("health gate: container exited (code 1)"),
    );
    rollout_event(
        &mut s,
        RolloutEvent::RollingBack {
            hosts: vec!["web-01".into(), "web-02".into()],
            reason: "web-02 failed (failure_action = rollback)".into(),
        },
    );
    host_phase(&mut s, "web-01", HostPhase::RollingBack, 64.0, None);
    host_phase(&mut s, "web-02", HostPhase::RollingBack, 64.0, None);
    host_phase(&mut s, "web-01", HostPhase::RolledBack, 66.0, None);
    host_phase(&mut s, "web-02", HostPhase::RolledBack, 66.5, None);
    finished(
        &mut s,
        Outcome::RolledBack,
        71.0,
        "rolled back to v2 on web-01, web-02",
    );
    insta::assert_snapshot!(render_sized(&s, 20));
}

#[test]
fn confirm_dialog_plain_abort() {
    use shipdeck::app::model::release::RolloutPane;
    use shipdeck::rollout::journal::Action as ReleaseAction;
    let mut s = state();
    hosts_of(&mut s, "storefront", "dev");
    s.env_releases_mut("storefront", "dev").rollout = Some(RolloutPane::new(
        ReleaseAction::Deploy,
        "v4".into(),
        now(),
        60.0,
    ));
    assert!(update(&mut s, key('A')).is_empty());
    let shipdeck::app::Mode::Confirm(c) = &s.mode else {
        panic!("no confirmation: {:?}", s.flash)
    };
    assert!(c.expected.is_none(), "dev is not protected");
    insta::assert_snapshot!(render_sized(&s, 20));
}

/// D in storefront/prod, a tag picked, the plan arrived: the typed
/// confirmation with the plan preview.
fn deploy_to_prod() -> State {
    use shipdeck::registry::TagInfo;
    let mut s = state();
    hosts_of(&mut s, "storefront", "prod");
    let fx = update(&mut s, key('D'));
    assert_eq!(
        fx,
        vec![Effect::LoadTags {
            project: "storefront".into()
        }]
    );
    update(
        &mut s,
        Action::Tags {
            project: "storefront".into(),
            result: Ok(vec![TagInfo {
                tag: "v3".into(),
                digest: Some(format!("sha256:{}", "v3".repeat(8))),
                created: Some(at(300)),
                size: Some(12_582_912),
            }]),
        },
    );
    let fx = update(&mut s, enter());
    assert_eq!(
        fx,
        vec![Effect::LoadPlan {
            project: "storefront".into(),
            env: "prod".into(),
            version: "v3".into()
        }]
    );
    let mut plan = prod_plan();
    plan.warnings = vec!["web-03 does not answer: it is left out under skip-host".into()];
    update(
        &mut s,
        Action::Plan {
            project: "storefront".into(),
            env: "prod".into(),
            result: Ok(plan),
        },
    );
    s
}

#[test]
fn confirm_dialog_typed_deploy_to_prod() {
    let mut s = deploy_to_prod();
    let shipdeck::app::Mode::Confirm(c) = &s.mode else {
        panic!("no confirmation: {:?}", s.flash)
    };
    assert_eq!(c.expected.as_deref(), Some("prod"));
    // Enter before the name is typed releases nothing.
    assert!(update(&mut s, enter()).is_empty());
    for c in "pro".chars() {
        update(&mut s, key(c));
    }
    insta::assert_snapshot!(render_sized(&s, 24));
}

#[test]
fn plan_preview_of_a_plain_deploy() {
    let mut s = state();
    hosts_of(&mut s, "storefront", "dev");
    for c in ":deploy v4".chars() {
        update(&mut s, key(c));
    }
    let fx = update(&mut s, enter());
    assert!(matches!(fx.as_slice(), [Effect::LoadPlan { .. }]), "{fx:?}");
    update(
        &mut s,
        Action::Plan {
            project: "storefront".into(),
            env: "dev".into(),
            result: Ok(shipdeck::rollout::plan::Plan {
                project: "storefront".into(),
                env: "dev".into(),
                version: "v4".into(),
                image: "registry.example.com/shop/storefront:v4".into(),
                hosts: vec!["build-01".into()],
                batches: vec![vec!["build-01".into()]],
                max_unavailable: 1,
                min_serving: 0,
                canary: true,
                gates: vec!["health: http /health on 8080, 60s".into()],
                confirm: false,
                predicted_secs: None,
                warnings: vec!["the registry has no tag v4 yet".into()],
            }),
        },
    );
    let shipdeck::app::Mode::Confirm(c) = &s.mode else {
        panic!("no confirmation: {:?}", s.flash)
    };
    assert!(c.expected.is_none());
    insta::assert_snapshot!(render_sized(&s, 20));
}

#[test]
fn rollback_picker_offers_versions_kept_on_every_host() {
    use shipdeck::domain::Role;
    let mut s = state();
    let kept = |version: &str, ago: i64, day: u32| {
        let mut c = container("storefront", "prod", version, Health::Healthy, ago);
        c.id = format!("storefront-prod-{version}-kept");
        c.name = format!("storefront.prod.{version}");
        c.role = Role::Kept;
        c.state = ContainerState::Exited;
        c.deployed_at = Some(format!("2026-11-{day:02}T10:00:00Z"));
        c
    };
    for (host, serving) in [("web-01", "v2"), ("web-02", "v2"), ("web-03", "v2")] {
        update(
            &mut s,
            Action::Fleet(FleetUpdate::Connected {
                host: host.into(),
                api_version: "1.41".into(),
                containers: vec![
                    container("storefront", "prod", serving, Health::Healthy, 3600),
                    kept("v1", 90_000, 19),
                    kept("v0", 190_000, 10),
                ],
            }),
        );
    }
    hosts_of(&mut s, "storefront", "prod");
    let fx = update(&mut s, key('R'));
    assert_eq!(
        fx,
        vec![Effect::LoadHistory {
            project: "storefront".into(),
            env: "prod".into()
        }]
    );
    update(
        &mut s,
        Action::History {
            project: "storefront".into(),
            env: "prod".into(),
            result: Ok(vec![
                release("r-1", "v0", Some(Outcome::Succeeded), 10),
                release("r-2", "v1", Some(Outcome::Succeeded), 5),
                release("r-3", "v2", Some(Outcome::Succeeded), 1),
            ]),
        },
    );
    insta::assert_snapshot!(render_sized(&s, 20));
}

fn release(id: &str, version: &str, result: Option<Outcome>, days_ago: i64) -> ReleaseSummary {
    let started = at(days_ago * 86_400);
    ReleaseSummary {
        release: id.into(),
        project: "storefront".into(),
        env: "prod".into(),
        action: shipdeck::rollout::journal::Action::Deploy,
        version: version.into(),
        digest: Some(format!("sha256:{}", version.repeat(8))),
        from_versions: Vec::new(),
        user: "ops@laptop".into(),
        started_at: started,
        finished_at: Some(started + chrono::Duration::seconds(95)),
        result,
        duration_secs: Some(95.0),
        hosts: 3,
        message: String::new(),
        note: String::new(),
        promoted_from: None,
        resumes: None,
        rolled_back: false,
        needs_operator: Vec::new(),
    }
}

#[test]
fn history_view_with_a_failed_and_a_rolled_back_release() {
    let mut s = state();
    hosts_of(&mut s, "storefront", "prod");
    let fx = update(&mut s, key('H'));
    // The hosts view's stats stop with it.
    assert_eq!(
        fx,
        vec![
            Effect::LoadHistory {
                project: "storefront".into(),
                env: "prod".into()
            },
            Effect::WatchStats {
                containers: Vec::new()
            }
        ]
    );
    let mut failed = release("r-20261119-1", "v2", Some(Outcome::Failed), 2);
    failed.message = "web-02 failed its health gate".into();
    let mut rolled = release("r-20261120-1", "v3", Some(Outcome::RolledBack), 1);
    rolled.message = "rolled back to v1 (failure_action = rollback)".into();
    let mut good = release("r-20261121-1", "v2", Some(Outcome::Succeeded), 0);
    good.note = "retry after the db fix".into();
    good.message = good.note.clone();
    update(
        &mut s,
        Action::History {
            project: "storefront".into(),
            env: "prod".into(),
            result: Ok(vec![
                release("r-20261118-1", "v1", Some(Outcome::Succeeded), 3),
                failed,
                rolled,
                good,
            ]),
        },
    );
    insta::assert_snapshot!(render_sized(&s, 14));
}

#[test]
fn readonly_refusal_message() {
    let mut s = state();
    s.readonly = true;
    hosts_of(&mut s, "storefront", "prod");
    assert!(update(&mut s, key('D')).is_empty());
    assert!(matches!(s.mode, shipdeck::app::Mode::Normal));
    insta::assert_snapshot!(render(&s));
}

#[test]
fn hosts_view_at_40_columns() {
    let mut s = state();
    hosts_of(&mut s, "storefront", "prod");
    insta::assert_snapshot!(render_wh(&s, 40, 12));
}

#[test]
fn hosts_view_at_80_columns() {
    let mut s = state();
    hosts_of(&mut s, "storefront", "prod");
    insta::assert_snapshot!(render_wh(&s, 80, 12));
}

#[test]
fn host_detail_view() {
    let mut s = state();
    update(&mut s, Action::Command(Command::Palette));
    for c in "env storefront/prod".chars() {
        update(&mut s, key(c));
    }
    update(
        &mut s,
        Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    update(&mut s, Action::Command(Command::Down));
    update(&mut s, Action::Command(Command::Enter));
    assert!(
        matches!(&s.screen().view, shipdeck::app::View::HostDetail { host, .. } if host == "web-02"),
        "{:?}",
        s.screen().view
    );
    insta::assert_snapshot!(render_sized(&s, 24));
}

#[test]
fn release_events_view() {
    let mut s = state();
    s.stack.push(shipdeck::app::state::Screen::new(
        shipdeck::app::View::Release {
            project: "storefront".into(),
            env: "prod".into(),
            release: "r-20261121-1".into(),
        },
    ));
    s.release_events.insert(
        "r-20261121-1".into(),
        shipdeck::app::state::Loadable::Ready(vec![
            "2026-11-21 11:58:00  started    ops@laptop           {\"action\":\"deploy\",\"version\":\"v2\"}".into(),
            "2026-11-21 11:58:04  pulled     ops@laptop           {\"digest\":\"sha256:v2v2\"}".into(),
            "2026-11-21 11:59:10  finished   ops@laptop           {\"result\":\"succeeded\"}".into(),
        ]),
    );
    insta::assert_snapshot!(render_sized(&s, 10));
}

#[test]
fn a_long_message_wraps_instead_of_being_cut() {
    let mut s = state();
    s.flash = Some(shipdeck::app::state::Flash {
        text: "storefront/prod is locked by ops@laptop (release r-20261121-1, running): wait, or X breaks the lock; the lock expires 30 s after its holder's last heartbeat".into(),
        error: true,
    });
    insta::assert_snapshot!(render_sized(&s, 10));
}

/// storefront/prod's logs (every host) from the environments view, with
/// `lines` streamed in; the stream's generation is the effect's.
fn logs_of_prod(events: Vec<shipdeck::engine::logs::LogEvent>) -> State {
    let mut s = state();
    update(&mut s, Action::Command(Command::Enter)); // storefront
    update(&mut s, Action::Command(Command::Bottom)); // prod
    let fx = update(&mut s, key('L'));
    let generation = match fx.as_slice() {
        [
            Effect::StreamLogs {
                generation,
                targets,
                range,
            },
        ] => {
            assert_eq!(targets.hosts, vec!["web-01", "web-02", "web-03"]);
            assert!(range.follow && range.tail == Some(100), "{range:?}");
            *generation
        }
        other => panic!("{other:?}"),
    };
    update(&mut s, Action::Logs { generation, events });
    s
}

fn log_line(
    host: &str,
    secs_ago: i64,
    stderr: bool,
    text: &str,
) -> shipdeck::engine::logs::LogEvent {
    shipdeck::engine::logs::LogEvent::Line(shipdeck::engine::logs::LogLine {
        host: host.into(),
        container: format!("storefront-prod-{host}").into(),
        ts: Some(at(secs_ago)),
        stderr,
        text: text.into(),
    })
}

fn chatty_prod() -> Vec<shipdeck::engine::logs::LogEvent> {
    use shipdeck::engine::logs::LogEvent;
    vec![
        log_line("web-01", 30, false, "GET /cart 200 12ms"),
        log_line("web-02", 29, false, "GET /health 503 db down"),
        log_line(
            "web-02",
            29,
            true,
            "ERROR datasource: connection to db-01:5432 refused",
        ),
        LogEvent::Dropped {
            host: "web-01".into(),
            lines: 1520,
        },
        log_line("web-01", 20, false, "GET /checkout 200 48ms"),
        LogEvent::Reconnected {
            host: "web-02".into(),
            secs: 3.2,
        },
        log_line("web-02", 10, false, "GET /health 200 after db reconnect"),
        log_line("web-01", 9, false, "POST /checkout 500 payment timeout"),
        log_line("web-01", 5, false, "GET /cart 200 9ms"),
    ]
}

#[test]
fn logs_view_of_every_host_with_drop_and_reconnect_markers() {
    let s = logs_of_prod(chatty_prod());
    insta::assert_snapshot!(render_sized(&s, 16));
}

#[test]
fn logs_view_with_a_filter_a_search_and_timestamps() {
    let mut s = logs_of_prod(chatty_prod());
    for c in "/!health".chars() {
        update(&mut s, key(c));
    }
    update(&mut s, enter());
    for c in "fGET".chars() {
        update(&mut s, key(c));
    }
    update(&mut s, enter());
    // `N`: the hit before the last one.
    update(&mut s, key('N'));
    update(&mut s, key('c'));
    let pane = s.logs.as_ref().unwrap();
    assert_eq!(pane.counter(), Some((2, 3)));
    insta::assert_snapshot!(render_sized(&s, 16));
}

#[test]
fn logs_view_wraps_a_long_line() {
    let long = format!(
        "WARN slow query: SELECT * FROM orders WHERE {} took 2.3s",
        "id IN (1, 2, 3) AND ".repeat(8)
    );
    let mut s = logs_of_prod(vec![
        log_line("web-01", 10, false, "GET /cart 200 12ms"),
        log_line("web-03", 8, false, &long),
        log_line("web-01", 5, false, "GET /cart 200 9ms"),
    ]);
    update(&mut s, key('w'));
    insta::assert_snapshot!(render_sized(&s, 12));
}

#[test]
fn health_timeline_with_rollout_marks() {
    use shipdeck::rollout::events::{HostPhase, RolloutEvent};
    use shipdeck::rollout::journal::Action as ReleaseAction;
    let mut s = state();
    hosts_of(&mut s, "storefront", "prod");
    let later = |m: i64| now() + chrono::Duration::minutes(m);
    s.now = later(2);
    let mut c = container("storefront", "prod", "v1", Health::Healthy, 42);
    c.restarts = 3;
    update(
        &mut s,
        Action::Fleet(FleetUpdate::Container {
            host: "web-02".into(),
            container: Box::new(c),
        }),
    );
    s.now = later(3);
    rollout_event(
        &mut s,
        RolloutEvent::Planned {
            release: "r-20261121-2".into(),
            action: ReleaseAction::Deploy,
            plan: prod_plan(),
        },
    );
    s.now = later(4);
    let mut stopped = container("storefront", "prod", "v2", Health::Healthy, 3725);
    stopped.state = ContainerState::Exited;
    update(
        &mut s,
        Action::Fleet(FleetUpdate::Container {
            host: "web-01".into(),
            container: Box::new(stopped),
        }),
    );
    s.now = later(5);
    host_phase(
        &mut s,
        "web-01",
        HostPhase::WaitingHealth,
        20.0,
        Some("GET http://10.0.0.11:8080/health → 200 OK"),
    );
    update(
        &mut s,
        Action::Fleet(FleetUpdate::Container {
            host: "web-01".into(),
            container: Box::new(container("storefront", "prod", "v3", Health::Healthy, 10)),
        }),
    );
    host_phase(&mut s, "web-01", HostPhase::Healthy, 21.0, None);
    s.now = later(8);
    let fx = update(&mut s, key('e'));
    assert_eq!(
        s.screen().view,
        shipdeck::app::View::Health {
            project: "storefront".into(),
            env: "prod".into()
        }
    );
    assert!(
        fx.iter().all(|e| matches!(e, Effect::WatchStats { .. })),
        "{fx:?}"
    );
    insta::assert_snapshot!(render_sized(&s, 18));
}

#[test]
fn hosts_view_with_cpu_and_memory_sparklines() {
    let mut s = state();
    hosts_of(&mut s, "storefront", "prod");
    // Only the running serving containers on screen are read.
    assert_eq!(
        s.stats.watching,
        vec![
            ("web-01".to_string(), "storefront-prod-v2-3725".to_string()),
            ("web-02".to_string(), "storefront-prod-v1-42".to_string()),
        ]
    );
    let cpu = [3.0, 5.0, 8.0, 20.0, 35.0, 30.0, 12.0, 6.0];
    for (i, c) in cpu.iter().enumerate() {
        for (id, scale, mem) in [
            ("storefront-prod-v2-3725", 1.0, 180u64 << 20),
            ("storefront-prod-v1-42", 3.0, 470u64 << 20),
        ] {
            update(
                &mut s,
                Action::Stats {
                    id: id.into(),
                    sample: shipdeck::app::stats::Sample {
                        cpu: c * scale,
                        mem: mem + (i as u64) * (4 << 20),
                        limit: 512 << 20,
                    },
                },
            );
        }
    }
    // A container not on screen is not kept.
    update(
        &mut s,
        Action::Stats {
            id: "elsewhere".into(),
            sample: shipdeck::app::stats::Sample {
                cpu: 1.0,
                mem: 1,
                limit: 2,
            },
        },
    );
    assert!(!s.stats.series.contains_key("elsewhere"));
    insta::assert_snapshot!(render_sized(&s, 8));
}
