//! The interactive console: terminal setup and restore, and the one loop that
//! merges key events, fleet updates, a 1 s tick and a frame tick. `update()`
//! owns state changes; drawing happens only on a frame tick when state changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::app::{Action, Effect, State, update};
use crate::config::Config;
use crate::domain::FleetUpdate;
use crate::engine::{WatchConfig, spawn_fleet_watchers};
use crate::theme::Theme;
use crate::ui;

/// How often the screen may be redrawn (only when something changed).
const FRAME: Duration = Duration::from_millis(33);

/// Run the console until the user quits. The terminal is restored on every
/// exit path, including a panic (ratatui's init installs the hook).
pub async fn run(
    config: Arc<Config>,
    theme: Theme,
    readonly: bool,
    state_dir: PathBuf,
) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init().context("cannot put the terminal in raw mode")?;
    let result = event_loop(&mut terminal, config, theme, readonly, state_dir).await;
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    config: Arc<Config>,
    theme: Theme,
    readonly: bool,
    state_dir: PathBuf,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    // Answers of background work (Dockerfile, tags, builds) come back as actions.
    let (work_tx, mut work_rx) = mpsc::unbounded_channel::<Action>();
    let (fleet_tx, mut fleet_rx) = mpsc::channel::<FleetUpdate>(1024);
    let watchers = spawn_fleet_watchers(
        &config,
        WatchConfig::from_config(&config),
        fleet_tx,
        cancel.clone(),
    );
    info!(hosts = watchers.len(), "console started");

    let mut state = State::new(config.clone(), chrono::Utc::now());
    state.readonly = readonly;
    if let Ok(size) = terminal.size() {
        update(&mut state, Action::Resize(size.width, size.height));
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let outcome = loop {
        let mut effects = Vec::new();
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    effects = update(&mut state, Action::Key(key));
                }
                Some(Ok(Event::Resize(w, h))) => {
                    effects = update(&mut state, Action::Resize(w, h));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("reading the terminal failed")),
                None => break Ok(()),
            },
            Some(u) = fleet_rx.recv() => {
                update(&mut state, Action::Fleet(u));
                // Take whatever else is queued now: one redraw for a burst.
                while let Ok(u) = fleet_rx.try_recv() {
                    update(&mut state, Action::Fleet(u));
                }
            }
            Some(a) = work_rx.recv() => {
                effects = update(&mut state, a);
                // A burst (build output) is taken in one go: one redraw.
                while let Ok(a) = work_rx.try_recv() {
                    effects.extend(update(&mut state, a));
                }
            }
            _ = tick.tick() => {
                update(&mut state, Action::Tick);
            }
            _ = frame.tick() => {
                if state.dirty {
                    terminal.draw(|f| ui::draw(&state, &theme, f)).context("drawing failed")?;
                    state.dirty = false;
                }
            }
        }
        if effects.contains(&Effect::Quit) {
            break Ok(());
        }
        for e in effects {
            spawn_effect(e, &config, &state_dir, &work_tx, &cancel);
        }
    };
    cancel.cancel();
    for w in watchers {
        w.abort();
    }
    info!("console stopped");
    outcome
}

/// Carry out one effect in the background; its answer comes back on `tx`.
fn spawn_effect(
    effect: Effect,
    config: &Arc<Config>,
    state_dir: &Path,
    tx: &mpsc::UnboundedSender<Action>,
    cancel: &CancellationToken,
) {
    let config = config.clone();
    let tx = tx.clone();
    match effect {
        Effect::Quit => {}
        Effect::LoadDockerfile { project } => {
            tokio::spawn(async move {
                let p = project.clone();
                let result = tokio::task::spawn_blocking(move || {
                    crate::build::build_target(&config, &p)
                        .and_then(|(p, spec)| {
                            crate::build::template::dockerfile(p, spec)
                                .map_err(crate::build::BuildError::from)
                        })
                        .map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(format!("rendering ended abnormally: {e}")));
                let _ = tx.send(Action::Dockerfile { project, result });
            });
        }
        Effect::LoadTags { project } => {
            tokio::spawn(async move {
                let result = match config.project(&project) {
                    None => Err(format!("unknown project \"{project}\"")),
                    Some(p) => match crate::registry::RegistryClient::for_project(&config, p) {
                        Ok(client) => client.tags().await.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    },
                };
                let _ = tx.send(Action::Tags { project, result });
            });
        }
        Effect::StartBuild { project } => {
            let state_dir = state_dir.to_path_buf();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
                let forward = {
                    let tx = tx.clone();
                    let project = project.clone();
                    tokio::spawn(async move {
                        while let Some(event) = ev_rx.recv().await {
                            let _ = tx.send(Action::Build {
                                project: project.clone(),
                                event,
                            });
                        }
                    })
                };
                let req = crate::build::BuildRequest {
                    project: project.clone(),
                    version: None,
                    push: true,
                    force: false,
                    user: crate::rollout::lock::current_owner(),
                };
                // Its own task: whatever happens to it (even a panic), the
                // pane hears how it ended.
                let run = tokio::spawn(async move {
                    let builder = crate::build::Builder {
                        config: &config,
                        state_dir: &state_dir,
                        events: ev_tx,
                    };
                    builder.run(req).await
                });
                let abort = run.abort_handle();
                let result = tokio::select! {
                    r = run => match r {
                        Ok(r) => r.map(|report| report.digest).map_err(|e| e.to_string()),
                        Err(e) => Err(format!("the build task ended abnormally: {e}")),
                    },
                    _ = cancel.cancelled() => {
                        abort.abort();
                        Err("the console closed during the build".into())
                    }
                };
                // Every event is forwarded before the end is reported.
                let _ = forward.await;
                let _ = tx.send(Action::BuildDone { project, result });
            });
        }
    }
}
