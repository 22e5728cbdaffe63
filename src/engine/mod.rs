//! The Docker adapter over bollard: connect by endpoint, read shipdeck
//! containers, one container's status and events (for health gates), watch
//! hosts by `docker events`. Callers such as `health` get bollard-free types
//! from here and never import bollard. Must not import ratatui or app/ui.

pub mod connect;
pub mod container;
pub mod inventory;
pub mod ops;
pub mod watch;

pub use connect::{EngineError, connect};
pub use container::{ContainerEvent, ContainerStatus, DockerHealth, HealthLogEntry};
pub use inventory::{list_app_containers, snapshot_fleet};
pub use ops::{CreateSpec, Engine};
pub use watch::{WatchConfig, spawn_fleet_watchers};
