//! Keys, by mode: the keymap in normal mode; raw keys for the filter, the
//! palette, the confirmation's typed field and the picker's field. One
//! confirm mode holds every destructive effect until it is confirmed.

use crossterm::event::{Event, KeyCode, KeyEvent};
use tui_input::backend::crossterm::EventHandler;

use super::super::state::{Mode, State, View};
use super::super::{Command, Effect};
use super::{common, logs, nav, release};

pub fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    state.dirty = true;
    match &mut state.mode {
        Mode::Normal => {
            // A message stays until the next key; so does an armed quit.
            state.flash = None;
            let armed = std::mem::take(&mut state.quit_armed);
            let command = state.keymap.command(key);
            if armed && command == Some(Command::Quit) {
                return vec![Effect::Quit];
            }
            match command {
                Some(c) => nav::on_command(state, c),
                None => Vec::new(),
            }
        }
        Mode::Help => {
            // Any key closes help; q still quits.
            state.mode = Mode::Normal;
            match state.keymap.command(key) {
                Some(Command::Quit) => nav::on_command(state, Command::Quit),
                _ => Vec::new(),
            }
        }
        Mode::Filter(input) => {
            match key.code {
                KeyCode::Esc => {
                    state.mode = Mode::Normal;
                    if matches!(state.screen().view, View::Logs { .. }) {
                        logs::set_filter(state, "");
                    } else {
                        common::set_filter(state, String::new());
                    }
                }
                KeyCode::Enter => state.mode = Mode::Normal,
                _ => {
                    input.handle_event(&Event::Key(key));
                    let text = input.value().to_string();
                    if matches!(state.screen().view, View::Logs { .. }) {
                        logs::set_filter(state, &text);
                    } else {
                        common::set_filter(state, text);
                    }
                }
            }
            Vec::new()
        }
        Mode::Search(input) => {
            match key.code {
                KeyCode::Esc => state.mode = Mode::Normal,
                KeyCode::Enter => {
                    let text = input.value().trim().to_string();
                    state.mode = Mode::Normal;
                    logs::set_search(state, &text);
                }
                _ => {
                    input.handle_event(&Event::Key(key));
                }
            }
            Vec::new()
        }
        Mode::Palette(input) => match key.code {
            KeyCode::Esc => {
                state.mode = Mode::Normal;
                Vec::new()
            }
            KeyCode::Enter => {
                let line = input.value().trim().to_string();
                state.mode = Mode::Normal;
                nav::run_palette(state, &line)
            }
            KeyCode::Tab => {
                let line = input.value().to_string();
                let options = nav::completions(state, &line);
                if let Mode::Palette(input) = &mut state.mode {
                    match options.as_slice() {
                        [] => {}
                        [only] => *input = tui_input::Input::new(format!("{only} ")),
                        many => {
                            let common = common_prefix(many);
                            if common.len() > line.len() {
                                *input = tui_input::Input::new(common);
                            }
                        }
                    }
                }
                if options.len() > 1 {
                    state.flash = Some(super::super::state::Flash {
                        text: options.join("  "),
                        error: false,
                    });
                }
                Vec::new()
            }
            _ => {
                input.handle_event(&Event::Key(key));
                Vec::new()
            }
        },
        Mode::Confirm(c) => match key.code {
            KeyCode::Esc => {
                state.mode = Mode::Normal;
                state.flash = Some(super::super::state::Flash {
                    text: "cancelled: nothing was changed".into(),
                    error: false,
                });
                Vec::new()
            }
            KeyCode::Enter => confirmed(state),
            // A plain confirmation also takes y / n.
            KeyCode::Char('y') if c.expected.is_none() => confirmed(state),
            KeyCode::Char('n') if c.expected.is_none() => {
                state.mode = Mode::Normal;
                Vec::new()
            }
            _ if c.expected.is_some() => {
                c.input.handle_event(&Event::Key(key));
                c.error = None;
                Vec::new()
            }
            _ => Vec::new(),
        },
        Mode::Pick(p) => match key.code {
            KeyCode::Esc => {
                state.mode = Mode::Normal;
                Vec::new()
            }
            KeyCode::Up => {
                p.selected = p.selected.saturating_sub(1);
                Vec::new()
            }
            KeyCode::Down | KeyCode::Tab => {
                let n = p.visible().len();
                p.selected = (p.selected + 1).min(n.saturating_sub(1));
                Vec::new()
            }
            KeyCode::Enter => {
                let choice = p.choice();
                let purpose = p.purpose.clone();
                state.mode = Mode::Normal;
                release::picked(state, purpose, choice)
            }
            _ => {
                // Typing filters the list (or is the version, for a build).
                p.input.handle_event(&Event::Key(key));
                p.selected = 0;
                Vec::new()
            }
        },
    }
}

/// The confirmation's answer: its effect goes if the typed text matches.
pub fn confirmed(state: &mut State) -> Vec<Effect> {
    state.dirty = true;
    let Mode::Confirm(c) = &mut state.mode else {
        return Vec::new();
    };
    if !c.satisfied() {
        let expected = c.expected.clone().unwrap_or_default();
        c.error = Some(format!(
            "\"{}\" does not match \"{expected}\": type the environment's name, or esc to cancel",
            c.input.value().trim()
        ));
        return Vec::new();
    }
    let Mode::Confirm(c) = std::mem::take(&mut state.mode) else {
        return Vec::new();
    };
    let c = *c;
    if let Some(view) = c.then_open {
        common::open(state, view);
    }
    match c.effect {
        Effect::Quit => release::quit_after_rollouts(state),
        Effect::StartRelease {
            project,
            env,
            kind,
            message,
        } => release::start_release(state, &project, &env, kind, message),
        Effect::StartBuild {
            project,
            version,
            deploy_to,
        } => release::begin_build(state, project, version, deploy_to),
        other => vec![other],
    }
}

fn common_prefix(options: &[String]) -> String {
    let Some(first) = options.first() else {
        return String::new();
    };
    let mut n = first.len();
    for o in options {
        n = n.min(
            first
                .chars()
                .zip(o.chars())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a.len_utf8())
                .sum(),
        );
    }
    first[..n].to_string()
}
