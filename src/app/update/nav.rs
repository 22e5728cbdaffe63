//! Navigation: commands that move the selection, open and close views, the
//! filter and the palette. Release and container commands go to `release`.

use tui_input::Input;

use super::super::palette::{self, Arg};
use super::super::rows::{row_count, row_names};
use super::super::state::{BuildStatus, Flash, Loadable, Mode, Screen, State, View};
use super::super::{Command, Effect};
use super::common::{clamp_selection, flash_error, load_tags, open, set_filter, target_project};
use super::{logs, release};

pub fn on_command(state: &mut State, command: Command) -> Vec<Effect> {
    state.dirty = true;
    if let Some(why) = state.refusal(command) {
        flash_error(state, why);
        return Vec::new();
    }
    if let Some(effects) = logs::on_command(state, command) {
        return effects;
    }
    let n = row_count(state);
    let page = (state.page_rows / 2).max(1);
    let screen = state.screen_mut();
    match command {
        Command::Quit => return quit(state),
        Command::Help => state.mode = Mode::Help,
        Command::Filter => {
            let current = state.screen().filter.clone();
            state.mode = Mode::Filter(Input::new(current));
        }
        Command::Palette => state.mode = Mode::Palette(Input::default()),
        Command::Up => screen.selected = screen.selected.saturating_sub(1),
        Command::Down => screen.selected = (screen.selected + 1).min(n.saturating_sub(1)),
        Command::Top => screen.selected = 0,
        Command::Bottom => screen.selected = n.saturating_sub(1),
        Command::HalfPageDown => {
            screen.selected = (screen.selected + page).min(n.saturating_sub(1))
        }
        Command::HalfPageUp => screen.selected = screen.selected.saturating_sub(page),
        Command::Enter => return enter(state),
        Command::Back => back(state),
        Command::Sort => {
            let columns = match &screen.view {
                View::Hosts { .. } => super::super::rows::HOST_SORTS.len(),
                _ => 1,
            };
            screen.sort = (screen.sort + 1) % columns.max(1);
        }
        Command::Redraw => return vec![Effect::Redraw],
        Command::Reconnect => {
            state.flash = Some(Flash {
                text: "unreachable hosts: trying again now".into(),
                error: false,
            });
            return vec![Effect::Reconnect];
        }
        Command::Logs => return logs::open_logs(state, None),
        Command::HealthTimeline => {
            if let Some((project, env)) = super::common::target_env(state) {
                open(state, View::Health { project, env });
            }
        }
        Command::Search
        | Command::SearchNext
        | Command::SearchPrev
        | Command::Timestamps
        | Command::Wrap
        | Command::SaveLogs
        | Command::Fullscreen
        | Command::Since => {
            flash_error(
                state,
                format!(
                    "{} works in a logs view: open one with {}",
                    command.info().hint,
                    state
                        .keymap
                        .keys_for(Command::Logs)
                        .first()
                        .map_or("L", String::as_str)
                ),
            );
        }
        Command::Dockerfile => return open_dockerfile(state, None),
        Command::Tags => return open_tags(state, None),
        other => return release::on_command(state, other),
    }
    Vec::new()
}

/// Quit, unless a build or a rollout of this console runs: then ask first.
fn quit(state: &mut State) -> Vec<Effect> {
    if state.releases.values().any(|r| r.running_here()) {
        return release::ask_quit(state);
    }
    let running: Vec<&str> = state
        .builds
        .iter()
        .filter(|(_, b)| b.status == BuildStatus::Running)
        .map(|(p, _)| p.as_str())
        .collect();
    if running.is_empty() || state.quit_armed {
        return vec![Effect::Quit];
    }
    let text = format!(
        "a build of {} is running and stops if the console quits: press q again to quit, any other key to stay",
        running.join(", ")
    );
    state.flash = Some(Flash { text, error: true });
    state.quit_armed = true;
    Vec::new()
}

fn open_dockerfile(state: &mut State, named: Option<String>) -> Vec<Effect> {
    let Some(project) = named.or_else(|| target_project(state)) else {
        return Vec::new();
    };
    open(
        state,
        View::Dockerfile {
            project: project.clone(),
        },
    );
    // One request at a time per project; its answer refreshes the view.
    if state.dockerfiles.get(&project) == Some(&Loadable::Loading) {
        return Vec::new();
    }
    state.dockerfiles.insert(project.clone(), Loadable::Loading);
    vec![Effect::LoadDockerfile { project }]
}

pub fn open_tags(state: &mut State, named: Option<String>) -> Vec<Effect> {
    let Some(project) = named.or_else(|| target_project(state)) else {
        return Vec::new();
    };
    open(
        state,
        View::Tags {
            project: project.clone(),
        },
    );
    load_tags(state, &project)
}

fn enter(state: &mut State) -> Vec<Effect> {
    let names = row_names(state);
    let Some(name) = names.get(state.screen().selected).cloned() else {
        return Vec::new();
    };
    let next = match &state.screen().view {
        View::Projects => View::Environments { project: name },
        View::Environments { project } => View::Hosts {
            project: project.clone(),
            env: name,
        },
        View::Hosts { project, env } | View::Health { project, env } => View::HostDetail {
            project: project.clone(),
            env: env.clone(),
            host: name,
        },
        View::History { project, env } => {
            let view = View::Release {
                project: project.clone(),
                env: env.clone(),
                release: name.clone(),
            };
            state.stack.push(Screen::new(view));
            if matches!(state.release_events.get(&name), Some(Loadable::Ready(_))) {
                return Vec::new();
            }
            state.release_events.insert(name.clone(), Loadable::Loading);
            return vec![Effect::LoadReleaseEvents { release: name }];
        }
        _ => return Vec::new(),
    };
    state.stack.push(Screen::new(next));
    Vec::new()
}

fn back(state: &mut State) {
    if !state.screen().filter.is_empty() {
        set_filter(state, String::new());
    } else if state.stack.len() > 1 {
        state.stack.pop();
        // The view below may have lost rows while it was covered.
        clamp_selection(state);
    }
}

/// A click on a list row: the header and border take the first two lines
/// below the top bar.
pub fn click(state: &mut State, row: u16) -> Vec<Effect> {
    if !matches!(state.mode, Mode::Normal) {
        return Vec::new();
    }
    let n = row_count(state);
    let first = 3 + state.banner_lines(state.width);
    if row < first || n == 0 {
        return Vec::new();
    }
    let offset = state
        .screen()
        .selected
        .saturating_sub(state.page_rows.saturating_sub(1));
    let index = offset + usize::from(row - first);
    if index < n {
        state.screen_mut().selected = index;
        state.dirty = true;
    }
    Vec::new()
}

pub fn scroll(state: &mut State, delta: i8) -> Vec<Effect> {
    if !matches!(state.mode, Mode::Normal) {
        return Vec::new();
    }
    let n = row_count(state);
    let s = state.screen_mut();
    let step = usize::from(delta.unsigned_abs());
    s.selected = if delta < 0 {
        s.selected.saturating_sub(step)
    } else {
        (s.selected + step).min(n.saturating_sub(1))
    };
    state.dirty = true;
    Vec::new()
}

/// The environments on screen (their activity is polled).
pub fn envs_in_view(state: &State) -> Vec<(String, String)> {
    match &state.screen().view {
        View::Environments { project } => state
            .config
            .project(project)
            .map(|p| {
                state
                    .config
                    .environments
                    .iter()
                    .filter(|e| !p.hosts_in(&e.name).is_empty())
                    .map(|e| (project.clone(), e.name.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        v => match (v.project(), v.env()) {
            (Some(p), Some(e)) => vec![(p.to_string(), e.to_string())],
            _ => Vec::new(),
        },
    }
}

/// Palette completions for `line`.
pub fn completions(state: &State, line: &str) -> Vec<String> {
    let project = current_project(state);
    palette::complete(line, |arg| match arg {
        Arg::None => Vec::new(),
        Arg::Project => state
            .config
            .projects
            .iter()
            .map(|p| p.name.clone())
            .collect(),
        Arg::Env => state
            .config
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect(),
        Arg::Version => match project.as_deref().and_then(|p| state.tags.get(p)) {
            Some(Loadable::Ready(tags)) => tags.iter().map(|t| t.tag.clone()).collect(),
            _ => Vec::new(),
        },
    })
}

/// Run a `:` palette line.
pub fn run_palette(state: &mut State, line: &str) -> Vec<Effect> {
    state.flash = None;
    let mut words = line.split_whitespace();
    let Some(word) = words.next() else {
        return Vec::new();
    };
    let arg = words.next().map(str::to_string);
    let Some(verb) = palette::verb(word) else {
        flash_error(
            state,
            format!("unknown command \":{word}\"; try {}", palette::summary()),
        );
        return Vec::new();
    };
    if verb.needs_arg && arg.is_none() {
        flash_error(state, format!(":{word} needs a name, e.g. :{word} prod"));
        return Vec::new();
    }
    if verb.arg == Arg::Project
        && let Some(name) = &arg
        && state.config.project(name).is_none()
    {
        let known: Vec<&str> = state
            .config
            .projects
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        flash_error(
            state,
            format!("no project \"{name}\"; known: {}", known.join(", ")),
        );
        return Vec::new();
    }
    let command = |c: Command| -> Option<Command> { Some(c) };
    let run = match verb.words[0] {
        "projects" => {
            state.stack.truncate(1);
            None
        }
        "project" => {
            if let Some(name) = arg {
                state.stack.truncate(1);
                state
                    .stack
                    .push(Screen::new(View::Environments { project: name }));
            }
            None
        }
        "env" => {
            if let Some(spec) = arg {
                goto_env(state, &spec);
            }
            None
        }
        "deploy" => match arg {
            Some(v) => return release::deploy_version(state, v),
            None => command(Command::Deploy),
        },
        "rollback" => match arg {
            Some(v) => return release::rollback_to(state, v),
            None => command(Command::Rollback),
        },
        "promote" => command(Command::Promote),
        "rollout" => command(Command::Rollout),
        "history" => command(Command::History),
        "pause" => match word {
            "abort" => command(Command::Abort),
            "resume-rollout" => return release::control(state, false),
            _ => return release::control(state, true),
        },
        "resume" => command(Command::Resume),
        "break-lock" => command(Command::BreakLock),
        "ship" => command(Command::Ship),
        "remove" => command(Command::RemoveProject),
        "logs" => {
            let host = arg.unwrap_or_else(|| logs::ALL.to_string());
            return logs::open_logs(state, Some(host));
        }
        "save" => {
            let rest = line.split_once(char::is_whitespace).map(|(_, r)| r.trim());
            let now = state.now;
            return logs::save(state, rest, now);
        }
        "since" => return logs::since(state, arg.as_deref().unwrap_or("")),
        "health" => command(Command::HealthTimeline),
        "dockerfile" => return open_dockerfile(state, arg),
        "tags" => return open_tags(state, arg),
        "build" => {
            if let Some(p) = arg {
                return release::ask_build(state, p, None);
            }
            command(Command::Build)
        }
        "help" => command(Command::Help),
        "q" => command(Command::Quit),
        _ => None,
    };
    match run {
        Some(c) => on_command(state, c),
        None => Vec::new(),
    }
}

/// `:env NAME` (in the current or only project) or `:env PROJECT/NAME`.
fn goto_env(state: &mut State, spec: &str) {
    let (project, env) = match spec.split_once('/') {
        Some((p, e)) => (Some(p.to_string()), e.to_string()),
        None => (current_project(state), spec.to_string()),
    };
    let project = project.or_else(|| match state.config.projects.as_slice() {
        [only] => Some(only.name.clone()),
        _ => None,
    });
    let Some(project) = project else {
        flash_error(
            state,
            format!("which project? open one first or write :env PROJECT/{env}"),
        );
        return;
    };
    if state.config.project(&project).is_none() {
        flash_error(state, format!("no project \"{project}\""));
        return;
    }
    if state.config.environment(&env).is_none() {
        let known: Vec<&str> = state
            .config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        flash_error(
            state,
            format!("no environment \"{env}\"; known: {}", known.join(", ")),
        );
        return;
    }
    state.stack.truncate(1);
    state.stack.push(Screen::new(View::Environments {
        project: project.clone(),
    }));
    state.stack.push(Screen::new(View::Hosts { project, env }));
}

pub fn current_project(state: &State) -> Option<String> {
    state
        .stack
        .iter()
        .rev()
        .find_map(|s| s.view.project().map(str::to_string))
}
