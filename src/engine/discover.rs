//! One engine read once, for the console without an inventory: what it
//! calls itself and the shipdeck-labelled containers it holds.

use std::time::Duration;

use super::connect::{EngineError, connect, timed};
use super::inventory::list_app_containers;
use crate::config::Endpoint;
use crate::domain::AppContainer;

/// What one engine said.
#[derive(Debug, Clone)]
pub struct EngineView {
    /// The engine's own name (`docker info`'s `Name`: its machine's host
    /// name), when it gives one.
    pub name: Option<String>,
    /// Every container with a shipdeck project label, running or not.
    pub containers: Vec<AppContainer>,
}

/// Connect to `endpoint` and read its name and shipdeck containers, every
/// call bounded by `timeout`.
pub async fn read_engine(
    endpoint: &Endpoint,
    timeout: Duration,
) -> Result<EngineView, EngineError> {
    let shown = endpoint.to_string();
    let docker = connect(endpoint, timeout).await?;
    let info = timed(&shown, "info", timeout, docker.info()).await?;
    let containers = list_app_containers(&docker, &shown, timeout).await?;
    Ok(EngineView {
        name: info.name.filter(|n| !n.trim().is_empty()),
        containers,
    })
}
