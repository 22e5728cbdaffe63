//! Rollouts: the pure planner, the fleet lock, the release journal, the
//! events both the console and the headless CLI consume, and the executor.
//! Must not import ratatui or app/ui.

pub mod activity;
pub mod checks;
pub mod events;
pub mod executor;
pub mod journal;
pub mod ledger;
pub mod lock;
pub mod plan;
pub mod promote;
pub mod release;
