//! `update(&mut State, Action) -> Vec<Effect>`: the console's only state
//! transition. Synchronous and free of I/O, so it is tested without a terminal.

use crossterm::event::{Event, KeyCode, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use super::rows::{row_count, row_names};
use super::state::{BuildPane, BuildStatus, Flash, Loadable, Mode, Screen, State, View};
use super::{Action, Command, Effect};

/// Apply one action. Returns the side effects the runner must carry out.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(key) => on_key(state, key),
        Action::Command(c) => on_command(state, c),
        Action::Fleet(u) => {
            if state.fleet.apply(u) {
                clamp_selection(state);
                state.dirty = true;
            }
            Vec::new()
        }
        Action::Tick => {
            state.now = chrono::Utc::now();
            // Uptime columns move on; redraw once a second, not on every frame.
            state.dirty = true;
            Vec::new()
        }
        Action::Resize(_, h) => {
            state.page_rows = usize::from(h.saturating_sub(6)).max(1);
            state.dirty = true;
            Vec::new()
        }
        Action::Dockerfile { project, result } => {
            let v = match result {
                Ok(text) => Loadable::Ready(text),
                Err(e) => Loadable::Failed(e),
            };
            state.dockerfiles.insert(project, v);
            clamp_selection(state);
            state.dirty = true;
            Vec::new()
        }
        Action::Tags { project, result } => {
            let v = match result {
                Ok(tags) => Loadable::Ready(tags),
                Err(e) => Loadable::Failed(e),
            };
            state.tags.insert(project, v);
            clamp_selection(state);
            state.dirty = true;
            Vec::new()
        }
        Action::Build { project, event } => {
            on_build_event(state, &project, &event);
            Vec::new()
        }
        Action::BuildDone { project, result } => {
            let pane = state.builds.entry(project.clone()).or_default();
            match result {
                Ok(digest) => {
                    let text = match &digest {
                        Some(d) => format!(
                            "build of {project} {} pushed: {d}",
                            pane.version.clone().unwrap_or_default()
                        ),
                        None => format!("build of {project} succeeded"),
                    };
                    pane.status = BuildStatus::Succeeded { digest };
                    state.flash = Some(Flash { text, error: false });
                }
                Err(e) => {
                    pane.status = BuildStatus::Failed(e.clone());
                    flash_error(state, e);
                }
            }
            state.dirty = true;
            Vec::new()
        }
    }
}

/// A console build's event: its lines go to the pane; a view at the bottom
/// of the output follows it.
fn on_build_event(state: &mut State, project: &str, event: &crate::build::BuildEvent) {
    let watching = matches!(&state.screen().view, View::Build { project: p } if p == project);
    let following = watching && {
        let n = row_count(state);
        n == 0 || state.screen().selected + 1 >= n
    };
    let pane = state.builds.entry(project.to_string()).or_default();
    if let crate::build::BuildEvent::Started { version, log, .. } = event {
        pane.version = Some(version.clone());
        pane.log = Some(log.clone());
    }
    let mut dropped = 0;
    for line in event.human().lines() {
        if pane.push(line.to_string()) {
            dropped += 1;
        }
    }
    if following {
        let n = row_count(state);
        state.screen_mut().selected = n.saturating_sub(1);
    } else if watching && state.screen().filter.is_empty() {
        // Scrolled up: stay on the same line while old ones fall off the top.
        let s = state.screen_mut();
        s.selected = s.selected.saturating_sub(dropped);
    }
    state.dirty = true;
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    match &mut state.mode {
        Mode::Normal => {
            // A message stays until the next key; so does an armed quit.
            if state.flash.take().is_some() {
                state.dirty = true;
            }
            let armed = std::mem::take(&mut state.quit_armed);
            if armed && state.keymap.command(key) == Some(Command::Quit) {
                return vec![Effect::Quit];
            }
            match state.keymap.command(key) {
                Some(c) => on_command(state, c),
                None => Vec::new(),
            }
        }
        Mode::Help => {
            // Any key closes help; q still quits.
            state.mode = Mode::Normal;
            state.dirty = true;
            match state.keymap.command(key) {
                Some(Command::Quit) => vec![Effect::Quit],
                _ => Vec::new(),
            }
        }
        Mode::Filter(input) => {
            state.dirty = true;
            match key.code {
                KeyCode::Esc => {
                    state.mode = Mode::Normal;
                    set_filter(state, String::new());
                }
                KeyCode::Enter => state.mode = Mode::Normal,
                _ => {
                    input.handle_event(&Event::Key(key));
                    let text = input.value().to_string();
                    set_filter(state, text);
                }
            }
            Vec::new()
        }
        Mode::Palette(input) => {
            state.dirty = true;
            match key.code {
                KeyCode::Esc => {
                    state.mode = Mode::Normal;
                    Vec::new()
                }
                KeyCode::Enter => {
                    let line = input.value().trim().to_string();
                    state.mode = Mode::Normal;
                    run_palette(state, &line)
                }
                _ => {
                    input.handle_event(&Event::Key(key));
                    Vec::new()
                }
            }
        }
    }
}

fn set_filter(state: &mut State, text: String) {
    let screen = state.screen_mut();
    screen.filter = text;
    screen.selected = 0;
}

fn on_command(state: &mut State, command: Command) -> Vec<Effect> {
    state.dirty = true;
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
        Command::Enter => enter(state),
        Command::Back => back(state),
        Command::Dockerfile => return open_dockerfile(state, None),
        Command::Tags => return open_tags(state, None),
        Command::Build => return start_build(state, None),
    }
    Vec::new()
}

/// Quit, unless a build is running: then say so and wait for a second `q`.
fn quit(state: &mut State) -> Vec<Effect> {
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

/// The project `d`, `t` and `b` act on: the selected row in the projects
/// view, else the project of the current view.
fn target_project(state: &mut State) -> Option<String> {
    let found = match &state.screen().view {
        View::Projects => row_names(state).get(state.screen().selected).cloned(),
        other => other.project().map(str::to_string),
    };
    if found.is_none() {
        flash_error(state, "no project selected".into());
    }
    found
}

/// Push `view` unless it is already on top; a Dockerfile, tags or build
/// view replaces another one of those (Esc goes back to where `d`/`t`/`b`
/// were pressed).
fn open(state: &mut State, view: View) {
    if state.screen().view == view {
        return;
    }
    let leaf = |v: &View| {
        matches!(
            v,
            View::Dockerfile { .. } | View::Tags { .. } | View::Build { .. }
        )
    };
    if leaf(&state.screen().view) && state.stack.len() > 1 {
        state.stack.pop();
    }
    state.stack.push(Screen::new(view));
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

fn open_tags(state: &mut State, named: Option<String>) -> Vec<Effect> {
    let Some(project) = named.or_else(|| target_project(state)) else {
        return Vec::new();
    };
    open(
        state,
        View::Tags {
            project: project.clone(),
        },
    );
    if state.tags.get(&project) == Some(&Loadable::Loading) {
        return Vec::new();
    }
    state.tags.insert(project.clone(), Loadable::Loading);
    vec![Effect::LoadTags { project }]
}

fn start_build(state: &mut State, named: Option<String>) -> Vec<Effect> {
    let Some(project) = named.or_else(|| target_project(state)) else {
        return Vec::new();
    };
    if state.readonly {
        flash_error(
            state,
            "read-only console (--readonly): builds are off".into(),
        );
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
    let running = state
        .builds
        .get(&project)
        .is_some_and(|b| b.status == BuildStatus::Running);
    open(
        state,
        View::Build {
            project: project.clone(),
        },
    );
    if running {
        state.flash = Some(Flash {
            text: format!("a build of {project} is running already"),
            error: false,
        });
        return Vec::new();
    }
    state.builds.insert(project.clone(), BuildPane::new());
    state.screen_mut().selected = 0;
    vec![Effect::StartBuild { project }]
}

fn enter(state: &mut State) {
    let names = row_names(state);
    let Some(name) = names.get(state.screen().selected).cloned() else {
        return;
    };
    let next = match &state.screen().view {
        View::Projects => View::Environments { project: name },
        View::Environments { project } => View::Hosts {
            project: project.clone(),
            env: name,
        },
        // Host details arrive with the logs view; nothing deeper yet.
        View::Hosts { .. } | View::Dockerfile { .. } | View::Tags { .. } | View::Build { .. } => {
            return;
        }
    };
    state.stack.push(Screen::new(next));
}

fn back(state: &mut State) {
    if !state.screen().filter.is_empty() {
        set_filter(state, String::new());
    } else if state.stack.len() > 1 {
        state.stack.pop();
    }
}

fn clamp_selection(state: &mut State) {
    let n = row_count(state);
    let screen = state.screen_mut();
    screen.selected = screen.selected.min(n.saturating_sub(1));
}

fn flash_error(state: &mut State, text: String) {
    state.flash = Some(Flash { text, error: true });
}

/// Run a `:` palette line.
fn run_palette(state: &mut State, line: &str) -> Vec<Effect> {
    state.flash = None;
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("");
    let arg = words.next();
    match (verb, arg) {
        ("", _) => {}
        ("q" | "q!" | "quit", _) => return vec![Effect::Quit],
        ("help", _) => state.mode = Mode::Help,
        ("dockerfile" | "df" | "tags" | "build", Some(name))
            if state.config.project(name).is_none() =>
        {
            flash_error(state, format!("no project \"{name}\""));
        }
        ("dockerfile" | "df", named) => return open_dockerfile(state, named.map(str::to_string)),
        ("tags", named) => return open_tags(state, named.map(str::to_string)),
        ("build", named) => return start_build(state, named.map(str::to_string)),
        ("projects" | "p", _) => state.stack.truncate(1),
        ("project", Some(name)) => {
            if state.config.project(name).is_some() {
                state.stack.truncate(1);
                state.stack.push(Screen::new(View::Environments {
                    project: name.to_string(),
                }));
            } else {
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
            }
        }
        ("env" | "e", Some(spec)) => goto_env(state, spec),
        ("env" | "e" | "project", None) => {
            flash_error(state, format!(":{verb} needs a name, e.g. :{verb} prod"))
        }
        (other, _) => flash_error(
            state,
            format!(
                "unknown command \":{other}\"; try :projects, :project NAME, :env NAME, :tags, :dockerfile, :build, :q"
            ),
        ),
    }
    Vec::new()
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

fn current_project(state: &State) -> Option<String> {
    state
        .stack
        .iter()
        .rev()
        .find_map(|s| s.view.project().map(str::to_string))
}
