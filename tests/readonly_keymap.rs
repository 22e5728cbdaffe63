//! The read-only promise, key by key: every binding of the default keymap in
//! every view an operator reaches, in a `--readonly` console and in an
//! environment whose inventory says `readonly = true`. A mutating command is
//! refused with a message and no effect; the footer never offers one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fixture::{self, INVENTORY, container, now, summary};
use crossterm::event::{KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::app::command::COMMANDS;
use shipdeck::app::keymap::Key;
use shipdeck::app::model::release::RolloutPane;
use shipdeck::app::{Action, Command, Effect, Keymap, Mode, State, update};
use shipdeck::domain::{FleetUpdate, Role};
use shipdeck::rollout::events::{HostPhase, RolloutEvent};
use shipdeck::rollout::journal::{Action as ReleaseAction, Outcome};
use shipdeck::rollout::plan::Plan;
use shipdeck::theme::Theme;

/// A fleet where every command has something to act on: serving and kept
/// containers everywhere, a rollout of this console running in every
/// environment, an unfinished release, history.
fn state(readonly: bool) -> State {
    let mut s = fixture::state(INVENTORY, readonly);
    let hosts: [(&str, &[&str]); 3] = [
        ("a1", &["dev", "prod"]),
        ("a2", &["staging", "prod"]),
        ("b1", &["prod"]),
    ];
    for (host, envs) in hosts {
        let containers = envs
            .iter()
            .flat_map(|e| {
                [
                    container("alpha", e, "v2", Role::Serving),
                    container("alpha", e, "v1", Role::Kept),
                ]
            })
            .collect();
        update(
            &mut s,
            Action::Fleet(FleetUpdate::Connected {
                host: host.into(),
                api_version: "1.41".into(),
                containers,
            }),
        );
    }
    for env in ["dev", "staging", "prod"] {
        let hosts: Vec<String> = s.config.project("alpha").unwrap().hosts_in(env).to_vec();
        s.env_releases_mut("alpha", env).rollout = Some(RolloutPane::new(
            ReleaseAction::Deploy,
            "v3".into(),
            now(),
            30.0,
        ));
        let plan = Plan {
            project: "alpha".into(),
            env: env.into(),
            version: "v3".into(),
            image: "r.example.com/alpha:v3".into(),
            hosts: hosts.clone(),
            batches: vec![hosts.clone()],
            max_unavailable: 1,
            min_serving: hosts.len() - 1,
            canary: false,
            gates: Vec::new(),
            confirm: false,
            predicted_secs: None,
            warnings: Vec::new(),
        };
        let events = [
            RolloutEvent::Planned {
                release: format!("r-{env}-v3"),
                action: ReleaseAction::Deploy,
                plan,
            },
            RolloutEvent::BatchStarted {
                index: 1,
                total: 1,
                hosts: hosts.clone(),
            },
            RolloutEvent::Host {
                host: hosts[0].clone(),
                phase: HostPhase::WaitingHealth,
                secs: 2.0,
                detail: None,
            },
        ];
        for event in events {
            update(
                &mut s,
                Action::Rollout {
                    project: "alpha".into(),
                    env: env.into(),
                    event,
                },
            );
        }
        update(
            &mut s,
            Action::History {
                project: "alpha".into(),
                env: env.into(),
                result: Ok(vec![
                    summary("alpha", env, "v1", Some(Outcome::Succeeded)),
                    summary("alpha", env, "v2", Some(Outcome::Succeeded)),
                ]),
            },
        );
    }
    s.flash = None;
    s
}

fn key_action(k: &Key) -> Action {
    let m = if k.ctrl {
        KeyModifiers::CONTROL
    } else {
        KeyModifiers::NONE
    };
    Action::Key(KeyEvent::new(k.code, m))
}

/// The views an operator reaches, by the keys that reach them, in `env`.
#[derive(Debug, Clone, Copy)]
enum Where {
    Projects,
    Environments,
    Hosts,
    HostDetail,
    Rollout,
    History,
}

const ALL: [Where; 6] = [
    Where::Projects,
    Where::Environments,
    Where::Hosts,
    Where::HostDetail,
    Where::Rollout,
    Where::History,
];

fn go(s: &mut State, to: Where, env: &str) {
    let c = |s: &mut State, c: Command| {
        update(s, Action::Command(c));
    };
    if matches!(to, Where::Projects) {
        return;
    }
    c(s, Command::Enter); // alpha
    let row = ["dev", "staging", "prod"]
        .iter()
        .position(|e| *e == env)
        .unwrap();
    for _ in 0..row {
        c(s, Command::Down);
    }
    if matches!(to, Where::Environments) {
        assert_eq!(shipdeck::app::rows::row_names(s)[s.screen().selected], env);
        s.flash = None;
        return;
    }
    c(s, Command::Enter);
    match to {
        Where::HostDetail => c(s, Command::Enter),
        Where::Rollout => c(s, Command::Rollout),
        Where::History => c(s, Command::History),
        _ => {}
    }
    let want_env = s.screen().view.env().map(str::to_string);
    assert_eq!(
        want_env.as_deref(),
        Some(env),
        "{to:?}: {:?}",
        s.screen().view
    );
    s.flash = None;
}

/// The footer (last line) as drawn, with the message cleared so hints show.
fn footer(s: &State) -> String {
    let theme: Theme = shipdeck::theme::load("default", None, false).expect("theme");
    let mut s = s.clone();
    s.flash = None;
    let mut term = Terminal::new(TestBackend::new(250, 20)).unwrap();
    term.draw(|f| shipdeck::ui::draw(&s, &theme, f)).unwrap();
    let buf = term.backend().buffer().clone();
    let y = buf.area.height - 1;
    (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_string())
        .collect()
}

/// The footer offers no mutating command (by its hint word).
fn assert_footer_offers_nothing_mutating(s: &State, context: &str) {
    if !matches!(s.mode, Mode::Normal) {
        return;
    }
    let line = footer(s);
    for info in COMMANDS.iter().filter(|i| i.mutates) {
        assert!(
            !line.contains(&format!("> {}  ", info.hint)),
            "{context}: the footer offers {:?} ({}): {line:?}",
            info.command,
            info.hint
        );
    }
}

/// Walk every default binding in every view of `env`: mutating commands
/// are refused (message with "read-only", no effect, no dialog).
fn walk(readonly: bool, env: &str) {
    let keymap = Keymap::default();
    let mut refused = 0;
    // The projects view is in no environment: only `--readonly` covers it.
    let views: Vec<Where> = ALL
        .into_iter()
        .filter(|w| readonly || !matches!(w, Where::Projects))
        .collect();
    for &to in &views {
        let mut base = state(readonly);
        go(&mut base, to, env);
        assert_footer_offers_nothing_mutating(&base, &format!("{to:?} in {env}"));
        for (k, command) in keymap.bindings() {
            let mut s = base.clone();
            let view = s.screen().view.clone();
            let fx = update(&mut s, key_action(k));
            let context = format!("{} ({command:?}) in {view:?}", k.label());
            assert!(
                fx.iter().all(|e| !e.mutates()),
                "{context}: mutating effect {fx:?}"
            );
            if command.mutates() {
                assert!(fx.is_empty(), "{context}: effects {fx:?}");
                let flash = s
                    .flash
                    .as_ref()
                    .unwrap_or_else(|| panic!("{context}: no message"));
                assert!(
                    flash.error && flash.text.contains("read-only"),
                    "{context}: {flash:?}"
                );
                assert!(matches!(s.mode, Mode::Normal), "{context}: a dialog opened");
                assert_eq!(s.screen().view, view, "{context}: the view changed");
                refused += 1;
            }
            // Wherever the key led, the footer there offers nothing mutating
            // (for a read-only environment: while it is still the target).
            if readonly || s.refusal(Command::Deploy).is_some() {
                assert_footer_offers_nothing_mutating(&s, &context);
            }
        }
    }
    let mutating = keymap
        .bindings()
        .iter()
        .filter(|(_, c)| c.mutates())
        .count();
    assert_eq!(refused, mutating * views.len(), "{refused} refusals");
}

#[test]
fn readonly_console_refuses_every_mutating_key_in_every_view() {
    for env in ["dev", "staging", "prod"] {
        walk(true, env);
    }
}

#[test]
fn readonly_environment_refuses_every_mutating_key_in_its_views() {
    walk(false, "staging");
}

#[test]
fn the_footer_check_sees_mutating_hints_when_they_are_offered() {
    // The control of the footer assertion: a writable environment offers them.
    // (Every environment here has a rollout running: deploy is not offered
    // while it runs, abort is.)
    let mut s = state(false);
    go(&mut s, Where::Hosts, "dev");
    let line = footer(&s);
    assert!(line.contains("> restart  "), "{line:?}");
    assert!(!line.contains("> deploy  "), "busy: {line:?}");
    go(&mut s, Where::Rollout, "dev");
    let line = footer(&s);
    assert!(line.contains("> abort  "), "{line:?}");
}

#[test]
fn another_environment_still_works_beside_a_readonly_one() {
    // dev, next to the read-only staging: deploy opens its picker, restart
    // its confirmation, in the hosts view and from the environments view.
    let idle = || {
        let mut s = state(false);
        update(
            &mut s,
            Action::Rollout {
                project: "alpha".into(),
                env: "dev".into(),
                event: RolloutEvent::Finished {
                    outcome: Outcome::Succeeded,
                    secs: 20.0,
                    message: "v3 runs healthy".into(),
                    needs_operator: Vec::new(),
                },
            },
        );
        s
    };
    let mut s = idle();
    go(&mut s, Where::Hosts, "dev");
    let fx = update(&mut s, Action::Command(Command::Deploy));
    assert!(matches!(s.mode, Mode::Pick(_)), "{:?}", s.flash);
    assert_eq!(
        fx,
        vec![Effect::LoadTags {
            project: "alpha".into()
        }]
    );

    let mut s = idle();
    go(&mut s, Where::Hosts, "dev");
    update(
        &mut s,
        Action::Key(KeyEvent::new(
            crossterm::event::KeyCode::Char('r'),
            KeyModifiers::NONE,
        )),
    );
    let Mode::Confirm(c) = &s.mode else {
        panic!("no confirmation: {:?}", s.flash)
    };
    assert!(matches!(c.effect, Effect::ContainerAction { .. }));
    let fx = update(&mut s, Action::Confirmed);
    assert!(
        matches!(fx.as_slice(), [Effect::ContainerAction { host, .. }] if host == "a1"),
        "{fx:?}"
    );

    let mut s = idle();
    go(&mut s, Where::Environments, "dev");
    update(&mut s, Action::Command(Command::Deploy));
    assert!(matches!(s.mode, Mode::Pick(_)), "{:?}", s.flash);

    // The same key on the staging row of the environments view is refused.
    let mut s = state(false);
    go(&mut s, Where::Environments, "staging");
    let fx = update(&mut s, Action::Command(Command::Deploy));
    assert!(fx.is_empty());
    assert!(matches!(s.mode, Mode::Normal));
    assert!(
        s.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("read-only") && f.text.contains("staging")),
        "{:?}",
        s.flash
    );
}

/// The console without an inventory (made up from one engine's labels):
/// every mutating binding is refused in every view it opens, with the
/// reason and how to write an inventory; the banner says so on screen.
#[test]
fn a_console_without_an_inventory_refuses_every_mutating_key() {
    use shipdeck::config::discovered::{Seen, from_labels};
    let host = shipdeck::config::Host {
        name: "local".into(),
        endpoint: shipdeck::config::Endpoint::Unix {
            path: "/var/run/docker.sock".into(),
        },
        labels: Vec::new(),
        address: None,
    };
    let seen = |env: &str| Seen {
        project: "alpha".into(),
        env: env.into(),
        image: "r.example.com/alpha:v2".into(),
    };
    let config = from_labels(host, &[seen("dev"), seen("prod")]);
    let mut base = State::new(std::sync::Arc::new(config), now());
    base.readonly = true;
    base.no_inventory = Some(shipdeck::app::NoInventory {
        endpoint: "unix:///var/run/docker.sock".into(),
        source: "DOCKER_HOST".into(),
    });
    update(
        &mut base,
        Action::Fleet(FleetUpdate::Connected {
            host: "local".into(),
            api_version: "1.41".into(),
            containers: ["dev", "prod"]
                .iter()
                .flat_map(|e| {
                    [
                        container("alpha", e, "v2", Role::Serving),
                        container("alpha", e, "v1", Role::Kept),
                    ]
                })
                .collect(),
        }),
    );

    // On screen: the header's tag and the banner under it.
    let theme: Theme = shipdeck::theme::load("default", None, false).expect("theme");
    let mut term = Terminal::new(TestBackend::new(150, 20)).unwrap();
    term.draw(|f| shipdeck::ui::draw(&base, &theme, f)).unwrap();
    let buf = term.backend().buffer().clone();
    let row = |y: u16| -> String {
        (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect()
    };
    assert!(row(0).contains("READ-ONLY (no inventory)"), "{:?}", row(0));
    let banner = format!("{}{}", row(1), row(2));
    assert!(
        banner.contains(
            "No inventory: a read-only view of unix:///var/run/docker.sock (DOCKER_HOST)"
        ),
        "{banner:?}"
    );
    assert!(banner.contains("shipdeck.toml"), "{banner:?}");
    assert!(
        (3..20).any(|y| row(y).contains("alpha") && row(y).contains("dev v2")),
        "the project row"
    );

    let keymap = Keymap::default();
    let mut refused = 0;
    for to in [
        Where::Projects,
        Where::Environments,
        Where::Hosts,
        Where::HostDetail,
    ] {
        let mut at = base.clone();
        go(&mut at, to, "dev");
        assert_footer_offers_nothing_mutating(&at, &format!("{to:?}"));
        for (k, command) in keymap.bindings().iter().filter(|(_, c)| c.mutates()) {
            let mut s = at.clone();
            let fx = update(&mut s, key_action(k));
            let context = format!("{} ({command:?}) in {to:?}", k.label());
            assert!(fx.is_empty(), "{context}: effects {fx:?}");
            assert!(matches!(s.mode, Mode::Normal), "{context}: a dialog opened");
            let text = s.flash.as_ref().map(|f| f.text.clone()).unwrap_or_default();
            assert!(
                text.starts_with("read-only console (no inventory): ")
                    && text.contains("write ./shipdeck.toml"),
                "{context}: {text:?}"
            );
            refused += 1;
        }
    }
    assert!(refused >= 4 * 5, "{refused} refusals");
}
