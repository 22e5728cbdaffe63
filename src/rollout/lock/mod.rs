//! The fleet lock: one rollout per project+environment at a time, across
//! operators and machines, held on the fleet itself. Owns the lock objects'
//! format (labels and files), the holder's heartbeat and control poll, and
//! the control channel (pause / resume / abort from any terminal, with an
//! acknowledgement). Must not import ratatui or app/ui; talks to engines
//! only through `crate::engine`.
//!
//! **Quorum.** The lock is a created, never started container named
//! `shipdeck-lock.{project}.{env}` (see `domain::naming`) on a strict
//! majority of the environment's hosts: the acquirer creates it on the first
//! hosts that answer, in config order, and on the next ones only where a
//! create failed, until it has a majority. Container names are unique per
//! engine, so each create is an atomic test-and-set, and two majorities of
//! one host set always share a host: two operators can never both hold the
//! lock, even when a partition lets each reach a different part of the
//! fleet (which the old "first reachable host" lock allowed). The price is
//! availability: with half the hosts or more unreachable, nobody can take
//! the lock (a 2-host environment needs both). An acquirer that got fewer
//! than a majority removes what it made and tries again after a short
//! random pause.
//!
//! **Liveness.** The holder writes `heartbeat` into each of its objects every
//! ttl/6 and reads `control` every half second. Times written are the lock
//! host's own clock (`/info`); readers shift them onto their clock by the
//! offset they measure, and when that offset cannot be measured the lock
//! counts as alive (an unknown clock skew never expires a lock). The holder
//! counts the lock lost when fewer than a majority of its objects exist, or
//! no heartbeat reached a majority for a whole ttl.
//!
//! **Control.** `control` holds `WORD SEQ` (`pause 3`); each write takes the
//! next sequence number, so a read that raced a newer write is recognised as
//! stale. The holder answers in `state` (JSON: the sequence it acted on, its
//! phase, a line such as "paused after h07"), which `shipdeck control` waits
//! for.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::{Config, Endpoint};
use crate::engine::{Engine, EngineError, Registers};

mod acquire;
mod control;
mod target;

use acquire::*;
pub use control::{
    Ack, AckWait, Answer, Sent, await_ack, request as control_request, send_control,
};
use target::*;

/// How long a lock lives without a heartbeat.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// How often the holder reads the control word.
pub const CONTROL_POLL: Duration = Duration::from_millis(500);

/// Files of lock objects made by an older shipdeck (heartbeat and control
/// now live in the object's registers, see `engine::objects`).
const HEARTBEAT_FILE: &str = "heartbeat";
const CONTROL_FILE: &str = "control";
/// The holder's answer to the control word (JSON, written rarely).
const STATE_FILE: &str = "state";

/// How often a waiting `acquire` tries again.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Times `acquire` may fall short of a majority (another acquirer raced it)
/// before it gives up.
const MAX_RACES: u32 = 8;
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
/// The hosts whose objects carry the holder's state file (a few, not all:
/// a file is written through the object's filesystem).
const L_STATE_HOSTS: &str = "shipdeck.lock.state_hosts";
/// How many objects carry the state file.
const STATE_COPIES: usize = 3;

/// What the operator wants a running rollout to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Keep going (also: resume after a pause).
    Run,
    /// Finish the hosts in flight, then launch no further host until `Run`.
    Pause,
    /// Stop and roll back.
    Abort,
}

impl Control {
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Run => "run",
            Control::Pause => "pause",
            Control::Abort => "abort",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
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

/// A control word with the sequence number of the write that set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ControlState {
    pub word: Control,
    pub seq: u64,
}

impl ControlState {
    /// `WORD SEQ`, as an older version wrote it into a file.
    #[cfg(test)]
    fn encode(self) -> String {
        format!("{} {}", self.word, self.seq)
    }

    /// `WORD SEQ`, or a bare word (seq 0) as older versions wrote it.
    fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split_whitespace();
        let word = Control::parse(parts.next()?)?;
        let seq = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        Some(Self { word, seq })
    }

    /// The control register's value: `seq * 4 + code + 1` (never 0, which
    /// reads as "never set").
    fn register(self) -> i64 {
        let code = match self.word {
            Control::Run => 0,
            Control::Pause => 1,
            Control::Abort => 2,
        };
        i64::try_from(self.seq)
            .unwrap_or(i64::MAX / 4)
            .saturating_mul(4)
            .saturating_add(code + 1)
    }

    fn from_register(v: i64) -> Option<Self> {
        let v = v.checked_sub(1)?;
        let word = match v.rem_euclid(4) {
            0 => Control::Run,
            1 => Control::Pause,
            2 => Control::Abort,
            _ => return None,
        };
        Some(Self {
            word,
            seq: u64::try_from(v.div_euclid(4)).ok()?,
        })
    }

    /// Whether `read` (from the lock) supersedes what is known now: a newer
    /// sequence, or the same one with a graver word (two writers raced:
    /// abort beats pause beats run, whichever write landed last).
    fn superseded_by(self, read: ControlState) -> bool {
        read.rank() > self.rank()
    }

    /// Order of control states: by sequence, then by gravity.
    fn rank(self) -> (u64, u8) {
        let gravity = match self.word {
            Control::Run => 0,
            Control::Pause => 1,
            Control::Abort => 2,
        };
        (self.seq, gravity)
    }
}

/// Where the holder is, as it reports it to other operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Pulling, replacing hosts.
    Running,
    /// A pause was asked for; hosts in flight are finishing.
    Pausing,
    /// No host is being replaced until resume or abort.
    Paused,
    /// Stopping and rolling back.
    Aborting,
}

/// The holder's answer to the control word (file `state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderState {
    /// The control sequence number this state answers.
    pub seq: u64,
    pub phase: Phase,
    /// E.g. "paused after h07", "canary on h01 is healthy".
    pub detail: String,
}

/// Who holds a lock, where, and whether it is still alive. Times are on this
/// machine's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    pub project: String,
    pub env: String,
    /// The first host holding this holder's lock object.
    pub host: String,
    /// Every host holding one of this holder's lock objects (config order).
    pub hosts: Vec<String>,
    /// The id of the object on `host`.
    pub container_id: String,
    /// `user@machine` of the holder.
    pub owner: String,
    pub release: String,
    pub message: String,
    pub acquired_at: DateTime<Utc>,
    /// Last heartbeat; `None` until the holder wrote one.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// When the lock expires without another heartbeat (`None`: never, the
    /// clock skew could not be measured).
    pub expires_at: Option<DateTime<Utc>>,
    /// The holder stopped heartbeating for longer than its ttl on every host
    /// where it has an object: `acquire` may replace the lock.
    pub expired: bool,
    pub control: Control,
    pub control_seq: u64,
    /// What the holder last reported.
    pub state: Option<HolderState>,
    /// Objects this holder has, and how many make a majority.
    pub held: usize,
    pub needed: usize,
}

impl LockInfo {
    /// "running", "paused", "pausing", "aborting", or "expired".
    pub fn phase_word(&self) -> &'static str {
        if self.expired {
            return "expired";
        }
        match self.state.as_ref().map(|s| s.phase) {
            Some(Phase::Paused) => "paused",
            Some(Phase::Pausing) => "pausing",
            Some(Phase::Aborting) => "aborting",
            _ if self.control == Control::Pause => "pausing",
            _ => "running",
        }
    }
}

/// What `acquire` records in the lock, and how long it waits for it.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// `user@machine`; see [`current_owner`].
    pub owner: String,
    pub release: String,
    pub message: String,
    /// How long the lock survives without a heartbeat (heartbeats every ttl / 6).
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
    /// Too few hosts answered to make a majority.
    #[error(
        "the lock of {project}/{env} needs a majority of its hosts ({needed} of {total}) and only {reached} answered; unreachable: {}; bring hosts back (a lock on fewer hosts could be taken twice in a network partition)",
        errors.iter().map(|(h, e)| format!("{h} ({e})")).collect::<Vec<_>>().join("; ")
    )]
    NoQuorum {
        project: String,
        env: String,
        needed: usize,
        total: usize,
        reached: usize,
        errors: Vec<(String, String)>,
    },
    #[error("{project}/{env} is not locked: no rollout is running there")]
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
    if let Some(t) = info.expires_at {
        about.push(format!("expires in {} without one", until(t)));
    }
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
    short_secs((Utc::now() - t).num_seconds().max(0))
}

fn until(t: DateTime<Utc>) -> String {
    short_secs((t - Utc::now()).num_seconds().max(0))
}

fn short_secs(secs: i64) -> String {
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

/// The majority of `n` hosts.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// A held lock. Heartbeats and polls the control word in the background
/// until [`FleetLock::release`] or drop; after a drop without release the
/// lock expires after its ttl.
pub struct FleetLock {
    info: LockInfo,
    /// Our objects: (engine, object id), config order.
    objects: Vec<(Engine, String)>,
    /// The hosts whose objects carry the state file.
    state_hosts: Vec<String>,
    needed: usize,
    channels: Arc<Channels>,
    tasks: Vec<JoinHandle<()>>,
}

/// Senders shared by the background tasks and the `FleetLock`, so receivers
/// stay open (no spurious `changed()` error) for as long as the lock lives.
struct Channels {
    control: watch::Sender<ControlState>,
    lost: watch::Sender<bool>,
    /// When the last heartbeat round that reached a majority *started*.
    last_quorum: std::sync::Mutex<Instant>,
    ttl: Duration,
}

impl Channels {
    /// The holder's own deadline: five sixths of the ttl after the start of
    /// the last heartbeat round that reached a majority. Readers expire the
    /// lock a whole ttl after the time written in that round, which is later
    /// (by at least ttl/6, which covers the error of the clock offset), so
    /// the holder always stops before anyone may take over.
    fn deadline_passed(&self) -> bool {
        let last = self
            .last_quorum
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner());
        let deadline = self.ttl.checked_mul(5).map_or(self.ttl, |d| d / 6);
        last.elapsed() >= deadline
    }

    fn mark_quorum(&self, round_start: Instant) {
        if let Ok(mut t) = self.last_quorum.lock()
            && round_start > *t
        {
            *t = round_start;
        }
    }
}

impl FleetLock {
    /// Take the lock; with `wait`, retry (every ~1 s, bounded) until it is
    /// free or the wait ends. `waiting` hears about each holder waited for.
    #[tracing::instrument(skip(config, req, waiting), fields(owner = %req.owner, release = %req.release))]
    pub async fn acquire_waiting(
        config: &Config,
        project: &str,
        env: &str,
        req: LockRequest,
        waiting: &(dyn Fn(&LockInfo) + Send + Sync),
    ) -> Result<FleetLock, LockError> {
        let target = Target::resolve(config, project, env)?;
        let deadline = req.wait.map(|w| Instant::now() + w);
        let mut races = 0;
        let mut told: Option<String> = None;
        loop {
            match try_acquire(&target, &req).await? {
                Attempt::Got(lock) => return Ok(*lock),
                Attempt::Held(held) => {
                    let now = Instant::now();
                    match deadline {
                        Some(d) if now < d => {
                            if told.as_deref() != Some(held.release.as_str()) {
                                told = Some(held.release.clone());
                                waiting(&held);
                            }
                            tokio::time::sleep(RETRY_EVERY.min(d - now)).await;
                        }
                        _ => return Err(LockError::Held(held)),
                    }
                }
                Attempt::Raced => {
                    races += 1;
                    if races > MAX_RACES {
                        return Err(EngineError::api(
                            &target.hosts_shown(),
                            "lock create",
                            format!(
                                "another operator took part of the lock {races} times while this one tried; try again"
                            ),
                        )
                        .into());
                    }
                    tokio::time::sleep(jitter()).await;
                }
            }
        }
    }

    /// [`FleetLock::acquire_waiting`] without waiting reports.
    pub async fn acquire(
        config: &Config,
        project: &str,
        env: &str,
        req: LockRequest,
    ) -> Result<FleetLock, LockError> {
        Self::acquire_waiting(config, project, env, req, &|_| {}).await
    }

    /// What was recorded when the lock was taken.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The latest control word, updated within [`CONTROL_POLL`] of a write.
    pub fn control(&self) -> watch::Receiver<ControlState> {
        self.channels.control.subscribe()
    }

    /// Turns true (and stays true) when fewer than a majority of this lock's
    /// objects exist (someone broke it), or no heartbeat reached a majority
    /// for a whole ttl. Stop touching the fleet then.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.channels.lost.subscribe()
    }

    /// Check on the engines, now, that this lock still holds a majority. A
    /// destructive step asks this first: the background heartbeat may not
    /// have noticed a break yet.
    pub async fn ensure_held(&self) -> bool {
        if *self.channels.lost.borrow() {
            return false;
        }
        // A majority that answers "here" is enough: no need to wait for the
        // slowest host before every destructive step.
        let mut checks: futures::stream::FuturesUnordered<_> = self
            .objects
            .iter()
            .map(|(eng, id)| async move { eng.object_exists(id).await })
            .collect();
        let (mut exist, mut gone) = (0usize, 0usize);
        while let Some(r) = futures::StreamExt::next(&mut checks).await {
            match r {
                Ok(true) => exist += 1,
                Ok(false) => gone += 1,
                Err(_) => {}
            }
            if exist >= self.needed {
                break;
            }
            if self.objects.len() - gone < self.needed {
                warn!(gone, "lock objects removed by someone else; lock lost");
                self.channels.lost.send_replace(true);
                return false;
            }
        }
        // Hosts that did not answer are no proof of a break: nobody can take
        // over before our objects on a majority went a whole ttl without a
        // heartbeat. Our own deadline comes well before that.
        if self.channels.deadline_passed() {
            warn!("no heartbeat reached a majority in time; lock lost");
            self.channels.lost.send_replace(true);
            return false;
        }
        !*self.channels.lost.borrow()
    }

    /// Whether the lock is still this holder's, from what it knows already
    /// (no engine call): not lost, and its deadline not passed. Asked
    /// between the steps of one host's replacement.
    pub fn still_mine(&self) -> bool {
        !*self.channels.lost.borrow() && !self.channels.deadline_passed()
    }

    /// Set the control word ourselves (the canary pause), visible to every
    /// operator; the local view changes at once. Compare-and-set: when an
    /// operator wrote a newer word that the poll has not seen yet (an abort
    /// in the last half second), that word wins and is returned instead.
    pub async fn set_control(&self, word: Control) -> Result<ControlState, LockError> {
        let known = *self.channels.control.borrow();
        if let Some(newer) = read_control(&self.objects)
            .await
            .filter(|r| known.superseded_by(*r))
        {
            self.channels.control.send_replace(newer);
            return Ok(newer);
        }
        let next = ControlState {
            word,
            seq: known.seq + 1,
        };
        let registers = Registers {
            clock_ms: None,
            word: Some(next.register()),
        };
        let ok = futures::future::join_all(
            self.objects
                .iter()
                .map(|(eng, id)| eng.set_registers(id, registers)),
        )
        .await
        .into_iter()
        .filter(Result::is_ok)
        .count();
        if ok == 0 {
            return Err(EngineError::api(
                &self.info.host,
                "lock write",
                "no lock object took the control word",
            )
            .into());
        }
        self.channels.control.send_replace(next);
        Ok(next)
    }

    /// Tell other operators where the rollout is (best effort, bounded).
    pub async fn report(&self, phase: Phase, detail: impl Into<String>) {
        let state = HolderState {
            seq: self.channels.control.borrow().seq,
            phase,
            detail: detail.into(),
        };
        let Ok(text) = serde_json::to_string(&state) else {
            return;
        };
        let writes = futures::future::join_all(
            self.objects
                .iter()
                .filter(|(eng, _)| self.state_hosts.contains(&eng.host))
                .map(|(eng, id)| write_one(eng, id, STATE_FILE, &text)),
        );
        if tokio::time::timeout(Duration::from_secs(3), writes)
            .await
            .is_err()
        {
            warn!("lock state report timed out");
        }
    }

    /// Remove the lock objects. Idempotent.
    pub async fn release(mut self) -> Result<(), LockError> {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let results =
            futures::future::join_all(self.objects.iter().map(|(eng, id)| eng.remove(id))).await;
        info!(project = %self.info.project, env = %self.info.env, hosts = ?self.info.hosts, "lock released");
        match results.into_iter().find_map(Result::err) {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

impl Drop for FleetLock {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Write one file into one lock object.
async fn write_one(eng: &Engine, id: &str, file: &str, text: &str) -> Result<(), EngineError> {
    eng.write_files(id, &[(file, text)]).await
}

/// A pause of 50–350 ms, different per process and call.
fn jitter() -> Duration {
    let nanos = Utc::now().timestamp_subsec_nanos() ^ std::process::id().rotate_left(7);
    Duration::from_millis(50 + u64::from(nanos % 300))
}

/// The lock of `project`/`env`, if any reachable host holds one.
pub async fn status(
    config: &Config,
    project: &str,
    env: &str,
) -> Result<Option<LockInfo>, LockError> {
    let scan = Target::resolve(config, project, env)?
        .scan_with_state()
        .await?;
    Ok(scan.current())
}

/// [`status`] read from `engines`, the environment's hosts that answered
/// (none answered: no lock seen).
pub async fn status_on(
    config: &Config,
    engines: &[Engine],
    project: &str,
    env: &str,
) -> Result<Option<LockInfo>, LockError> {
    let target = Target::resolve(config, project, env)?;
    let objects = read_all(engines, &target, true).await;
    Ok(holders(project, env, target.needed(), objects.iter())
        .into_iter()
        .next())
}

/// Remove every lock object of `project`/`env`, whoever holds it; returns
/// the lock that counted (the caller journals the break).
#[tracing::instrument(skip(config))]
pub async fn break_lock(
    config: &Config,
    project: &str,
    env: &str,
) -> Result<Option<LockInfo>, LockError> {
    let scan = Target::resolve(config, project, env)?.scan().await?;
    let removed = scan.current();
    for (eng, found) in &scan.objects {
        eng.remove(&found.id).await?;
        warn!(holder = %found.owner, host = %eng.host, id = %found.id, "lock broken");
    }
    Ok(removed)
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
            let s = ControlState { word: c, seq: 7 };
            assert_eq!(ControlState::decode(&s.encode()), Some(s));
        }
        assert_eq!(Control::parse("stop"), None);
        for seq in [0, 1, 7, 1 << 40] {
            for word in [Control::Run, Control::Pause, Control::Abort] {
                let c = ControlState { word, seq };
                assert!(c.register() > 0);
                assert_eq!(ControlState::from_register(c.register()), Some(c));
            }
        }
        assert_eq!(ControlState::from_register(0), None);
        assert_eq!(ControlState::from_register(4), None, "code 3 is no word");
        assert_eq!(
            ControlState::decode("pause"),
            Some(ControlState {
                word: Control::Pause,
                seq: 0
            })
        );
    }

    #[test]
    fn a_stale_read_does_not_undo_a_newer_write() {
        let ours = ControlState {
            word: Control::Pause,
            seq: 4,
        };
        let stale = ControlState {
            word: Control::Run,
            seq: 3,
        };
        assert!(!ours.superseded_by(stale));
        assert!(!ours.superseded_by(ours));
        assert!(ours.superseded_by(ControlState {
            word: Control::Run,
            seq: 5
        }));
        // Two writers took the same sequence number: the graver word wins,
        // whichever landed last.
        assert!(ours.superseded_by(ControlState {
            word: Control::Abort,
            seq: 4
        }));
        let abort = ControlState {
            word: Control::Abort,
            seq: 4,
        };
        assert!(!abort.superseded_by(ours), "a pause never hides an abort");
    }

    #[test]
    fn majorities() {
        assert_eq!(majority(1), 1);
        assert_eq!(majority(2), 2);
        assert_eq!(majority(3), 2);
        assert_eq!(majority(8), 5);
        // Two majorities always share a host.
        for n in 1..40 {
            assert!(2 * majority(n) > n);
        }
    }

    #[test]
    fn held_message_names_holder_and_the_way_out() {
        let info = LockInfo {
            project: "demo".into(),
            env: "prod".into(),
            host: "h01".into(),
            hosts: vec!["h01".into()],
            container_id: "abc".into(),
            owner: "alice@laptop".into(),
            release: "r-1".into(),
            message: "hotfix".into(),
            acquired_at: DateTime::UNIX_EPOCH,
            heartbeat_at: Some(Utc::now() - chrono::TimeDelta::seconds(4)),
            expires_at: Some(Utc::now() + chrono::TimeDelta::seconds(26)),
            expired: false,
            control: Control::Run,
            control_seq: 0,
            state: None,
            held: 1,
            needed: 1,
        };
        let msg = LockError::Held(Box::new(info)).to_string();
        assert!(msg.starts_with("demo/prod is locked by alice@laptop since 1970-01-01 00:00:00 UTC (release r-1, \"hotfix\", heartbeat "), "{msg}");
        assert!(msg.contains("expires in 2"), "{msg}");
        assert!(
            msg.ends_with(
                "without one); wait with --lock-wait SECS, or break it with: shipdeck lock break demo prod"
            ),
            "{msg}"
        );
    }
}
