//! The logs view: opening it (the environment, a host, a failed rollout's
//! host), its keys (scrolling, filter, search, toggles, presets, save), the
//! stream's events, and closing the stream with the view. Also the health
//! timeline's marks from rollout events and which containers' stats are read.

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::super::logs::{LogPane, LogTargets, Matcher, PRESETS, preset_range};
use super::super::rows::row_names;
use super::super::state::{Flash, Mode, State, View};
use super::super::{Command, Effect};
use super::common::{flash_error, open, target_env};
use crate::engine::logs::LogEvent;

/// `L`: the logs of what is in view.
pub fn open_logs(state: &mut State, host: Option<String>) -> Vec<Effect> {
    let view = state.screen().view.clone();
    if let View::Logs { .. } = view {
        return Vec::new();
    }
    if let Some(h) = host.as_deref().and_then(|h| h.strip_prefix('@')) {
        return open_host(state, h);
    }
    let Some((project, env)) = target_env(state) else {
        return Vec::new();
    };
    let selected = row_names(state).get(state.screen().selected).cloned();
    let failed = state
        .env_releases(&project, &env)
        .and_then(|r| r.rollout.as_ref())
        .and_then(|p| p.failed_hosts().into_iter().next());
    let (host, failed) = match (&view, host) {
        (_, Some(h)) if h == ALL => (None, None),
        (_, Some(h)) => (Some(h), None),
        (View::Hosts { .. } | View::Health { .. }, None) => (selected, None),
        (View::HostDetail { host, .. }, None) => (Some(host.clone()), None),
        // A failed rollout: its (first) failed host; else the selected one.
        (View::Rollout { .. }, None) => match failed {
            Some(h) => (Some(h.clone()), Some(h)),
            None => (selected, None),
        },
        _ => (None, None),
    };
    let in_env = state
        .config
        .project(&project)
        .map(|p| p.hosts_in(&env).to_vec())
        .unwrap_or_default();
    if in_env.is_empty() {
        flash_error(
            state,
            format!("{project} has no hosts in {env}: no log to read"),
        );
        return Vec::new();
    }
    if let Some(h) = &host
        && !in_env.contains(h)
    {
        flash_error(
            state,
            format!(
                "host \"{h}\" does not run {project} in {env}; its hosts: {}",
                in_env.join(", ")
            ),
        );
        return Vec::new();
    }
    let targets = LogTargets {
        scope: Some((project.clone(), env.clone())),
        hosts: host.clone().map_or(in_env, |h| vec![h]),
    };
    open(
        state,
        View::Logs {
            project: Some(project.clone()),
            env: Some(env.clone()),
            host,
        },
    );
    let effects = start(state, targets, None);
    if let Some(h) = failed {
        failed_container_lines(state, &project, &env, &h);
    }
    effects
}

/// `:logs @HOST`: every project's serving container on the host.
fn open_host(state: &mut State, host: &str) -> Vec<Effect> {
    if state.config.host(host).is_none() {
        let known: Vec<&str> = state.config.hosts.iter().map(|h| h.name.as_str()).collect();
        flash_error(
            state,
            format!(
                "no host \"{host}\" in the inventory; known: {}",
                known.join(", ")
            ),
        );
        return Vec::new();
    }
    open(
        state,
        View::Logs {
            project: None,
            env: None,
            host: Some(host.to_string()),
        },
    );
    let targets = LogTargets {
        scope: None,
        hosts: vec![host.to_string()],
    };
    start(state, targets, None)
}

/// `:logs` with no host: every host, whatever row is selected.
pub const ALL: &str = "*";

/// The failed container of a rollout was removed when its host was
/// restored: what the rollout read of its log goes first in the view,
/// under its own label, before the restored container's lines.
fn failed_container_lines(state: &mut State, project: &str, env: &str, host: &str) {
    let now = state.now;
    let Some(p) = state
        .env_releases(project, env)
        .and_then(|r| r.rollout.as_ref())
    else {
        return;
    };
    let version = p.version.clone();
    let h = p.hosts.get(host).cloned().unwrap_or_default();
    let Some(pane) = state.logs.as_mut() else {
        return;
    };
    let label = format!("{host} ({version} failed)");
    let mut events = vec![LogEvent::Note {
        host: host.to_string(),
        text: format!(
            "{version} failed here{}; its container was taken down, its last lines as the rollout read them:",
            h.failure
                .as_deref()
                .and_then(|f| f.lines().next())
                .map(|f| format!(" ({f})"))
                .unwrap_or_default()
        ),
    }];
    match &h.log_tail {
        Some(Ok(lines)) => events.extend(lines.iter().map(|l| {
            LogEvent::Line(crate::engine::logs::LogLine {
                host: label.as_str().into(),
                container: "".into(),
                ts: None,
                stderr: false,
                text: l.clone(),
            })
        })),
        Some(Err(e)) => events.push(LogEvent::Note {
            host: label.clone(),
            text: format!("its log could not be read: {e}"),
        }),
        None => events.push(LogEvent::Note {
            host: label.clone(),
            text: "no log lines were read".into(),
        }),
    }
    events.push(LogEvent::Note {
        host: host.to_string(),
        text: "the restored container's log follows".into(),
    });
    for ev in events {
        pane.apply(ev, now);
    }
}

/// A new stream of `targets` (the toggles, filter and search of `keep`
/// carried over) at its preset.
fn start(state: &mut State, targets: LogTargets, keep: Option<&LogPane>) -> Vec<Effect> {
    state.log_generation += 1;
    let generation = state.log_generation;
    let mut pane = LogPane::new(
        targets.clone(),
        generation,
        state.config.settings.log_budget(),
    );
    if let Some(k) = keep {
        pane.timestamps = k.timestamps;
        pane.wrap = k.wrap;
        pane.fullscreen = k.fullscreen;
        pane.preset = k.preset;
        pane.set_filter(k.filter().cloned());
        pane.set_search(k.search().cloned(), state.page_rows);
        pane.follow = true;
    }
    let range = preset_range(pane.preset, state.now);
    state.logs = Some(pane);
    vec![Effect::StreamLogs {
        generation,
        targets,
        range,
    }]
}

/// A command while the logs view is on top; `None` when it is not a log
/// command (it goes on to the normal handling).
pub fn on_command(state: &mut State, command: Command) -> Option<Vec<Effect>> {
    if !matches!(state.screen().view, View::Logs { .. }) {
        return None;
    }
    let page = state.page_rows.max(1);
    let now = state.now;
    let pane = state.logs.as_mut()?;
    let half = i64::try_from(page / 2).unwrap_or(1).max(1);
    match command {
        Command::Up => pane.scroll(-1),
        Command::Down => pane.scroll(1),
        Command::HalfPageUp => pane.scroll(-half),
        Command::HalfPageDown => pane.scroll(half),
        Command::Top => pane.top(page),
        Command::Bottom => pane.to_end(),
        Command::Filter => {
            let text = pane.filter().map(|f| f.text.clone()).unwrap_or_default();
            state.mode = Mode::Filter(Input::new(text));
        }
        Command::Search => {
            let text = pane.search().map(|f| f.text.clone()).unwrap_or_default();
            state.mode = Mode::Search(Input::new(text));
        }
        Command::SearchNext | Command::SearchPrev => {
            if pane.search().is_none() {
                flash_error(state, "no search yet: press f and type what to find".into());
            } else {
                pane.next_hit(command == Command::SearchNext, page);
            }
        }
        Command::Timestamps => pane.timestamps = !pane.timestamps,
        Command::Wrap => pane.wrap = !pane.wrap,
        Command::Fullscreen => pane.fullscreen = !pane.fullscreen,
        Command::Since => {
            let next = (pane.preset + 1) % PRESETS.len();
            return Some(set_preset(state, next));
        }
        Command::SaveLogs => return Some(save(state, None, now)),
        Command::Back => {
            // Esc takes off the search, then the filter, then closes.
            if pane.search().is_some() {
                pane.set_search(None, page);
                pane.to_end();
            } else if pane.filter().is_some() {
                pane.set_filter(None);
                state.screen_mut().filter.clear();
            } else {
                return None;
            }
        }
        _ => return None,
    }
    Some(Vec::new())
}

fn set_preset(state: &mut State, preset: usize) -> Vec<Effect> {
    let Some(mut old) = state.logs.take() else {
        return Vec::new();
    };
    old.preset = preset;
    let effects = start(state, old.targets.clone(), Some(&old));
    state.flash = Some(Flash {
        text: format!("log read again: {}", PRESETS[preset]),
        error: false,
    });
    effects
}

/// `:since PRESET`.
pub fn since(state: &mut State, word: &str) -> Vec<Effect> {
    let want = if word == "tail" { "tail 100" } else { word };
    match PRESETS.iter().position(|p| *p == want) {
        Some(i) if state.logs.is_some() => set_preset(state, i),
        Some(_) => {
            flash_error(state, "no log open: press L first".into());
            Vec::new()
        }
        None => {
            flash_error(
                state,
                format!("\"{word}\" is not a preset; write one of: tail, 1m, 5m, 15m, 1h, all"),
            );
            Vec::new()
        }
    }
}

/// `W` / `:save [DURATION] [PATH]`: what is shown, or `DURATION` of the
/// log read again from the hosts.
pub fn save(state: &mut State, args: Option<&str>, now: DateTime<Utc>) -> Vec<Effect> {
    let Some(pane) = &state.logs else {
        flash_error(state, "no log open: press L first".into());
        return Vec::new();
    };
    let mut words = args.unwrap_or("").split_whitespace().peekable();
    let range = match words.peek().map(|w| w.parse::<humantime::Duration>()) {
        Some(Ok(d)) => {
            words.next();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            Some(crate::engine::logs::LogRange {
                since: Some(now.timestamp().saturating_sub(secs)),
                tail: None,
                follow: false,
            })
        }
        _ => None,
    };
    let t = &pane.targets;
    let path = match words.next() {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::PathBuf::from(format!(
            "shipdeck-logs-{}-{}.log",
            t.slug(),
            now.format("%Y%m%d-%H%M%S")
        )),
    };
    match range {
        Some(range) => vec![Effect::FetchLogs {
            targets: t.clone(),
            range,
            path,
        }],
        None => vec![Effect::SaveLogs {
            path,
            text: pane.shown_text(),
        }],
    }
}

/// The typed `/` filter of the logs view, as it is typed.
pub fn set_filter(state: &mut State, text: &str) {
    let Some(pane) = state.logs.as_mut() else {
        return;
    };
    if text.is_empty() || text == "!" {
        pane.set_filter(None);
        state.screen_mut().filter.clear();
        return;
    }
    match Matcher::parse(text, true) {
        Ok(m) => {
            pane.set_filter(Some(m));
            state.screen_mut().filter = text.to_string();
            state.flash = None;
        }
        // Half typed: the last good filter stays until this one compiles.
        Err(e) => flash_error(state, e),
    }
}

/// The search typed after `f`, on enter.
pub fn set_search(state: &mut State, text: &str) {
    let page = state.page_rows.max(1);
    let Some(pane) = state.logs.as_mut() else {
        return;
    };
    if text.is_empty() {
        pane.set_search(None, page);
        return;
    }
    match Matcher::parse(text, false) {
        Ok(m) => {
            pane.set_search(Some(m), page);
            if pane.counter().is_some_and(|(_, n)| n == 0) {
                flash_error(
                    state,
                    format!(
                        "\"{text}\" is not in the log (yet): new lines are searched as they come"
                    ),
                );
            }
        }
        Err(e) => flash_error(state, e),
    }
}

/// Events of the log stream.
pub fn on_events(state: &mut State, generation: u64, events: Vec<LogEvent>) {
    let now = state.now;
    let Some(pane) = state.logs.as_mut().filter(|p| p.generation == generation) else {
        return;
    };
    for ev in events {
        pane.apply(ev, now);
    }
    state.dirty = true;
}

/// After every update: a log stream whose view left the stack stops; the
/// containers whose stats are read follow what the hosts view shows.
pub fn reconcile(state: &mut State, effects: &mut Vec<Effect>) {
    if state.logs.is_some()
        && !state
            .stack
            .iter()
            .any(|s| matches!(s.view, View::Logs { .. }))
    {
        state.logs = None;
        effects.push(Effect::StopLogs);
    }
    let wanted = stats_wanted(state);
    if wanted != state.stats.watching {
        state.stats.watching = wanted.clone();
        state.stats.keep_watched();
        effects.push(Effect::WatchStats { containers: wanted });
    }
}

/// The running serving containers of the hosts in view (the hosts view's
/// rows that fit on the screen). Runs after every action: the rows' names
/// come from the config (no summaries are built unless the view is sorted).
fn stats_wanted(state: &State) -> Vec<(String, String)> {
    let View::Hosts { project, env } = &state.screen().view else {
        return Vec::new();
    };
    let page = state.page_rows.max(1);
    let first = state
        .screen()
        .selected
        .saturating_sub(page.saturating_sub(1));
    row_names(state)
        .into_iter()
        .skip(first)
        .take(page)
        .filter_map(|host| {
            let c = state.fleet.hosts.get(&host)?.app_container(project, env)?;
            (c.state == crate::domain::ContainerState::Running).then(|| (host, c.id.clone()))
        })
        .collect()
}
