//! The console's loop: one biased `select!` over the terminal's events, a
//! frame that is due, the bounded action channel (taken in batches of up to
//! 256 per turn) and a 1 s tick. Input is drawn at once; background changes
//! at most once per frame (16 ms), and nothing is drawn when nothing changed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{Event, EventStream, KeyEventKind, MouseEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::bridge;
use super::effects::EffectRunner;
use super::latency::LatencyLog;
use super::tasks::TaskRegistry;
use crate::app::{Action, Effect, State, update};
use crate::config::Config;
use crate::domain::FleetUpdate;
use crate::engine::{WatchConfig, spawn_fleet_watchers};
use crate::theme::Theme;
use crate::ui;

/// The shortest time between two frames (drawn only when something changed).
const FRAME: Duration = Duration::from_millis(16);
/// … when only log lines came in since the last frame: a log that scrolls
/// 10 times a second reads the same (a line is on screen within 0.1 s), at
/// a sixth of the drawing; a key is still drawn at once.
const LOG_FRAME: Duration = Duration::from_millis(100);
/// Actions taken from the channel per turn of the loop.
const BATCH: usize = 256;

pub async fn run(
    terminal: &mut ratatui::DefaultTerminal,
    config: Arc<Config>,
    theme: Theme,
    opts: super::Options,
) -> anyhow::Result<()> {
    let super::Options {
        readonly,
        no_inventory,
        state_dir,
    } = opts;
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel::<Action>(bridge::ACTIONS);
    let (fleet_tx, fleet_rx) = mpsc::channel::<FleetUpdate>(1024);
    let watchers = spawn_fleet_watchers(
        &config,
        WatchConfig::from_config(&config),
        fleet_tx,
        cancel.clone(),
    );
    info!(hosts = watchers.handles.len(), "console started");
    let fleet_bridge = tokio::spawn(bridge::fleet(fleet_rx, tx.clone()));
    let mut fx = EffectRunner::new(
        config.clone(),
        state_dir,
        tx.clone(),
        TaskRegistry::new(cancel.child_token()),
        watchers,
    );

    let mut state = State::new(config.clone(), chrono::Utc::now());
    state.readonly = readonly || no_inventory.is_some();
    state.no_inventory = no_inventory;
    if let Ok(size) = terminal.size() {
        update(&mut state, Action::Resize(size.width, size.height));
    }
    let mut events = Some(EventStream::new());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // After a shell hand-over, one tick, not every one missed meanwhile.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Frames are paced, not ticked: a change is drawn at once unless a
    // frame was drawn less than FRAME ago, then when FRAME has passed. An
    // idle console does not wake up to find nothing changed.
    let mut last_draw = tokio::time::Instant::now()
        .checked_sub(FRAME)
        .unwrap_or_else(tokio::time::Instant::now);
    let mut batch: Vec<Action> = Vec::with_capacity(BATCH);
    let mut latency = LatencyLog::from_env();
    // Only log lines changed the state since the last frame.
    let mut logs_only = false;

    let outcome = loop {
        let mut effects = Vec::new();
        let next_frame = last_draw + frame_gap(logs_only);
        let mut input = false;
        // Biased: the operator's input first, then a frame that is due, then
        // background updates, so a key never waits behind a burst.
        tokio::select! {
            biased;
            ev = next_event(&mut events) => match ev {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    latency.key();
                    input = true;
                    effects = update(&mut state, Action::Key(key));
                }
                Some(Ok(Event::Resize(w, h))) => {
                    input = true;
                    effects = update(&mut state, Action::Resize(w, h));
                }
                Some(Ok(Event::Mouse(m))) => {
                    let a = match m.kind {
                        MouseEventKind::Down(_) => Some(Action::Click { row: m.row }),
                        MouseEventKind::ScrollDown => Some(Action::Scroll(3)),
                        MouseEventKind::ScrollUp => Some(Action::Scroll(-3)),
                        _ => None,
                    };
                    if let Some(a) = a {
                        input = true;
                        effects = update(&mut state, a);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("reading the terminal failed")),
                None => break Ok(()),
            },
            _ = tokio::time::sleep_until(next_frame), if state.dirty => {}
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break Ok(());
                }
                // A burst (fleet updates, build output) is taken in one go:
                // one redraw for all of it.
                let was_dirty = state.dirty;
                let mut other = false;
                for a in batch.drain(..) {
                    if let Action::Logs { .. } = a {
                        fx.log_credit.add_permits(1);
                    } else {
                        other = true;
                    }
                    effects.extend(update(&mut state, a));
                }
                logs_only = if was_dirty { logs_only && !other } else { !other };
            }
            _ = tick.tick() => {
                effects = update(&mut state, Action::Tick);
            }
        }
        // Input is drawn at once (after whatever it asked for); a burst of
        // background updates at most once per FRAME.
        let now = tokio::time::Instant::now();
        if state.dirty && (input || now >= last_draw + frame_gap(logs_only)) {
            terminal
                .draw(|f| ui::draw(&state, &theme, f))
                .context("drawing failed")?;
            state.dirty = false;
            logs_only = false;
            last_draw = tokio::time::Instant::now();
            latency.drawn(last_draw - now);
        }
        let mut quit = false;
        for e in effects {
            match e {
                Effect::Quit => quit = true,
                Effect::Redraw => {
                    terminal.clear().context("clearing the screen failed")?;
                    state.dirty = true;
                }
                Effect::Shell { host, container } => {
                    // The terminal goes to the shell and comes back; the key
                    // reader pauses meanwhile so it does not eat the input.
                    drop(events.take());
                    let result = super::shell::run(terminal, &config, &host, &container).await;
                    events = Some(EventStream::new());
                    state.dirty = true;
                    update(&mut state, Action::Done { result });
                }
                other => fx.run(other),
            }
        }
        if quit {
            break Ok(());
        }
    };
    cancel.cancel();
    fx.tasks.shutdown();
    for w in &fx.watchers.handles {
        w.abort();
    }
    fleet_bridge.abort();
    info!(rollouts = fx.rollouts_running(), "console stopped");
    outcome
}

/// The shortest time between frames: longer when only log lines changed.
fn frame_gap(logs_only: bool) -> Duration {
    if logs_only { LOG_FRAME } else { FRAME }
}

/// The next terminal event, or never while the reader is paused.
async fn next_event(events: &mut Option<EventStream>) -> Option<Result<Event, std::io::Error>> {
    match events {
        Some(e) => e.next().await,
        None => std::future::pending().await,
    }
}
