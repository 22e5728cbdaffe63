//! The interactive console: terminal setup and restore, and the one loop that
//! merges key events, fleet updates, a 1 s tick and a frame tick. `update()`
//! owns state changes; drawing happens only on a frame tick when state changed.

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
pub async fn run(config: Arc<Config>, theme: Theme, readonly: bool) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init().context("cannot put the terminal in raw mode")?;
    let result = event_loop(&mut terminal, config, theme, readonly).await;
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    config: Arc<Config>,
    theme: Theme,
    readonly: bool,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let (fleet_tx, mut fleet_rx) = mpsc::channel::<FleetUpdate>(1024);
    let watchers = spawn_fleet_watchers(
        &config,
        WatchConfig::from_config(&config),
        fleet_tx,
        cancel.clone(),
    );
    info!(hosts = watchers.len(), "console started");

    let mut state = State::new(config, chrono::Utc::now());
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
    };
    cancel.cancel();
    for w in watchers {
        w.abort();
    }
    info!("console stopped");
    outcome
}
