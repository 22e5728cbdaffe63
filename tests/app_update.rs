//! `update()` without a terminal or an engine: navigation, filter, palette,
//! fleet updates and selection clamping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use shipdeck::app::{Action, Command, Effect, Mode, State, View, update};
use shipdeck::domain::{FleetUpdate, Reachability};

const CONFIG: &str = r#"
[[environments]]
name = "dev"
[[environments]]
name = "prod"
[[hosts]]
name = "a1"
endpoint = "tcp://10.0.0.1:2375"
[[hosts]]
name = "a2"
endpoint = "tcp://10.0.0.2:2375"
[[hosts]]
name = "b1"
endpoint = "tcp://10.0.0.3:2375"
[[projects]]
name = "alpha"
image = "r.example.com/alpha"
[projects.hosts]
dev = ["a1"]
prod = ["a1", "a2", "b1"]
[[projects]]
name = "beta"
image = "r.example.com/beta"
[projects.hosts]
prod = ["b1"]
"#;

fn state() -> State {
    let config = shipdeck::config::load_str(CONFIG, Path::new("t.toml")).unwrap();
    State::new(Arc::new(config), chrono::Utc::now())
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(s: &mut State, text: &str) {
    for c in text.chars() {
        update(s, key(KeyCode::Char(c)));
    }
}

#[test]
fn drill_down_and_back() {
    let mut s = state();
    assert_eq!(s.screen().view, View::Projects);
    update(&mut s, key(KeyCode::Char('j'))); // beta
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(
        s.screen().view,
        View::Environments {
            project: "beta".into()
        }
    );
    update(&mut s, key(KeyCode::Char('G'))); // prod
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(
        s.screen().view,
        View::Hosts {
            project: "beta".into(),
            env: "prod".into()
        }
    );
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Esc)); // extra esc at the root is harmless
    assert_eq!(s.screen().view, View::Projects);
    assert_eq!(s.screen().selected, 1, "selection kept when coming back");
}

#[test]
fn selection_is_bounded() {
    let mut s = state();
    for _ in 0..5 {
        update(&mut s, Action::Command(Command::Down));
    }
    assert_eq!(s.screen().selected, 1);
    for _ in 0..5 {
        update(&mut s, Action::Command(Command::Up));
    }
    assert_eq!(s.screen().selected, 0);
    update(&mut s, Action::Command(Command::HalfPageDown));
    assert_eq!(s.screen().selected, 1);
}

#[test]
fn filter_narrows_rows_and_esc_clears_it() {
    let mut s = state();
    update(&mut s, key(KeyCode::Char('/')));
    assert!(matches!(s.mode, Mode::Filter(_)));
    typed(&mut s, "bet");
    assert_eq!(shipdeck::app::rows::row_names(&s), vec!["beta"]);
    update(&mut s, key(KeyCode::Enter));
    assert!(matches!(s.mode, Mode::Normal));
    assert_eq!(s.screen().filter, "bet");
    // q in normal mode quits, but while typing a filter it is text.
    update(&mut s, key(KeyCode::Char('/')));
    typed(&mut s, "q");
    assert!(matches!(s.mode, Mode::Filter(_)));
    assert!(shipdeck::app::rows::row_names(&s).is_empty());
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen().filter, "");
    assert_eq!(shipdeck::app::rows::row_names(&s).len(), 2);
}

#[test]
fn palette_jumps_and_reports_unknown_names() {
    let mut s = state();
    update(&mut s, key(KeyCode::Char(':')));
    typed(&mut s, "env alpha/prod");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(
        s.screen().view,
        View::Hosts {
            project: "alpha".into(),
            env: "prod".into()
        }
    );
    // Inside a project, :env NAME stays in it.
    update(&mut s, key(KeyCode::Char(':')));
    typed(&mut s, "env dev");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(
        s.screen().view,
        View::Hosts {
            project: "alpha".into(),
            env: "dev".into()
        }
    );
    update(&mut s, key(KeyCode::Char(':')));
    typed(&mut s, "env qa");
    update(&mut s, key(KeyCode::Enter));
    let flash = s.flash.clone().unwrap();
    assert!(flash.error && flash.text.contains("\"qa\""), "{flash:?}");
    update(&mut s, key(KeyCode::Char(':')));
    typed(&mut s, "projects");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.screen().view, View::Projects);
    update(&mut s, key(KeyCode::Char(':')));
    typed(&mut s, "q");
    assert_eq!(update(&mut s, key(KeyCode::Enter)), vec![Effect::Quit]);
}

#[test]
fn quit_and_help() {
    let mut s = state();
    update(&mut s, key(KeyCode::Char('?')));
    assert!(matches!(s.mode, Mode::Help));
    // Any key closes help without acting.
    assert!(update(&mut s, key(KeyCode::Char('j'))).is_empty());
    assert!(matches!(s.mode, Mode::Normal));
    assert_eq!(s.screen().selected, 0);
    assert_eq!(update(&mut s, key(KeyCode::Char('q'))), vec![Effect::Quit]);
}

#[test]
fn fleet_updates_mark_dirty_only_on_change() {
    let mut s = state();
    s.dirty = false;
    let down = FleetUpdate::Unreachable {
        host: "a2".into(),
        error: "connection refused".into(),
        at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        retry_at: chrono::DateTime::from_timestamp(1_700_000_001, 0).unwrap(),
    };
    update(&mut s, Action::Fleet(down.clone()));
    assert!(s.dirty);
    assert!(matches!(
        s.fleet.hosts["a2"].reach,
        Reachability::Unreachable { .. }
    ));
    s.dirty = false;
    update(&mut s, Action::Fleet(down));
    assert!(!s.dirty, "the same report twice is not a change");
    // A retry keeps showing Unreachable instead of flickering to Connecting.
    update(
        &mut s,
        Action::Fleet(FleetUpdate::Connecting { host: "a2".into() }),
    );
    assert!(!s.dirty);
    assert!(matches!(
        s.fleet.hosts["a2"].reach,
        Reachability::Unreachable { .. }
    ));
    // Reports about hosts not in the inventory are ignored.
    update(
        &mut s,
        Action::Fleet(FleetUpdate::Connecting { host: "zz".into() }),
    );
    assert!(!s.dirty);
}

#[test]
fn dockerfile_and_tags_open_views_and_ask_the_runner() {
    let mut s = state();
    // From the projects view, the selected project.
    let fx = update(&mut s, Action::Command(Command::Dockerfile));
    assert_eq!(
        fx,
        vec![Effect::LoadDockerfile {
            project: "alpha".into()
        }]
    );
    assert_eq!(
        s.screen().view,
        View::Dockerfile {
            project: "alpha".into()
        }
    );
    update(
        &mut s,
        Action::Dockerfile {
            project: "alpha".into(),
            result: Ok("FROM busybox\nRUN true\nCOPY . /app\n".into()),
        },
    );
    update(&mut s, Action::Command(Command::Bottom));
    assert_eq!(s.screen().selected, 2, "one row per line");
    // `t` from there: the same project's tags; esc goes back.
    let fx = update(&mut s, key(KeyCode::Char('t')));
    assert_eq!(
        fx,
        vec![Effect::LoadTags {
            project: "alpha".into()
        }]
    );
    update(
        &mut s,
        Action::Tags {
            project: "alpha".into(),
            result: Err("registry unreachable".into()),
        },
    );
    assert_eq!(
        s.tags.get("alpha"),
        Some(&shipdeck::app::state::Loadable::Failed(
            "registry unreachable".into()
        ))
    );
    // `t` replaced the Dockerfile view: Esc goes back to where `d` was pressed,
    // and d/t/d/t never pile views up.
    assert_eq!(s.stack.len(), 2);
    update(&mut s, key(KeyCode::Char('d')));
    update(&mut s, key(KeyCode::Char('t')));
    assert_eq!(s.stack.len(), 2);
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen().view, View::Projects);
    // A second `t` while the first answer is pending asks nothing more.
    let mut s = state();
    assert_eq!(update(&mut s, key(KeyCode::Char('t'))).len(), 1);
    assert!(update(&mut s, key(KeyCode::Char('t'))).is_empty());
    // Alt chords are not the plain key (readline's alt-b must not build).
    let alt_b = Action::Key(KeyEvent::new(KeyCode::Char('b'), KeyModifiers::ALT));
    assert!(update(&mut s, alt_b).is_empty());
    // `:tags NAME` names the project; an unknown one is refused.
    let mut s = state();
    typed(&mut s, ":tags beta");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::LoadTags {
            project: "beta".into()
        }]
    );
    typed(&mut s, ":build nope");
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(
        s.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("nope"))
    );
    // Inside an environment, the project of the view.
    let mut s = state();
    update(&mut s, key(KeyCode::Char('j'))); // beta
    update(&mut s, key(KeyCode::Enter));
    let fx = update(&mut s, key(KeyCode::Char('t')));
    assert_eq!(
        fx,
        vec![Effect::LoadTags {
            project: "beta".into()
        }]
    );
}

#[test]
fn builds_need_a_build_table_and_a_writable_console() {
    let mut s = state();
    // alpha has no [projects.build]: refused with a message, nothing started.
    let fx = update(&mut s, key(KeyCode::Char('b')));
    assert!(fx.is_empty());
    let flash = s.flash.clone().expect("a message");
    assert!(
        flash.error && flash.text.contains("no [projects.build]"),
        "{flash:?}"
    );
    assert_eq!(s.screen().view, View::Projects);

    let mut s = state();
    s.readonly = true;
    let fx = update(&mut s, key(KeyCode::Char('b')));
    assert!(fx.is_empty());
    assert!(
        s.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("read-only"))
    );
}

#[test]
fn build_output_streams_into_its_pane_and_follows_the_bottom() {
    use shipdeck::app::state::{BuildPane, BuildStatus};
    use shipdeck::image::BuildEvent;
    let mut s = state();
    s.builds.insert("alpha".into(), BuildPane::new());
    s.stack.push(shipdeck::app::state::Screen::new(View::Build {
        project: "alpha".into(),
    }));
    let out = |line: &str| Action::Build {
        project: "alpha".into(),
        event: BuildEvent::Output { line: line.into() },
    };
    for i in 0..5 {
        update(&mut s, out(&format!("line {i}")));
    }
    assert_eq!(s.screen().selected, 4, "follows the newest line");
    update(&mut s, Action::Command(Command::Top));
    update(&mut s, out("line 5"));
    assert_eq!(s.screen().selected, 0, "scrolled up: stays put");
    update(&mut s, Action::Command(Command::Bottom));
    update(&mut s, out("line 6"));
    assert_eq!(s.screen().selected, 6, "back at the bottom: follows again");
    update(
        &mut s,
        Action::BuildDone {
            project: "alpha".into(),
            result: Err("build of alpha failed at step 3/6".into()),
        },
    );
    assert_eq!(
        s.builds["alpha"].status,
        BuildStatus::Failed("build of alpha failed at step 3/6".into())
    );
    assert!(s.flash.as_ref().is_some_and(|f| f.error));
}

#[test]
fn quitting_during_a_build_asks_for_a_second_q() {
    use shipdeck::app::state::BuildPane;
    let mut s = state();
    s.builds.insert("alpha".into(), BuildPane::new());
    assert!(update(&mut s, key(KeyCode::Char('q'))).is_empty());
    assert!(
        s.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("build of alpha is running"))
    );
    // Any other key disarms; q then asks again.
    update(&mut s, key(KeyCode::Char('j')));
    assert!(update(&mut s, key(KeyCode::Char('q'))).is_empty());
    assert_eq!(update(&mut s, key(KeyCode::Char('q'))), vec![Effect::Quit]);
    // With no build running, q quits at once.
    let mut s = state();
    assert_eq!(update(&mut s, key(KeyCode::Char('q'))), vec![Effect::Quit]);
}

/// `:q` asks what `q` asks: it once quit at once, whatever ran.
#[test]
fn quitting_from_the_palette_asks_like_the_key() {
    use shipdeck::app::state::BuildPane;
    let mut s = state();
    s.builds.insert("alpha".into(), BuildPane::new());
    typed(&mut s, ":q");
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(
        s.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("build of alpha is running")),
        "{:?}",
        s.flash
    );
    let mut s = state();
    typed(&mut s, ":quit");
    assert_eq!(update(&mut s, key(KeyCode::Enter)), vec![Effect::Quit]);
}

#[test]
fn keys_from_the_config_replace_the_defaults_in_keys_hints_and_help() {
    let text = format!("{CONFIG}\n[keys]\ndeploy = \"ctrl-e\"\nhelp = [\"F1\", \"?\"]\n")
        .replace("F1", "f1");
    let config = shipdeck::config::load_str(&text, Path::new("t.toml")).unwrap();
    let s = State::new(Arc::new(config), chrono::Utc::now());
    let ctrl_e = KeyEvent::new(KeyCode::Char('e'), KeyModifiers::CONTROL);
    assert_eq!(s.keymap.command(ctrl_e), Some(Command::Deploy));
    // The default key of a remapped command is free again.
    assert_eq!(
        s.keymap
            .command(KeyEvent::new(KeyCode::Char('D'), KeyModifiers::NONE)),
        None
    );
    assert_eq!(
        s.keymap.keys_for(Command::Deploy),
        vec!["ctrl-e".to_string()]
    );
    assert_eq!(
        s.keymap.keys_for(Command::Help),
        vec!["f1".to_string(), "?".to_string()]
    );
}
