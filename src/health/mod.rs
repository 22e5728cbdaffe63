//! Health gates: wait until a freshly started container is ready, by Docker's
//! HEALTHCHECK status (followed by events, not polling), an HTTP probe and/or
//! a TCP probe, each with interval, timeout, retries and start period.
//! Must not import ratatui or app/ui.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{EventsOptions, InspectContainerOptions};
use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::HealthSpec;
use crate::engine::Engine;
use crate::engine::connect::{describe, timed};

/// Why a container did not become healthy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthFailure {
    #[error("container exited (code {code}) before it was healthy")]
    Exited { code: i64 },
    #[error("Docker health check reports unhealthy: {last_output}")]
    DockerUnhealthy { last_output: String },
    #[error("HTTP probe {url} failed {failures} times in a row: {last_error}")]
    Http {
        url: String,
        failures: u32,
        last_error: String,
    },
    #[error("TCP probe {addr} failed {failures} times in a row: {last_error}")]
    Tcp {
        addr: String,
        failures: u32,
        last_error: String,
    },
    #[error("not healthy within {secs}s")]
    Deadline { secs: u64 },
    #[error("engine error while waiting for health: {0}")]
    Engine(String),
    #[error("cancelled")]
    Cancelled,
}

/// What to probe and where.
#[derive(Debug, Clone)]
pub struct Target {
    pub engine: Engine,
    pub container_id: String,
    /// Where the host's services listen (config `address`).
    pub address: String,
    pub spec: HealthSpec,
}

/// An HTTP client for probes: no proxy, no redirects followed across hosts.
pub fn probe_client() -> reqwest::Client {
    crate::ensure_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// One probe's running tally.
struct Probe {
    failures: u32,
    ok: bool,
    last_error: String,
    next: Instant,
}

impl Probe {
    fn new(start: Instant) -> Self {
        Self {
            failures: 0,
            ok: false,
            last_error: String::new(),
            next: start,
        }
    }
}

/// The longest a wait may take: start period, then `retries + 1` rounds of
/// interval + timeout, plus slack for Docker's own (slower) health checks.
pub fn deadline_for(spec: &HealthSpec) -> Duration {
    let round = Duration::from_millis(spec.interval_ms + spec.timeout_ms);
    Duration::from_millis(spec.start_period_ms)
        + round * (spec.retries + 1)
        + Duration::from_secs(30)
}

/// Wait until the container is healthy. Returns how long it took.
pub async fn wait_healthy(
    target: &Target,
    http: &reqwest::Client,
    cancel: &CancellationToken,
) -> Result<Duration, HealthFailure> {
    let start = Instant::now();
    let spec = &target.spec;
    let eng = &target.engine;
    let engine_err = |e: crate::engine::EngineError| HealthFailure::Engine(e.to_string());

    let inspect = timed(
        &eng.endpoint,
        "inspect container",
        eng.timeout,
        eng.docker
            .inspect_container(&target.container_id, None::<InspectContainerOptions>),
    )
    .await
    .map_err(engine_err)?;
    // Follow this container's events from the moment it (last) started, on
    // the engine's own clock: nothing between start and now is missed, and
    // the death of its previous run (a kept container being restored) is not
    // mistaken for a death of this one.
    let started_at = inspect
        .state
        .as_ref()
        .and_then(|s| s.started_at.as_deref())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let started_nanos = started_at
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0);
    let since = match started_at {
        Some(t) => format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos()),
        None => (chrono::Utc::now().timestamp() - 2).to_string(),
    };
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("container".to_string(), vec![target.container_id.clone()]),
    ]);
    let mut events = eng
        .docker
        .events(Some(EventsOptions {
            since: Some(since),
            filters: Some(filters),
            ..Default::default()
        }))
        .boxed();

    let has_docker_check = inspect
        .config
        .as_ref()
        .and_then(|c| c.healthcheck.as_ref())
        .and_then(|h| h.test.as_ref())
        .is_some_and(|t| !t.is_empty() && t[0] != "NONE");
    let use_docker = spec.docker && has_docker_check;
    let use_http = spec.http_path.is_some();
    let use_tcp = spec.tcp;
    let mut docker_ok = !use_docker;
    let state = inspect.state.as_ref();
    if state.and_then(|s| s.running) == Some(false) {
        return Err(HealthFailure::Exited {
            code: state.and_then(|s| s.exit_code).unwrap_or(-1),
        });
    }
    if use_docker
        && state
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            .is_some_and(|s| s.as_ref() == "healthy")
    {
        docker_ok = true;
    }

    let start_period = Duration::from_millis(spec.start_period_ms);
    let interval = Duration::from_millis(spec.interval_ms.max(50));
    let timeout = Duration::from_millis(spec.timeout_ms.max(50));
    let deadline = start + deadline_for(spec);
    let url = spec
        .http_path
        .as_ref()
        .map(|p| format!("http://{}:{}{}", target.address, spec.port, p));
    let tcp_addr = format!("{}:{}", target.address, spec.port);
    let mut http_probe = Probe::new(start);
    let mut tcp_probe = Probe::new(start);
    http_probe.ok = !use_http;
    tcp_probe.ok = !use_tcp;
    // With no health signal at all, "running for a second" is the gate.
    let bare = !use_docker && !use_http && !use_tcp;
    let bare_until = start + Duration::from_secs(1);

    loop {
        if docker_ok && http_probe.ok && tcp_probe.ok && (!bare || Instant::now() >= bare_until) {
            return Ok(start.elapsed());
        }
        if Instant::now() >= deadline {
            return Err(HealthFailure::Deadline {
                secs: deadline_for(spec).as_secs(),
            });
        }
        let mut wake = deadline;
        if !http_probe.ok {
            wake = wake.min(http_probe.next);
        }
        if !tcp_probe.ok {
            wake = wake.min(tcp_probe.next);
        }
        if bare {
            wake = wake.min(bare_until);
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(HealthFailure::Cancelled),
            ev = events.next() => match ev {
                Some(Ok(msg)) if msg.time_nano.unwrap_or(i64::MAX) < started_nanos => {}
                Some(Ok(msg)) => {
                    let action = msg.action.unwrap_or_default();
                    if action == "die" {
                        let code = msg
                            .actor
                            .and_then(|a| a.attributes)
                            .and_then(|a| a.get("exitCode").and_then(|c| c.parse().ok()))
                            .unwrap_or(-1);
                        return Err(HealthFailure::Exited { code });
                    } else if use_docker && action == "health_status: healthy" {
                        docker_ok = true;
                    } else if use_docker && action == "health_status: unhealthy" {
                        return Err(HealthFailure::DockerUnhealthy {
                            last_output: last_health_output(target).await,
                        });
                    }
                }
                Some(Err(e)) => return Err(HealthFailure::Engine(describe(&e))),
                // The engine closed the stream: fall back to the probes' pace.
                None => {
                    events = futures::stream::pending().boxed();
                }
            },
            _ = tokio::time::sleep_until(wake) => {}
        }
        let now = Instant::now();
        let counting = now.duration_since(start) >= start_period;
        if !http_probe.ok && now >= http_probe.next {
            if let Some(url) = &url {
                match http.get(url).timeout(timeout).send().await {
                    Ok(r) if r.status().is_success() || r.status().is_redirection() => {
                        http_probe.ok = true
                    }
                    Ok(r) => http_probe.last_error = format!("HTTP {}", r.status()),
                    Err(e) => http_probe.last_error = root_cause(&e),
                }
                if !http_probe.ok && counting {
                    http_probe.failures += 1;
                    if http_probe.failures > spec.retries {
                        return Err(HealthFailure::Http {
                            url: url.clone(),
                            failures: http_probe.failures,
                            last_error: http_probe.last_error.clone(),
                        });
                    }
                }
            }
            http_probe.next = now + interval;
        }
        if !tcp_probe.ok && now >= tcp_probe.next {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&tcp_addr)).await {
                Ok(Ok(_)) => tcp_probe.ok = true,
                Ok(Err(e)) => tcp_probe.last_error = e.to_string(),
                Err(_) => tcp_probe.last_error = format!("no answer in {}ms", timeout.as_millis()),
            }
            if !tcp_probe.ok && counting {
                tcp_probe.failures += 1;
                if tcp_probe.failures > spec.retries {
                    return Err(HealthFailure::Tcp {
                        addr: tcp_addr.clone(),
                        failures: tcp_probe.failures,
                        last_error: tcp_probe.last_error.clone(),
                    });
                }
            }
            tcp_probe.next = now + interval;
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

async fn last_health_output(target: &Target) -> String {
    let eng = &target.engine;
    let r = timed(
        &eng.endpoint,
        "inspect container",
        eng.timeout,
        eng.docker
            .inspect_container(&target.container_id, None::<InspectContainerOptions>),
    )
    .await;
    r.ok()
        .and_then(|c| c.state)
        .and_then(|s| s.health)
        .and_then(|h| h.log)
        .and_then(|l| l.last().cloned())
        .map(|r| {
            let out = r.output.unwrap_or_default();
            format!(
                "exit {}{}",
                r.exit_code.unwrap_or(-1),
                if out.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", out.trim())
                }
            )
        })
        .unwrap_or_else(|| "no health log".into())
}

/// One round of the spec's HTTP and TCP probes against `address` (no retries):
/// `Err` says which failed and why. Used to confirm that what runs is healthy
/// right now (promotion), not to gate a new container.
pub async fn probe_once(
    address: &str,
    spec: &HealthSpec,
    http: &reqwest::Client,
) -> Result<(), String> {
    let timeout = Duration::from_millis(spec.timeout_ms.max(1));
    if let Some(path) = &spec.http_path {
        let url = format!("http://{address}:{}{path}", spec.port);
        match http.get(&url).timeout(timeout).send().await {
            Ok(r) if r.status().is_success() || r.status().is_redirection() => {}
            Ok(r) => return Err(format!("HTTP probe {url}: HTTP {}", r.status())),
            Err(e) => return Err(format!("HTTP probe {url}: {}", root_cause(&e))),
        }
    }
    if spec.tcp {
        let addr = format!("{address}:{}", spec.port);
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("TCP probe {addr}: {e}")),
            Err(_) => {
                return Err(format!(
                    "TCP probe {addr}: no answer in {}ms",
                    timeout.as_millis()
                ));
            }
        }
    }
    Ok(())
}
