//! The interactive console: terminal setup and restore, and the one loop
//! that merges key and mouse events, the action channel (fleet updates,
//! rollout and build events, answers of background work), a 1 s tick and a
//! frame tick. `update()` owns state changes; `effects` carries out what it
//! asks for; drawing happens only on a frame tick when state changed.

mod bridge;
mod effects;
mod event_loop;
mod latency;
mod logs;
mod shell;
pub mod tasks;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::theme::Theme;

/// Run the console until the user quits. The terminal is restored on every
/// exit path, including a panic (ratatui's init installs the hook).
pub async fn run(
    config: Arc<Config>,
    theme: Theme,
    readonly: bool,
    state_dir: PathBuf,
) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init().context("cannot put the terminal in raw mode")?;
    let mouse =
        crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture).is_ok();
    let result = event_loop::run(&mut terminal, config, theme, readonly, state_dir).await;
    if mouse {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    }
    ratatui::restore();
    result
}
