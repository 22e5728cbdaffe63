//! Reading shipdeck-labelled containers from an engine into domain types.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::connect::{EngineError, connect, timed};
use crate::config::Config;
use crate::domain::{
    AppContainer, ContainerState, Fleet, Health, HostState, Reachability, labels, naming,
};

/// Build an `AppContainer` from `docker inspect` output; `None` when the
/// container carries no shipdeck project label.
pub fn app_container_from_inspect(c: &ContainerInspectResponse) -> Option<AppContainer> {
    let cfg = c.config.as_ref()?;
    let labels_map = cfg.labels.as_ref()?;
    let label = |k: &str| labels_map.get(k).cloned();
    let project = label(labels::PROJECT)?;
    let state = c.state.as_ref();
    let started_at = state
        .and_then(|s| s.started_at.as_deref())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| t.timestamp() > 0);
    let mut app = AppContainer {
        id: c.id.clone().unwrap_or_default(),
        name: c
            .name
            .clone()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        project,
        env: label(labels::ENV).unwrap_or_default(),
        version: label(labels::VERSION).unwrap_or_else(|| "?".into()),
        release: label(labels::RELEASE),
        digest: label(labels::DIGEST),
        image: cfg.image.clone().unwrap_or_default(),
        role: crate::domain::Role::Kept,
        restart_policy: c
            .host_config
            .as_ref()
            .and_then(|h| h.restart_policy.as_ref())
            .and_then(|r| r.name)
            .map(|n| n.to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "no".into()),
        restart_original: label(labels::RESTART),
        deployed_by: label(labels::DEPLOYED_BY),
        deployed_at: label(labels::DEPLOYED_AT),
        state: state
            .and_then(|s| s.status)
            .map(|s| ContainerState::parse(s.as_ref()))
            .unwrap_or(ContainerState::Unknown),
        health: state
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            .map(|h| Health::parse(h.as_ref()))
            .unwrap_or(Health::None),
        started_at,
        restarts: c.restart_count.unwrap_or(0),
        exit_code: state.and_then(|s| s.exit_code),
    };
    app.role = naming::role(
        &app.name,
        &app.project,
        &app.env,
        app.state == ContainerState::Running,
    );
    Some(app)
}

/// An `AppContainer` from a listing entry (no inspect): what the list
/// says — id, name, labels, state, health from the status text. The
/// restart policy is unknown (`?`), so is the start time.
pub fn app_container_from_summary(s: &bollard::models::ContainerSummary) -> Option<AppContainer> {
    let labels_map = s.labels.as_ref()?;
    let label = |k: &str| labels_map.get(k).cloned();
    let project = label(labels::PROJECT)?;
    let name = s
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default();
    let state = s
        .state
        .map(|st| ContainerState::parse(st.as_ref()))
        .unwrap_or(ContainerState::Unknown);
    let status = s.status.clone().unwrap_or_default();
    let health = if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    };
    let env = label(labels::ENV).unwrap_or_default();
    let role = naming::role(&name, &project, &env, state == ContainerState::Running);
    Some(AppContainer {
        id: s.id.clone().unwrap_or_default(),
        name,
        env,
        version: label(labels::VERSION).unwrap_or_else(|| "?".into()),
        release: label(labels::RELEASE),
        digest: label(labels::DIGEST),
        image: s.image.clone().unwrap_or_default(),
        role,
        restart_policy: "?".into(),
        restart_original: label(labels::RESTART),
        deployed_by: label(labels::DEPLOYED_BY),
        deployed_at: label(labels::DEPLOYED_AT),
        state,
        health,
        started_at: None,
        restarts: 0,
        exit_code: None,
        project,
    })
}

/// Inspect one container. `Ok(None)` when it is gone or not shipdeck's.
pub async fn inspect_app_container(
    docker: &Docker,
    endpoint: &str,
    timeout: Duration,
    id: &str,
) -> Result<Option<AppContainer>, EngineError> {
    match timed(
        endpoint,
        "inspect container",
        timeout,
        docker.inspect_container(id, None::<InspectContainerOptions>),
    )
    .await
    {
        Ok(c) => Ok(app_container_from_inspect(&c)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every container (running or not) with a shipdeck project label, inspected
/// for health, restart count and start time.
pub async fn list_app_containers(
    docker: &Docker,
    endpoint: &str,
    timeout: Duration,
) -> Result<Vec<AppContainer>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![labels::PROJECT.to_string()])]);
    let summaries = timed(
        endpoint,
        "list containers",
        timeout,
        docker.list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        })),
    )
    .await?;
    let ids: Vec<String> = summaries.into_iter().filter_map(|s| s.id).collect();
    // Inspect concurrently: a host with many kept containers must not take n × RTT.
    let results = join_all(
        ids.iter()
            .map(|id| inspect_app_container(docker, endpoint, timeout, id)),
    )
    .await;
    let mut out = Vec::with_capacity(ids.len());
    for r in results {
        if let Some(c) = r? {
            out.push(c);
        }
    }
    Ok(out)
}

/// One-shot read of every host in the inventory, all hosts at once.
/// Unreachable hosts are reported as such; this never fails as a whole.
pub async fn snapshot_fleet(config: &Config) -> Fleet {
    let timeout = config.settings.docker_timeout();
    let reads = config.hosts.iter().map(|h| async move {
        let endpoint = h.endpoint.to_string();
        let mut state = HostState::new(&h.name, &endpoint);
        let result = async {
            let docker = connect(&h.endpoint, timeout).await?;
            let version = docker.client_version().to_string();
            let containers = list_app_containers(&docker, &endpoint, timeout).await?;
            Ok::<_, EngineError>((version, containers))
        }
        .await;
        match result {
            Ok((api_version, containers)) => {
                state.reach = Reachability::Reachable { api_version };
                state.containers = containers.into_iter().map(|c| (c.id.clone(), c)).collect();
            }
            Err(e) => {
                let now = chrono::Utc::now();
                state.unreachable_since = Some(now);
                state.reach = Reachability::Unreachable {
                    error: e.short(),
                    retry_at: now,
                }
            }
        }
        state
    });
    let hosts = join_all(reads).await;
    Fleet {
        hosts: hosts.into_iter().map(|h| (h.name.clone(), h)).collect(),
    }
}
