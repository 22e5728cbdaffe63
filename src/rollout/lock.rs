//! The fleet lock: one rollout per project+environment at a time, across
//! operators and machines, held on the fleet itself. Owns the lock object's
//! format (container name, labels, files), its heartbeat task and the control
//! channel (pause / resume / abort from another terminal). Must not import
//! ratatui or app/ui.
//!
//! The lock object is a created, never started container named
//! `shipdeck-lock.{project}.{env}` on the environment's first reachable host:
//! container names are unique per engine, so `create` is an atomic
//! test-and-set (a second create gets 409 Conflict). The holder heartbeats by
//! writing `/shipdeck/heartbeat` into it; others write `/shipdeck/control`.
//!
//! Times written into the lock are the lock host's clock (from `/info`), and
//! readers shift them onto their own clock by the offset they measure, so an
//! operator whose laptop clock is off neither looks expired nor lives forever.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, DownloadFromContainerOptions,
    RemoveContainerOptions, UploadToContainerOptions,
};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::{Config, Endpoint};
use crate::engine::EngineError;
use crate::engine::connect::{connect, describe};

/// How long a lock lives without a heartbeat.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// The image every lock container is created from; imported on demand from a
/// tiny tar through the Engine API, so no registry is needed.
pub const LOCK_IMAGE: &str = "shipdeck/lock:1";
const LOCK_IMAGE_REPO: &str = "shipdeck/lock";
const LOCK_IMAGE_TAG: &str = "1";
/// Fixed file times, so every engine imports the same layer.
const IMAGE_MTIME: u64 = 1_767_225_600; // 2026-01-01

/// Directory inside the lock container holding the heartbeat and control files.
const LOCK_DIR: &str = "/shipdeck";
const HEARTBEAT_FILE: &str = "heartbeat";
const CONTROL_FILE: &str = "control";

/// How often a waiting `acquire` tries again.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Times a create may hit 409 and then find no lock (it was released in
/// between) before `acquire` gives up.
const MAX_RACES: u32 = 5;
/// Floor for the heartbeat period (a zero ttl must not spin).
const MIN_BEAT: Duration = Duration::from_millis(200);

// Labels of the lock container. Deliberately not `shipdeck.project`: the fleet
// view lists every container with that label as an app container.
const L_LOCK: &str = "shipdeck.lock";
const L_PROJECT: &str = "shipdeck.lock.project";
const L_ENV: &str = "shipdeck.lock.env";
const L_OWNER: &str = "shipdeck.lock.owner";
const L_RELEASE: &str = "shipdeck.lock.release";
const L_MESSAGE: &str = "shipdeck.lock.message";
const L_ACQUIRED: &str = "shipdeck.lock.acquired_at";
const L_TTL_MS: &str = "shipdeck.lock.ttl_ms";

/// What the operator wants a running rollout to do, written into the lock by
/// [`send_control`] and seen by the holder on its next heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Keep going (also: resume after a pause).
    Run,
    /// Finish the batch in flight, then launch no further batch until `Run`.
    Pause,
    /// Stop and roll back.
    Abort,
}

impl Control {
    fn as_str(self) -> &'static str {
        match self {
            Control::Run => "run",
            Control::Pause => "pause",
            Control::Abort => "abort",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "run" => Some(Control::Run),
            "pause" => Some(Control::Pause),
            "abort" => Some(Control::Abort),
            _ => None,
        }
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who holds a lock, where, and whether it is still alive. Times are on this
/// machine's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    pub project: String,
    pub env: String,
    /// Host name holding the lock object.
    pub host: String,
    pub container_id: String,
    /// `user@machine` of the holder.
    pub owner: String,
    pub release: String,
    pub message: String,
    pub acquired_at: DateTime<Utc>,
    /// Last heartbeat; `None` until the holder wrote one.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// The holder stopped heartbeating for longer than its ttl: `acquire` may
    /// replace the lock.
    pub expired: bool,
    pub control: Control,
}

/// What `acquire` records in the lock, and how long it waits for it.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// `user@machine`; see [`current_owner`].
    pub owner: String,
    pub release: String,
    pub message: String,
    /// How long the lock survives without a heartbeat (heartbeats every ttl / 3).
    pub ttl: Duration,
    /// `None`: fail fast with [`LockError::Held`]; `Some`: retry about every
    /// second until the lock is free or the wait ends.
    pub wait: Option<Duration>,
}

impl LockRequest {
    /// A request by this process's owner with the default ttl and no wait.
    pub fn new(release: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            owner: current_owner(),
            release: release.into(),
            message: message.into(),
            ttl: DEFAULT_TTL,
            wait: None,
        }
    }
}

/// Why the lock could not be taken, read or changed.
#[derive(Debug, Error)]
pub enum LockError {
    /// Someone else holds a live lock.
    #[error("{}", held_message(.0))]
    Held(Box<LockInfo>),
    /// No host of the environment answered.
    #[error("{}", unreachable_message(.project, .env, .errors))]
    NoReachableHost {
        project: String,
        env: String,
        /// Each host and its error, in config order.
        errors: Vec<(String, String)>,
    },
    #[error("{project}/{env} is not locked: no rollout holds it")]
    NoLock { project: String, env: String },
    /// Unknown project or environment; `what` names the known ones.
    #[error("{what}")]
    UnknownTarget { what: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

fn held_message(info: &LockInfo) -> String {
    let mut about = Vec::new();
    if !info.release.is_empty() {
        about.push(format!("release {}", info.release));
    }
    if !info.message.is_empty() {
        about.push(format!("{:?}", info.message));
    }
    about.push(match info.heartbeat_at {
        Some(t) => format!("heartbeat {} ago", ago(t)),
        None => "no heartbeat yet".to_string(),
    });
    format!(
        "{p}/{e} is locked by {owner} since {since} ({about}); wait with --lock-wait SECS, or break it with: shipdeck lock break {p} {e}",
        p = info.project,
        e = info.env,
        owner = info.owner,
        since = info.acquired_at.format("%Y-%m-%d %H:%M:%S UTC"),
        about = about.join(", "),
    )
}

fn unreachable_message(project: &str, env: &str, errors: &[(String, String)]) -> String {
    let each: Vec<String> = errors.iter().map(|(h, e)| format!("{h}: {e}")).collect();
    format!(
        "no host of {project}/{env} answered, so its lock cannot be checked or taken ({}); check the hosts are up, or raise settings.docker_timeout_secs",
        each.join("; ")
    )
}

fn ago(t: DateTime<Utc>) -> String {
    let secs = (Utc::now() - t).num_seconds().max(0);
    if secs < 120 {
        format!("{secs}s")
    } else {
        format!("{}m", secs / 60)
    }
}

/// `user@machine` of this process.
pub fn current_owner() -> String {
    let host = whoami::fallible::hostname().unwrap_or_else(|_| "unknown".to_string());
    format!("{}@{host}", whoami::username())
}

/// A held lock. Heartbeats in the background until [`FleetLock::release`] or
/// drop; after a drop without release the lock expires after its ttl.
pub struct FleetLock {
    info: LockInfo,
    conn: Conn,
    channels: Arc<Channels>,
    heartbeat: JoinHandle<()>,
}

/// Senders shared by the heartbeat task and the `FleetLock`, so receivers stay
/// open (no spurious `changed()` error) for as long as the lock value lives.
struct Channels {
    control: watch::Sender<Control>,
    lost: watch::Sender<bool>,
}

impl FleetLock {
    /// Take the lock; with `wait`, retry (every ~1 s, bounded) until it is free or the wait ends.
    #[tracing::instrument(skip(config, req), fields(owner = %req.owner, release = %req.release))]
    pub async fn acquire(
        config: &Config,
        project: &str,
        env: &str,
        req: LockRequest,
    ) -> Result<FleetLock, LockError> {
        let target = Target::resolve(config, project, env)?;
        let deadline = req.wait.map(|w| Instant::now() + w);
        let mut races = 0;
        loop {
            match try_acquire(&target, &req).await? {
                Attempt::Got(lock) => return Ok(*lock),
                Attempt::Held(held) => {
                    let now = Instant::now();
                    match deadline {
                        Some(d) if now < d => {
                            debug!(holder = %held.owner, "lock held; waiting");
                            tokio::time::sleep(RETRY_EVERY.min(d - now)).await;
                        }
                        _ => return Err(LockError::Held(held)),
                    }
                }
                Attempt::Raced => {
                    races += 1;
                    if races > MAX_RACES {
                        return Err(EngineError::Api {
                            endpoint: target.hosts_shown(),
                            what: "lock create",
                            reason: format!(
                                "the lock changed hands {races} times while taking it; try again"
                            ),
                        }
                        .into());
                    }
                }
            }
        }
    }

    /// What was recorded when the lock was taken.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The latest control word written into the lock, updated on every heartbeat.
    pub fn control(&self) -> watch::Receiver<Control> {
        self.channels.control.subscribe()
    }

    /// Turns true (and stays true) when the lock object is gone or replaced
    /// (someone broke it), or no heartbeat got through for a whole ttl.
    /// Heartbeats stop then: stop launching batches.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.channels.lost.subscribe()
    }

    /// Remove the lock object. Idempotent.
    pub async fn release(self) -> Result<(), LockError> {
        self.heartbeat.abort();
        remove_by_id(&self.conn, &self.info.container_id).await?;
        info!(project = %self.info.project, env = %self.info.env, host = %self.info.host, "lock released");
        Ok(())
    }
}

impl Drop for FleetLock {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// The lock of `project`/`env`, if any reachable host holds one.
pub async fn status(
    config: &Config,
    project: &str,
    env: &str,
) -> Result<Option<LockInfo>, LockError> {
    let target = Target::resolve(config, project, env)?;
    let scan = target.scan().await?;
    Ok(scan.current().map(|(_, info)| info.clone()))
}

/// Remove the lock whoever holds it; returns what was removed (the caller journals it).
#[tracing::instrument(skip(config))]
pub async fn break_lock(
    config: &Config,
    project: &str,
    env: &str,
) -> Result<Option<LockInfo>, LockError> {
    let target = Target::resolve(config, project, env)?;
    let scan = target.scan().await?;
    let removed = scan.current().map(|(_, info)| info.clone());
    for (conn, found) in &scan.locks {
        remove_by_id(conn, &found.container_id).await?;
        warn!(holder = %found.owner, host = %found.host, id = %found.container_id, "lock broken");
    }
    Ok(removed)
}

/// Write `control` into the lock; error if no lock is held.
#[tracing::instrument(skip(config))]
pub async fn send_control(
    config: &Config,
    project: &str,
    env: &str,
    control: Control,
) -> Result<LockInfo, LockError> {
    let target = Target::resolve(config, project, env)?;
    let scan = target.scan().await?;
    let Some((conn, found)) = scan.current() else {
        return Err(LockError::NoLock {
            project: project.to_string(),
            env: env.to_string(),
        });
    };
    let tar = files_tar(&[(CONTROL_FILE, control.as_str())])?;
    match upload(conn, &found.container_id, tar).await {
        Err(e) if e.status == Some(404) => Err(LockError::NoLock {
            project: project.to_string(),
            env: env.to_string(),
        }),
        Err(e) => Err(e.error.into()),
        Ok(()) => {
            info!(holder = %found.owner, %control, "control sent");
            Ok(LockInfo {
                control,
                ..found.clone()
            })
        }
    }
}

// ---------------------------------------------------------------- acquiring

enum Attempt {
    Got(Box<FleetLock>),
    Held(Box<LockInfo>),
    /// Create said 409 but no lock was there a moment later.
    Raced,
}

async fn try_acquire(target: &Target, req: &LockRequest) -> Result<Attempt, LockError> {
    let scan = target.scan().await?;
    if let Some((_, live)) = scan.locks.iter().find(|(_, l)| !l.expired) {
        return Ok(Attempt::Held(Box::new(live.clone())));
    }
    for (conn, stale) in &scan.locks {
        // By ID, never by name: a racing breaker may already have put a fresh
        // lock under the same name.
        info!(holder = %stale.owner, host = %stale.host, id = %stale.container_id, "removing expired lock");
        remove_by_id(conn, &stale.container_id).await?;
    }
    let Some(first) = scan.reachable.first() else {
        return Err(target.no_reachable_host(scan.errors));
    };

    ensure_image(first).await?;
    let now = engine_time(first).await.unwrap_or_else(Utc::now);
    let labels = HashMap::from([
        (L_LOCK.to_string(), "1".to_string()),
        (L_PROJECT.to_string(), target.project.clone()),
        (L_ENV.to_string(), target.env.clone()),
        (L_OWNER.to_string(), req.owner.clone()),
        (L_RELEASE.to_string(), req.release.clone()),
        (L_MESSAGE.to_string(), req.message.clone()),
        (L_ACQUIRED.to_string(), now.to_rfc3339()),
        (L_TTL_MS.to_string(), req.ttl.as_millis().to_string()),
    ]);
    let body = ContainerCreateBody {
        image: Some(LOCK_IMAGE.to_string()),
        cmd: Some(vec!["/lock".to_string()]),
        labels: Some(labels),
        network_disabled: Some(true),
        ..Default::default()
    };
    let opts = CreateContainerOptions {
        name: Some(target.container_name()),
        ..Default::default()
    };
    let created = call(
        &first.shown,
        "lock create",
        first.timeout,
        first.docker.create_container(Some(opts), body),
    )
    .await;
    let id = match created {
        Ok(c) => c.id,
        Err(e) if e.status == Some(409) => {
            debug!(host = %first.name, "lock create: 409, someone else was first");
            let again = target.scan().await?;
            // Gone again, or an expired one the next attempt removes: try again.
            return Ok(match again.current() {
                Some((_, info)) if !info.expired => Attempt::Held(Box::new(info.clone())),
                _ => Attempt::Raced,
            });
        }
        Err(e) => return Err(e.error.into()),
    };

    let heartbeat = rfc3339(now);
    let files = files_tar(&[
        (HEARTBEAT_FILE, heartbeat.as_str()),
        (CONTROL_FILE, Control::Run.as_str()),
    ])?;
    if let Err(e) = upload(first, &id, files).await {
        if let Err(cleanup) = remove_by_id(first, &id).await {
            warn!(host = %first.name, %id, error = %cleanup, "could not remove a half-made lock; it expires");
        }
        return Err(e.error.into());
    }

    // A host that was down for an earlier acquirer may hold its lock: if any
    // other reachable host has a live one, back off. Both sides backing off is
    // safe; both proceeding is not.
    for other in scan.reachable.iter().skip(1) {
        match read_lock(other, target).await {
            Ok(Some(theirs)) if !theirs.expired && theirs.container_id != id => {
                warn!(holder = %theirs.owner, host = %theirs.host, "another host holds a lock; backing off");
                remove_by_id(first, &id).await?;
                return Ok(Attempt::Held(Box::new(theirs)));
            }
            Ok(_) => {}
            Err(e) => debug!(host = %other.name, error = %e, "re-check after create failed"),
        }
    }

    let local_now = Utc::now();
    let info = LockInfo {
        project: target.project.clone(),
        env: target.env.clone(),
        host: first.name.clone(),
        container_id: id.clone(),
        owner: req.owner.clone(),
        release: req.release.clone(),
        message: req.message.clone(),
        acquired_at: local_now,
        heartbeat_at: Some(local_now),
        expired: false,
        control: Control::Run,
    };
    info!(host = %first.name, id = %id, "lock acquired");
    let (control, _) = watch::channel(Control::Run);
    let (lost, _) = watch::channel(false);
    let channels = Arc::new(Channels { control, lost });
    let task = tokio::spawn(heartbeat_loop(
        first.clone(),
        id,
        req.ttl,
        Arc::clone(&channels),
    ));
    Ok(Attempt::Got(Box::new(FleetLock {
        info,
        conn: first.clone(),
        channels,
        heartbeat: task,
    })))
}

/// Import `shipdeck/lock:1` on `conn` unless it is there: one small file, no
/// registry, works offline.
async fn ensure_image(conn: &Conn) -> Result<(), EngineError> {
    match call(
        &conn.shown,
        "lock image inspect",
        conn.timeout,
        conn.docker.inspect_image(LOCK_IMAGE),
    )
    .await
    {
        Ok(_) => return Ok(()),
        Err(e) if e.status == Some(404) => {}
        Err(e) => return Err(e.error),
    }
    info!(host = %conn.name, "importing {LOCK_IMAGE}");
    let rootfs = image_tar()?;
    let opts = CreateImageOptions {
        from_src: Some("-".to_string()),
        repo: Some(LOCK_IMAGE_REPO.to_string()),
        tag: Some(LOCK_IMAGE_TAG.to_string()),
        message: Some("shipdeck fleet lock object (created, never started)".to_string()),
        ..Default::default()
    };
    let import = async {
        let mut progress =
            conn.docker
                .create_image(Some(opts), Some(bollard::body_full(rootfs.into())), None);
        while let Some(item) = progress.next().await {
            item?;
        }
        Ok(())
    };
    call(&conn.shown, "lock image import", conn.timeout, import)
        .await
        .map_err(|e| e.error)
}

// ---------------------------------------------------------------- heartbeat

async fn heartbeat_loop(conn: Conn, id: String, ttl: Duration, channels: Arc<Channels>) {
    let every = (ttl / 3).max(MIN_BEAT);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; acquire just wrote one
    let mut last_ok = Instant::now();
    loop {
        tick.tick().await;
        match beat(&conn, &id).await {
            Ok(control) => {
                last_ok = Instant::now();
                channels.control.send_if_modified(|c| {
                    let changed = *c != control;
                    *c = control;
                    changed
                });
            }
            Err(e) if e.status == Some(404) => {
                warn!(host = %conn.name, %id, "lock object is gone (broken?); lock lost");
                channels.lost.send_replace(true);
                return;
            }
            Err(e) => {
                warn!(host = %conn.name, error = %e.error, "lock heartbeat failed");
                if last_ok.elapsed() >= ttl {
                    warn!(host = %conn.name, "no heartbeat got through for a whole ttl; lock lost");
                    channels.lost.send_replace(true);
                    return;
                }
            }
        }
    }
}

/// Write the heartbeat, read the control word.
async fn beat(conn: &Conn, id: &str) -> Result<Control, CallError> {
    let now = engine_time(conn).await.unwrap_or_else(Utc::now);
    let tar = files_tar(&[(HEARTBEAT_FILE, rfc3339(now).as_str())]).map_err(CallError::from)?;
    upload(conn, id, tar).await?;
    let files = download(conn, id).await?;
    Ok(match files.control.as_deref().map(Control::parse) {
        Some(Some(c)) => c,
        Some(None) => {
            warn!(value = ?files.control, "unknown control word in lock; ignoring it");
            Control::Run
        }
        None => Control::Run,
    })
}

// ---------------------------------------------------------------- reading

/// One project+environment resolved against the config.
struct Target {
    project: String,
    env: String,
    hosts: Vec<(String, Endpoint)>,
    timeout: Duration,
}

impl Target {
    fn resolve(config: &Config, project: &str, env: &str) -> Result<Self, LockError> {
        let Some(p) = config.project(project) else {
            let known: Vec<&str> = config.projects.iter().map(|p| p.name.as_str()).collect();
            return Err(LockError::UnknownTarget {
                what: format!("unknown project {project:?} (known: {})", known.join(", ")),
            });
        };
        let names = p.hosts_in(env);
        if names.is_empty() {
            let known: Vec<&str> = p.hosts.keys().map(String::as_str).collect();
            return Err(LockError::UnknownTarget {
                what: format!(
                    "project {project} has no hosts in environment {env:?} (its environments: {})",
                    known.join(", ")
                ),
            });
        }
        let mut hosts = Vec::with_capacity(names.len());
        for name in names {
            let Some(h) = config.host(name) else {
                return Err(LockError::UnknownTarget {
                    what: format!("host {name:?} of {project}/{env} is not in [[hosts]]"),
                });
            };
            hosts.push((h.name.clone(), h.endpoint.clone()));
        }
        Ok(Self {
            project: project.to_string(),
            env: env.to_string(),
            hosts,
            timeout: Duration::from_secs(config.settings.docker_timeout_secs.max(1)),
        })
    }

    fn container_name(&self) -> String {
        format!("shipdeck-lock.{}.{}", self.project, self.env)
    }

    fn hosts_shown(&self) -> String {
        let names: Vec<&str> = self.hosts.iter().map(|(n, _)| n.as_str()).collect();
        names.join(", ")
    }

    fn no_reachable_host(&self, errors: Vec<(String, String)>) -> LockError {
        LockError::NoReachableHost {
            project: self.project.clone(),
            env: self.env.clone(),
            errors,
        }
    }

    /// Connect to every host of the environment at once and read its lock.
    /// Errors only when no host answered.
    async fn scan(&self) -> Result<Scan, LockError> {
        let probes = futures::future::join_all(self.hosts.iter().map(|(name, endpoint)| async {
            let docker = connect(endpoint, self.timeout)
                .await
                .map_err(|e| e.to_string())?;
            let conn = Conn {
                name: name.clone(),
                shown: endpoint.to_string(),
                docker,
                timeout: self.timeout,
            };
            let found = read_lock(&conn, self).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((conn, found))
        }))
        .await;
        let mut scan = Scan::default();
        for ((name, _), probe) in self.hosts.iter().zip(probes) {
            match probe {
                Ok((conn, found)) => {
                    if let Some(info) = found {
                        scan.locks.push((conn.clone(), info));
                    }
                    scan.reachable.push(conn);
                }
                Err(e) => {
                    debug!(host = %name, error = %e, "lock scan: host did not answer");
                    scan.errors.push((name.clone(), e));
                }
            }
        }
        if scan.reachable.is_empty() {
            return Err(self.no_reachable_host(scan.errors));
        }
        if !scan.errors.is_empty() {
            warn!(
                project = %self.project, env = %self.env, unreachable = scan.errors.len(),
                "lock scan: some hosts did not answer; a lock taken there is not seen"
            );
        }
        Ok(scan)
    }
}

/// What one scan of an environment's hosts found, in config order.
#[derive(Default)]
struct Scan {
    reachable: Vec<Conn>,
    errors: Vec<(String, String)>,
    locks: Vec<(Conn, LockInfo)>,
}

impl Scan {
    /// The lock that counts: the first live one, else the first expired one.
    fn current(&self) -> Option<(&Conn, &LockInfo)> {
        self.locks
            .iter()
            .find(|(_, l)| !l.expired)
            .or_else(|| self.locks.first())
            .map(|(c, l)| (c, l))
    }
}

/// A connected host.
#[derive(Clone)]
struct Conn {
    name: String,
    shown: String,
    docker: Docker,
    timeout: Duration,
}

/// The lock object on `conn`, if there is one.
async fn read_lock(conn: &Conn, target: &Target) -> Result<Option<LockInfo>, EngineError> {
    let name = target.container_name();
    let details = match call(
        &conn.shown,
        "lock inspect",
        conn.timeout,
        conn.docker.inspect_container(
            &name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        ),
    )
    .await
    {
        Ok(d) => d,
        Err(e) if e.status == Some(404) => return Ok(None),
        Err(e) => return Err(e.error),
    };
    let Some(id) = details.id else {
        return Ok(None);
    };
    let labels = details.config.and_then(|c| c.labels).unwrap_or_default();
    let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
    let files = match download(conn, &id).await {
        Ok(f) => f,
        // Gone since the inspect, or never got its files: judge by acquired_at.
        Err(e) if e.status == Some(404) => LockFiles::default(),
        Err(e) => return Err(e.error),
    };
    // Shift the lock host's clock onto ours.
    let skew = match engine_time(conn).await {
        Some(engine_now) => engine_now - Utc::now(),
        None => TimeDelta::zero(),
    };
    let local = |t: DateTime<Utc>| t - skew;
    let acquired_at = parse_time(&label(L_ACQUIRED))
        .map(local)
        .unwrap_or(DateTime::UNIX_EPOCH);
    let heartbeat_at = files.heartbeat.as_deref().and_then(parse_time).map(local);
    let ttl = label(L_TTL_MS)
        .parse::<u64>()
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TTL);
    let last_sign = heartbeat_at.unwrap_or(acquired_at);
    let silent = (Utc::now() - last_sign).to_std().unwrap_or_default();
    let control = files
        .control
        .as_deref()
        .and_then(Control::parse)
        .unwrap_or(Control::Run);
    Ok(Some(LockInfo {
        project: target.project.clone(),
        env: target.env.clone(),
        host: conn.name.clone(),
        container_id: id,
        owner: label(L_OWNER),
        release: label(L_RELEASE),
        message: label(L_MESSAGE),
        acquired_at,
        heartbeat_at,
        expired: silent > ttl,
        control,
    }))
}

/// The engine's clock, from `/info`; `None` (logged) when it cannot be read.
async fn engine_time(conn: &Conn) -> Option<DateTime<Utc>> {
    match call(&conn.shown, "info", conn.timeout, conn.docker.info()).await {
        Ok(info) => {
            let parsed = info.system_time.as_deref().and_then(parse_time);
            if parsed.is_none() {
                debug!(host = %conn.name, raw = ?info.system_time, "engine time unreadable; using ours");
            }
            parsed
        }
        Err(e) => {
            debug!(host = %conn.name, error = %e.error, "engine time unavailable; using ours");
            None
        }
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

// ---------------------------------------------------------------- engine calls

/// A failed Docker call: the HTTP status when the engine answered one.
struct CallError {
    status: Option<u16>,
    error: EngineError,
}

impl From<EngineError> for CallError {
    fn from(error: EngineError) -> Self {
        Self {
            status: None,
            error,
        }
    }
}

/// Like `engine::connect::timed`, keeping the status code (404 and 409 mean
/// something here).
async fn call<T>(
    endpoint: &str,
    what: &'static str,
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CallError {
            status: match &e {
                bollard::errors::Error::DockerResponseServerError { status_code, .. } => {
                    Some(*status_code)
                }
                _ => None,
            },
            error: EngineError::Api {
                endpoint: endpoint.to_string(),
                what,
                reason: describe(&e),
            },
        }),
        Err(_) => Err(CallError {
            status: None,
            error: EngineError::Timeout {
                endpoint: endpoint.to_string(),
                what,
                secs: timeout.as_secs().max(1),
            },
        }),
    }
}

/// Force-remove a container by ID; already gone is fine.
async fn remove_by_id(conn: &Conn, id: &str) -> Result<(), EngineError> {
    let opts = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    match call(
        &conn.shown,
        "lock remove",
        conn.timeout,
        conn.docker.remove_container(id, Some(opts)),
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.status == Some(404) => Ok(()),
        Err(e) => Err(e.error),
    }
}

/// Unpack `tar` into the lock directory of container `id`.
async fn upload(conn: &Conn, id: &str, tar: Vec<u8>) -> Result<(), CallError> {
    let opts = UploadToContainerOptions {
        path: LOCK_DIR.to_string(),
        ..Default::default()
    };
    call(
        &conn.shown,
        "lock write",
        conn.timeout,
        conn.docker
            .upload_to_container(id, Some(opts), bollard::body_full(tar.into())),
    )
    .await
}

/// The files of the lock directory that matter.
#[derive(Default)]
struct LockFiles {
    heartbeat: Option<String>,
    control: Option<String>,
}

/// Read the lock directory of container `id` (one tar stream).
async fn download(conn: &Conn, id: &str) -> Result<LockFiles, CallError> {
    let opts = DownloadFromContainerOptions {
        path: LOCK_DIR.to_string(),
    };
    let fetch = async {
        let mut stream = conn.docker.download_from_container(id, Some(opts));
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(bytes)
    };
    let bytes = call(&conn.shown, "lock read", conn.timeout, fetch).await?;
    let mut files = LockFiles::default();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let entries = archive
        .entries()
        .map_err(|e| archive_error(&conn.shown, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive_error(&conn.shown, e))?;
        let name = entry
            .path()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let slot = match name.as_deref() {
            Some(HEARTBEAT_FILE) => &mut files.heartbeat,
            Some(CONTROL_FILE) => &mut files.control,
            _ => continue,
        };
        // Both files are a line; a bigger one is not ours to read whole.
        let mut text = String::new();
        entry
            .by_ref()
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|e| archive_error(&conn.shown, e))?;
        *slot = Some(text);
    }
    Ok(files)
}

fn archive_error(endpoint: &str, e: std::io::Error) -> CallError {
    CallError::from(EngineError::Api {
        endpoint: endpoint.to_string(),
        what: "lock read",
        reason: format!("unreadable archive: {e}"),
    })
}

/// A tar of small text files, to unpack into the lock directory.
fn files_tar(files: &[(&str, &str)]) -> Result<Vec<u8>, EngineError> {
    let now = Utc::now().timestamp().max(0).unsigned_abs();
    build_tar(|b| {
        for (name, text) in files {
            append_file(b, name, text.as_bytes(), 0o644, now)?;
        }
        Ok(())
    })
}

/// The root filesystem of the lock image: `/lock` and `/shipdeck/`.
fn image_tar() -> Result<Vec<u8>, EngineError> {
    build_tar(|b| {
        append_file(
            b,
            "lock",
            b"shipdeck fleet lock object: created, never started\n",
            0o755,
            IMAGE_MTIME,
        )?;
        let mut dir = tar::Header::new_ustar();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_size(0);
        dir.set_mtime(IMAGE_MTIME);
        b.append_data(&mut dir, "shipdeck/", std::io::empty())
    })
}

fn append_file(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    data: &[u8],
    mode: u32,
    mtime: u64,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode);
    h.set_size(data.len() as u64);
    h.set_mtime(mtime);
    b.append_data(&mut h, name, data)
}

fn build_tar(
    fill: impl FnOnce(&mut tar::Builder<Vec<u8>>) -> std::io::Result<()>,
) -> Result<Vec<u8>, EngineError> {
    let mut b = tar::Builder::new(Vec::new());
    fill(&mut b)
        .and_then(|()| b.into_inner())
        .map_err(|e| EngineError::Api {
            endpoint: "local".to_string(),
            what: "lock archive",
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;

    #[test]
    fn control_words_round_trip() {
        for c in [Control::Run, Control::Pause, Control::Abort] {
            assert_eq!(Control::parse(c.as_str()), Some(c));
            assert_eq!(Control::parse(&format!("{c}\n")), Some(c));
        }
        assert_eq!(Control::parse("stop"), None);
    }

    #[test]
    fn held_message_names_holder_and_the_way_out() {
        let info = LockInfo {
            project: "demo".into(),
            env: "prod".into(),
            host: "h01".into(),
            container_id: "abc".into(),
            owner: "alice@laptop".into(),
            release: "r-1".into(),
            message: "hotfix".into(),
            acquired_at: DateTime::UNIX_EPOCH,
            heartbeat_at: Some(Utc::now() - TimeDelta::seconds(4)),
            expired: false,
            control: Control::Run,
        };
        let msg = LockError::Held(Box::new(info)).to_string();
        assert!(msg.starts_with("demo/prod is locked by alice@laptop since 1970-01-01 00:00:00 UTC (release r-1, \"hotfix\", heartbeat "), "{msg}");
        assert!(
            msg.ends_with(
                "ago); wait with --lock-wait SECS, or break it with: shipdeck lock break demo prod"
            ),
            "{msg}"
        );
    }

    #[test]
    fn files_tar_reads_back() {
        let tar = files_tar(&[(HEARTBEAT_FILE, "x"), (CONTROL_FILE, "pause")]);
        let Ok(tar) = tar else {
            panic!("tar: {tar:?}");
        };
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.path().ok().map(|p| p.display().to_string()))
            .collect();
        assert_eq!(names, ["heartbeat", "control"]);
    }
}
