//! Health gates: wait until a freshly started container is ready, by Docker's
//! HEALTHCHECK status (followed by events, not polling), an HTTP probe and/or
//! a TCP probe, each with interval, timeout, retries and start period. A
//! container that dies fails the gate at once, start period or not. When the
//! engine's event stream fails or ends mid-wait (dockerd restarting under
//! `--live-restore`), the gate goes on by its probes and by polling the
//! container's status. Reaches the engine only through `engine::Engine`'s
//! container status and events (engine-neutral types); must not import the
//! Docker client crate, ratatui or app/ui.

use std::borrow::Cow;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::config::HealthSpec;
use crate::engine::{ContainerEvent, ContainerStatus, DockerHealth, Engine, HealthLogEntry};

/// Why a container did not become healthy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthFailure {
    /// It exited, or its restart policy restarted it (a crash loop); `code` is
    /// the engine's exit code, -1 when it gave none.
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
    /// The engine no longer knows the container (removed mid-wait).
    #[error("container {id} was removed before it was healthy")]
    Gone { id: String },
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

/// The longest any health wait takes, whatever the spec says.
pub const MAX_WAIT: Duration = Duration::from_secs(6 * 60 * 60);

/// Slack on top of the probes' own rounds for Docker's (slower) checks.
const DOCKER_SLACK: Duration = Duration::from_secs(30);

/// The shortest interval / timeout the gate uses (a spec of 1ms is not a
/// reason to spin).
const MIN_STEP: Duration = Duration::from_millis(50);

/// An HTTP client for probes: no proxy, no redirects followed across hosts.
pub fn probe_client() -> reqwest::Client {
    crate::ensure_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// `address` as the host part of a URL or a `host:port`: an IPv6 literal
/// (`::1`, `fd00::5`) is bracketed, anything else (a name, IPv4, an already
/// bracketed literal) stays as it is.
pub fn probe_host(address: &str) -> Cow<'_, str> {
    if address.contains(':') && !address.starts_with('[') {
        Cow::Owned(format!("[{address}]"))
    } else {
        Cow::Borrowed(address)
    }
}

/// The HTTP probe's URL: `http://ADDRESS:PORT/PATH`, IPv6 bracketed.
pub fn probe_url(address: &str, port: u16, path: &str) -> String {
    format!("http://{}:{port}{path}", probe_host(address))
}

/// The TCP probe's `ADDRESS:PORT`, IPv6 bracketed.
pub fn probe_addr(address: &str, port: u16) -> String {
    format!("{}:{port}", probe_host(address))
}

/// One probe's running tally.
struct Probe {
    failures: u32,
    ok: bool,
    last_error: String,
    next: Instant,
}

impl Probe {
    fn new(start: Instant, needed: bool) -> Self {
        Self {
            failures: 0,
            ok: !needed,
            last_error: String::new(),
            next: start,
        }
    }

    /// Record one probe's result at `now`; true when the failures (counted
    /// only once `counting`) exceed `retries`.
    fn record(
        &mut self,
        r: Result<(), String>,
        now: Instant,
        interval: Duration,
        counting: bool,
        retries: u32,
    ) -> bool {
        self.next = now + interval;
        match r {
            Ok(()) => {
                self.ok = true;
                false
            }
            Err(e) => {
                self.last_error = e;
                if counting {
                    self.failures = self.failures.saturating_add(1);
                }
                self.failures > retries
            }
        }
    }
}

/// The longest a wait may take: start period, then `retries + 1` rounds of
/// interval + timeout, plus slack for Docker's own (slower) health checks;
/// never more than [`MAX_WAIT`] (the arithmetic saturates, it never panics).
pub fn deadline_for(spec: &HealthSpec) -> Duration {
    let round = Duration::from_millis(spec.interval_ms.saturating_add(spec.timeout_ms));
    Duration::from_millis(spec.start_period_ms)
        .saturating_add(round.saturating_mul(spec.retries.saturating_add(1)))
        .saturating_add(DOCKER_SLACK)
        .min(MAX_WAIT)
}

/// `ms` as a step of the gate: at least [`MIN_STEP`], at most [`MAX_WAIT`].
fn step(ms: u64) -> Duration {
    Duration::from_millis(ms).clamp(MIN_STEP, MAX_WAIT)
}

/// What the container's status says about the gate, with what is known from
/// the start.
struct Judge {
    use_docker: bool,
    restarts_at_start: i64,
    docker_ok: bool,
}

impl Judge {
    /// Fails when the container died (exited, restarting, or restarted since
    /// the start) or Docker calls it unhealthy; notes Docker's healthy.
    fn status(&mut self, s: &ContainerStatus) -> Result<(), HealthFailure> {
        if s.has_died_since(self.restarts_at_start) {
            // A container running again after a restart reports its new run's
            // exit code (0): that is no exit code of the run that died.
            let code = if s.running && !s.restarting {
                -1
            } else {
                s.exit_code.unwrap_or(-1)
            };
            return Err(HealthFailure::Exited { code });
        }
        if self.use_docker {
            match s.health {
                DockerHealth::Healthy => self.docker_ok = true,
                DockerHealth::Unhealthy => {
                    return Err(HealthFailure::DockerUnhealthy {
                        last_output: describe_log(s.last_health.as_ref()),
                    });
                }
                DockerHealth::Starting | DockerHealth::None => {}
            }
        }
        Ok(())
    }
}

/// Wait until the container is healthy. Returns how long it took.
///
/// Fails at once when the container dies (a `die` event, or a status poll
/// that shows it stopped, restarting or restarted), whatever the start
/// period; probe failures count only after the start period. If the engine's
/// event stream fails or ends, the wait goes on: the probes decide, and the
/// container's status is polled every interval for an exit (and for Docker's
/// health status, which then is the only signal when there are no probes),
/// until the deadline. Errors of those polls (the engine is restarting) do not
/// fail the gate.
pub async fn wait_healthy(
    target: &Target,
    http: &reqwest::Client,
    cancel: &CancellationToken,
) -> Result<Duration, HealthFailure> {
    let start = Instant::now();
    let spec = &target.spec;
    let eng = &target.engine;
    let id = target.container_id.as_str();
    let gone = || HealthFailure::Gone {
        id: id.get(..12).unwrap_or(id).to_string(),
    };

    let first = tokio::select! {
        _ = cancel.cancelled() => return Err(HealthFailure::Cancelled),
        r = eng.container_status(id) => r,
    };
    let first = match first {
        Ok(Some(s)) => s,
        Ok(None) => return Err(gone()),
        Err(e) => return Err(HealthFailure::Engine(e.to_string())),
    };
    let use_docker = spec.docker && first.has_healthcheck;
    let mut judge = Judge {
        use_docker,
        restarts_at_start: first.restart_count,
        docker_ok: !use_docker,
    };
    judge.status(&first)?;
    // Follow this container's events from the moment it (last) started, on
    // the engine's own clock: nothing between start and now is missed, and
    // the death of its previous run (a kept container being restored) is not
    // mistaken for a death of this one.
    let mut events = eng.container_events(id, first.started_at);
    let mut events_live = true;

    let use_http = spec.http_path.is_some();
    let use_tcp = spec.tcp;
    let start_period = Duration::from_millis(spec.start_period_ms);
    let interval = step(spec.interval_ms);
    let timeout = step(spec.timeout_ms);
    let total = deadline_for(spec);
    let deadline = start + total;
    let url = spec
        .http_path
        .as_deref()
        .map(|p| probe_url(&target.address, spec.port, p));
    let tcp_addr = probe_addr(&target.address, spec.port);
    let mut http_probe = Probe::new(start, use_http);
    let mut tcp_probe = Probe::new(start, use_tcp);
    // With no health signal at all, "still running after a second" is the
    // gate, confirmed by one status poll.
    let bare = !use_docker && !use_http && !use_tcp;
    let bare_until = start + Duration::from_secs(1);
    let mut bare_ok = !bare;
    // Status polls: once for the bare gate, every interval once events are lost.
    let mut poll_at = bare.then_some(bare_until);

    loop {
        if judge.docker_ok && http_probe.ok && tcp_probe.ok && bare_ok {
            return Ok(start.elapsed());
        }
        if Instant::now() >= deadline {
            return Err(HealthFailure::Deadline {
                secs: total.as_secs(),
            });
        }
        let mut wake = deadline;
        if !http_probe.ok {
            wake = wake.min(http_probe.next);
        }
        if !tcp_probe.ok {
            wake = wake.min(tcp_probe.next);
        }
        if let Some(at) = poll_at {
            wake = wake.min(at);
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(HealthFailure::Cancelled),
            ev = events.next(), if events_live => match ev {
                Some(Ok(ContainerEvent::Died { exit_code, .. })) => {
                    return Err(HealthFailure::Exited {
                        code: exit_code.unwrap_or(-1),
                    });
                }
                Some(Ok(ContainerEvent::Healthy { .. })) if use_docker => judge.docker_ok = true,
                Some(Ok(ContainerEvent::Unhealthy { .. })) if use_docker => {
                    return Err(HealthFailure::DockerUnhealthy {
                        last_output: last_health_output(eng, id).await,
                    });
                }
                Some(Ok(_)) => {}
                lost => {
                    let why = match lost {
                        Some(Err(e)) => e.to_string(),
                        _ => "the engine closed the event stream".to_string(),
                    };
                    warn!(
                        host = %eng.host,
                        container = id,
                        error = %why,
                        "container events lost while waiting for health; \
                         going on by probes and status polls"
                    );
                    events_live = false;
                    poll_at = Some(Instant::now());
                }
            },
            _ = tokio::time::sleep_until(wake) => {}
        }

        if poll_at.is_some_and(|at| Instant::now() >= at) {
            let polled = Instant::now();
            let r = tokio::select! {
                _ = cancel.cancelled() => return Err(HealthFailure::Cancelled),
                r = eng.container_status(id) => r,
            };
            match r {
                Ok(None) => return Err(gone()),
                Ok(Some(s)) => {
                    judge.status(&s)?;
                    if polled >= bare_until {
                        bare_ok = true;
                    }
                }
                // The engine is down or restarting: the probes go on.
                Err(e) => {
                    debug!(host = %eng.host, container = id, error = %e, "status poll failed")
                }
            }
            poll_at = (!events_live || !bare_ok).then(|| Instant::now() + interval);
        }

        let now = Instant::now();
        let counting = now.duration_since(start) >= start_period;
        if let Some(url) = url
            .as_deref()
            .filter(|_| !http_probe.ok && now >= http_probe.next)
        {
            let r = http_get(http, url, timeout).await;
            if http_probe.record(r, now, interval, counting, spec.retries) {
                return Err(HealthFailure::Http {
                    url: url.to_string(),
                    failures: http_probe.failures,
                    last_error: http_probe.last_error.clone(),
                });
            }
        }
        if !tcp_probe.ok && now >= tcp_probe.next {
            let r = tcp_connect(&tcp_addr, timeout).await;
            if tcp_probe.record(r, now, interval, counting, spec.retries) {
                return Err(HealthFailure::Tcp {
                    addr: tcp_addr.clone(),
                    failures: tcp_probe.failures,
                    last_error: tcp_probe.last_error.clone(),
                });
            }
        }
    }
}

/// One HTTP GET: any 2xx/3xx within `timeout` passes; `Err` says why not.
async fn http_get(http: &reqwest::Client, url: &str, timeout: Duration) -> Result<(), String> {
    match http.get(url).timeout(timeout).send().await {
        Ok(r) if r.status().is_success() || r.status().is_redirection() => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status())),
        Err(e) => Err(root_cause(&e)),
    }
}

/// One TCP connect within `timeout`; `Err` says why not.
async fn tcp_connect(addr: &str, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer in {}ms", timeout.as_millis())),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Docker's last health log entry as one line.
fn describe_log(entry: Option<&HealthLogEntry>) -> String {
    let Some(entry) = entry else {
        return "no health log".into();
    };
    let out = entry.output.trim();
    format!(
        "exit {}{}",
        entry.exit_code.unwrap_or(-1),
        if out.is_empty() {
            String::new()
        } else {
            format!(": {out}")
        }
    )
}

async fn last_health_output(eng: &Engine, id: &str) -> String {
    match eng.container_status(id).await {
        Ok(Some(s)) => describe_log(s.last_health.as_ref()),
        Ok(None) => "no health log (the container is gone)".into(),
        Err(e) => format!("no health log ({})", e.short()),
    }
}

/// One round of the spec's HTTP and TCP probes against `address` (no retries):
/// `Err` says which failed and why. Used to confirm that what runs is healthy
/// right now (promotion), not to gate a new container.
pub async fn probe_once(
    address: &str,
    spec: &HealthSpec,
    http: &reqwest::Client,
) -> Result<(), String> {
    let timeout = Duration::from_millis(spec.timeout_ms).clamp(Duration::from_millis(1), MAX_WAIT);
    if let Some(path) = &spec.http_path {
        let url = probe_url(address, spec.port, path);
        http_get(http, &url, timeout)
            .await
            .map_err(|e| format!("HTTP probe {url}: {e}"))?;
    }
    if spec.tcp {
        let addr = probe_addr(address, spec.port);
        tcp_connect(&addr, timeout)
            .await
            .map_err(|e| format!("TCP probe {addr}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
