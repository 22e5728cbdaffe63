//! One watcher task per host: connect, list, then follow `docker events` and
//! report every change as a `FleetUpdate`. A host that stops answering is
//! reported Unreachable and retried with exponential backoff. Nothing here
//! blocks the caller: all results travel over a bounded channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::EventsOptions;
use futures::StreamExt;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::connect::{EngineError, connect, engine_clock, timed};
use super::inventory::{inspect_app_container, list_app_containers};
use crate::config::{Config, Host};
use crate::domain::{FleetUpdate, labels};

/// Timings of the watchers.
#[derive(Debug, Clone, Copy)]
pub struct WatchConfig {
    /// Bound on every API call.
    pub timeout: Duration,
    /// First retry delay after a failure; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How often an idle connection is pinged, so a hung (not closed) engine
    /// is noticed too. Events alone cannot tell "quiet" from "frozen".
    pub liveness_interval: Duration,
}

impl WatchConfig {
    pub fn from_config(config: &Config) -> Self {
        Self {
            timeout: config.settings.docker_timeout(),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            liveness_interval: Duration::from_secs(5),
        }
    }
}

/// The running watchers of a fleet.
pub struct FleetWatchers {
    pub handles: Vec<JoinHandle<()>>,
    /// Wakes every watcher that waits out its backoff: it reconnects now.
    pub reconnect: Arc<Notify>,
}

impl FleetWatchers {
    /// Hosts that wait for their next attempt try again now.
    pub fn reconnect_now(&self) {
        self.reconnect.notify_waiters();
    }
}

/// Start one watcher per configured host. They stop when `cancel` fires or
/// when the receiver is dropped.
pub fn spawn_fleet_watchers(
    config: &Config,
    wc: WatchConfig,
    tx: mpsc::Sender<FleetUpdate>,
    cancel: CancellationToken,
) -> FleetWatchers {
    let reconnect = Arc::new(Notify::new());
    let handles = config
        .hosts
        .iter()
        .cloned()
        .map(|host| {
            let tx = tx.clone();
            let cancel = cancel.child_token();
            tokio::spawn(watch_host(host, wc, tx, cancel, reconnect.clone()))
        })
        .collect();
    FleetWatchers { handles, reconnect }
}

/// Why a session ended.
enum End {
    /// Cancelled or nobody listens any more: the watcher stops.
    Stop,
    /// The host failed; `was_connected` resets the backoff.
    Failed {
        error: EngineError,
        was_connected: bool,
    },
}

async fn watch_host(
    host: Host,
    wc: WatchConfig,
    tx: mpsc::Sender<FleetUpdate>,
    cancel: CancellationToken,
    reconnect: Arc<Notify>,
) {
    let mut backoff = wc.backoff_min;
    loop {
        if tx
            .send(FleetUpdate::Connecting {
                host: host.name.clone(),
            })
            .await
            .is_err()
        {
            return;
        }
        match session(&host, &wc, &tx, &cancel).await {
            End::Stop => return,
            End::Failed {
                error,
                was_connected,
            } => {
                if was_connected {
                    backoff = wc.backoff_min;
                }
                warn!(host = %host.name, %error, "host unreachable");
                let at = chrono::Utc::now();
                let update = FleetUpdate::Unreachable {
                    host: host.name.clone(),
                    error: error.short(),
                    at,
                    retry_at: at
                        + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::zero()),
                };
                // Registered before the update goes out, so that a "reconnect
                // now" sent as soon as the screen shows the host is not missed.
                let woken = reconnect.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                if tx.send(update).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut woken => {
                        info!(host = %host.name, "reconnect asked for");
                        backoff = wc.backoff_min;
                    }
                }
                backoff = (backoff * 2).min(wc.backoff_max);
            }
        }
    }
}

/// The container events that change what we show. The engine filters on
/// them, so health-check execs (three events per container per check) never
/// leave the host; `health_status` matches `health_status: healthy` etc.
const WANTED_EVENTS: [&str; 13] = [
    "create",
    "start",
    "restart",
    "die",
    "stop",
    "kill",
    "oom",
    "pause",
    "unpause",
    "rename",
    "update",
    "destroy",
    "health_status",
];

/// Container event actions that change nothing we show (a filter the engine
/// does not know passes them on).
fn is_noise(action: &str) -> bool {
    action.starts_with("exec_")
        || action.starts_with("attach")
        || action.starts_with("resize")
        || action == "top"
        || action == "export"
        || action == "copy"
        || action == "archive-path"
        || action == "extract-to-dir"
        || action == "commit"
}

/// The engine's clock, in Unix seconds (the local clock if it does not say).
async fn engine_now(
    docker: &Docker,
    endpoint: &str,
    timeout: Duration,
) -> Result<i64, EngineError> {
    Ok(engine_clock(docker, endpoint, timeout)
        .await?
        .unwrap_or_else(chrono::Utc::now)
        .timestamp())
}

async fn session(
    host: &Host,
    wc: &WatchConfig,
    tx: &mpsc::Sender<FleetUpdate>,
    cancel: &CancellationToken,
) -> End {
    let endpoint = host.endpoint.to_string();
    let fail = |error| End::Failed {
        error,
        was_connected: false,
    };
    let docker: Docker = tokio::select! {
        _ = cancel.cancelled() => return End::Stop,
        r = connect(&host.endpoint, wc.timeout) => match r {
            Ok(d) => d,
            Err(e) => return fail(e),
        },
    };
    // The event stream starts where the listing starts: `since` (on the
    // engine's own clock, a second early) replays anything that happens
    // between the list and the moment the stream's request goes out. A change
    // seen twice is harmless; a change missed would stay wrong on screen.
    let since = tokio::select! {
        _ = cancel.cancelled() => return End::Stop,
        r = engine_now(&docker, &endpoint, wc.timeout) => match r {
            Ok(t) => t - 1,
            Err(e) => return fail(e),
        },
    };
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("label".to_string(), vec![labels::PROJECT.to_string()]),
        (
            "event".to_string(),
            WANTED_EVENTS.iter().map(|e| e.to_string()).collect(),
        ),
    ]);
    let mut events = docker.events(Some(EventsOptions {
        since: Some(since.to_string()),
        filters: Some(filters),
        ..Default::default()
    }));
    let containers = tokio::select! {
        _ = cancel.cancelled() => return End::Stop,
        r = list_app_containers(&docker, &endpoint, wc.timeout) => match r {
            Ok(c) => c,
            Err(e) => return fail(e),
        },
    };
    info!(host = %host.name, n = containers.len(), "host connected");
    let connected = FleetUpdate::Connected {
        host: host.name.clone(),
        api_version: docker.client_version().to_string(),
        containers,
    };
    if tx.send(connected).await.is_err() {
        return End::Stop;
    }
    let failed = |error| End::Failed {
        error,
        was_connected: true,
    };
    let mut liveness = tokio::time::interval(wc.liveness_interval);
    liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    liveness.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return End::Stop,
            ev = events.next() => {
                let msg = match ev {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        return failed(EngineError::Api {
                            status: None,
                            endpoint: endpoint.clone(),
                            what: "event stream",
                            reason: super::connect::describe(&e),
                        })
                    }
                    None => {
                        return failed(EngineError::Api {
                            status: None,
                            endpoint: endpoint.clone(),
                            what: "event stream",
                            reason: "closed by the engine".into(),
                        })
                    }
                };
                let action = msg.action.unwrap_or_default();
                let Some(id) = msg.actor.and_then(|a| a.id) else { continue };
                if is_noise(&action) {
                    continue;
                }
                debug!(host = %host.name, %action, id = %id, "container event");
                let update = if action == "destroy" {
                    FleetUpdate::Removed { host: host.name.clone(), id }
                } else {
                    match inspect_app_container(&docker, &endpoint, wc.timeout, &id).await {
                        Ok(Some(c)) => FleetUpdate::Container { host: host.name.clone(), container: Box::new(c) },
                        Ok(None) => FleetUpdate::Removed { host: host.name.clone(), id },
                        Err(e) => return failed(e),
                    }
                };
                if tx.send(update).await.is_err() {
                    return End::Stop;
                }
            }
            _ = liveness.tick() => {
                if let Err(e) = timed(&endpoint, "ping", wc.timeout, docker.ping()).await {
                    return failed(e);
                }
            }
        }
    }
}
