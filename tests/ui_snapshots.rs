//! One insta snapshot per view, drawn on ratatui's `TestBackend` from a fixed
//! state (config + fleet + pinned clock), so layout changes show up in review.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::app::{Action, Command, State, update};
use shipdeck::domain::{AppContainer, ContainerState, FleetUpdate, Health};
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
