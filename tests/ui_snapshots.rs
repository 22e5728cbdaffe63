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
        digest: Some("sha256:abc".into()),
        image: format!("registry.example.com/shop/{project}:{version}"),
        role: "current".into(),
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
            retry_in_secs: 4,
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
    let theme: Theme = shipdeck::theme::load("default", None, false).expect("theme");
    let mut term = Terminal::new(TestBackend::new(120, 14)).unwrap();
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
    insta::assert_snapshot!(render(&s));
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
