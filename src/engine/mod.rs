//! The Docker adapter over bollard: connect by endpoint, read shipdeck
//! containers, one container's status and events (for health gates), watch
//! hosts by `docker events`, build and push images, and the fleet objects
//! (lock, ledger). Callers get bollard-free types from here and never import
//! bollard. Must not import ratatui or app/ui.

pub mod build;
pub mod connect;
pub mod console_ops;
pub mod container;
pub mod discover;
pub mod inventory;
pub mod logs;
pub mod objects;
pub mod ops;
pub mod ssh;
pub mod stats;
pub mod tls;
pub mod watch;

pub use connect::{EngineError, connect};
pub use container::{ContainerEvent, ContainerStatus, DockerHealth, HealthLogEntry};
pub use inventory::{list_app_containers, snapshot_fleet};
pub use objects::{FleetObject, Registers};
pub use ops::{CreateSpec, Engine};
pub use watch::{FleetWatchers, WatchConfig, spawn_fleet_watchers};

/// The engine's form of a registry login (the password goes only into the call).
pub(crate) fn credentials(
    login: &crate::config::RegistryLogin,
) -> bollard::auth::DockerCredentials {
    bollard::auth::DockerCredentials {
        username: Some(login.username.clone()),
        password: login.password.as_ref().map(|p| p.expose().to_string()),
        serveraddress: Some(login.server.clone()),
        ..Default::default()
    }
}
