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
                            status: None,
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

/// What every reachable host of `project`/`env` holds.
async fn scan(config: &Config, project: &str, env: &str) -> Result<Scan, LockError> {
    Target::resolve(config, project, env)?.scan().await
}

/// The lock of `project`/`env`, if any reachable host holds one.
pub async fn status(
    config: &Config,
    project: &str,
    env: &str,
) -> Result<Option<LockInfo>, LockError> {
    let scan = scan(config, project, env).await?;
    Ok(scan.current().map(|(_, info)| info.clone()))
}

/// Remove the lock whoever holds it; returns what was removed (the caller journals it).
#[tracing::instrument(skip(config))]
pub async fn break_lock(
    config: &Config,
    project: &str,
    env: &str,
) -> Result<Option<LockInfo>, LockError> {
    let scan = scan(config, project, env).await?;
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

mod acquire;
mod archive;
mod target;

use acquire::*;
use archive::*;
use target::*;

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
