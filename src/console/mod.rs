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
pub mod no_inventory;
mod paced;
mod shell;
pub mod tasks;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::app::NoInventory;
use crate::config::Config;
use crate::theme::Theme;

/// How the console runs, besides its inventory and theme.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--readonly`: show everything, change nothing.
    pub readonly: bool,
    /// Set when the console opened without an inventory file (see
    /// [`no_inventory::discover`]); it is then read-only whatever
    /// `readonly` says.
    pub no_inventory: Option<NoInventory>,
    /// The journal and build logs.
    pub state_dir: PathBuf,
}

/// Run the console until the user quits. The terminal is restored on every
/// exit path, including a panic (ratatui's init installs the hook).
pub async fn run(config: Arc<Config>, theme: Theme, opts: Options) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init().context("cannot put the terminal in raw mode")?;
    let mouse =
        crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture).is_ok();
    let result = event_loop::run(&mut terminal, config, theme, opts).await;
    if mouse {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    }
    ratatui::restore();
    result
}
