//! The Docker adapter over bollard: connect by endpoint, read shipdeck
//! containers, watch hosts by `docker events`, build and push images.
//! Must not import ratatui or app/ui.

pub mod build;
pub mod connect;
pub mod inventory;
pub mod ops;
pub mod watch;

pub use connect::{EngineError, connect};
pub use inventory::{list_app_containers, snapshot_fleet};
pub use ops::{CreateSpec, Engine};
pub use watch::{WatchConfig, spawn_fleet_watchers};
