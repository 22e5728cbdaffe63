//! The console without an inventory file: it opens on the engine the
//! Docker environment names (`DOCKER_HOST`, `DOCKER_CONTEXT`, the current
//! Docker context, else the local socket), as lazydocker and oxker do, and
//! shows read-only what shipdeck's labels there say.

use std::time::Duration;

use anyhow::anyhow;

use crate::app::NoInventory;
use crate::config::context::DockerEnv;
use crate::config::discovered::{Seen, from_labels};
use crate::config::{Config, Host};
use crate::engine::discover::read_engine;

/// The read-only inventory of the Docker environment's engine, read once
/// (bounded by `timeout` per call), and what the console says about it.
/// Fails, before the terminal is touched, when the environment names no
/// usable engine or the engine does not answer.
pub async fn discover(
    docker: &DockerEnv,
    timeout: Duration,
) -> anyhow::Result<(Config, NoInventory)> {
    let (source, endpoint) = docker.current().map_err(|e| {
        anyhow!(
            "no inventory, and the Docker environment names no usable engine: {}\n  hint: {}",
            e.problem,
            e.hint
        )
    })?;
    let view = read_engine(&endpoint, timeout).await.map_err(|e| {
        anyhow!(
            "no inventory, and the engine of {source} ({endpoint}) cannot be read: {e}\n  hint: start it or point DOCKER_HOST (or `docker context use NAME`) at a running engine; to work with a fleet, write ./shipdeck.toml ({})",
            crate::config::WRITE_ONE
        )
    })?;
    // The host is named after the context, else after the engine itself.
    let name = source
        .context()
        .map(str::to_string)
        .or(view.name)
        .unwrap_or_else(|| "default".to_string());
    let seen: Vec<Seen> = view
        .containers
        .iter()
        .map(|c| Seen {
            project: c.project.clone(),
            env: c.env.clone(),
            image: c.image.clone(),
        })
        .collect();
    let host = Host {
        name,
        endpoint: endpoint.clone(),
        labels: Vec::new(),
        address: None,
    };
    let note = NoInventory {
        endpoint: endpoint.to_string(),
        source: source.to_string(),
    };
    Ok((from_labels(host, &seen), note))
}
