//! What a rollout reports, phase by phase and host by host. The console draws
//! these; the headless CLI prints them as lines or as one JSON object each.

use serde::Serialize;

use super::journal::{Action, Outcome};
use super::plan::Plan;
use crate::config::HookPoint;

/// Where one host is in its replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostPhase {
    /// Already runs the target version healthy: nothing to do.
    Skipped,
    Stopping,
    Starting,
    WaitingHealth,
    Healthy,
    Failed,
    /// Going back to the container it had before.
    Restoring,
    Restored,
    /// Could not be restored: needs an operator.
    RestoreFailed,
    /// Going back to the previous release (undo after a failure or abort).
    RollingBack,
    /// Back on the previous release.
    RolledBack,
}

impl HostPhase {
    pub fn word(self) -> &'static str {
        match self {
            HostPhase::Skipped => "skipped",
            HostPhase::Stopping => "stopping",
            HostPhase::Starting => "starting",
            HostPhase::WaitingHealth => "waiting for health",
            HostPhase::Healthy => "healthy",
            HostPhase::Failed => "FAILED",
            HostPhase::Restoring => "restoring",
            HostPhase::Restored => "restored",
            HostPhase::RestoreFailed => "RESTORE FAILED",
            HostPhase::RollingBack => "rolling back",
            HostPhase::RolledBack => "rolled back",
        }
    }
}

/// One rollout event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RolloutEvent {
    /// The plan, before anything happens.
    Planned {
        release: String,
        action: Action,
        plan: Plan,
    },
    /// Under the lock the fleet said otherwise than the read before it (the
    /// rollout waited for another one): this is what happens instead.
    Replanned {
        action: Action,
        plan: Plan,
        reason: String,
    },
    /// The lock is held by another rollout; this one waits for it.
    LockWaiting {
        owner: String,
        release: String,
        message: String,
        /// Seconds until it expires without a heartbeat, when known.
        expires_in_secs: Option<i64>,
        wait_secs: u64,
    },
    LockAcquired {
        host: String,
        hosts: Vec<String>,
        owner: String,
    },
    /// Under the lock, a host needed a repair before anything else: a kept
    /// container running beside the serving one, a restart policy to fix.
    Repaired {
        host: String,
        what: String,
    },
    /// Hosts left out (unreachable, pull failed) under `skip-host`.
    HostSkipped {
        host: String,
        reason: String,
    },
    PullStarted {
        image: String,
        hosts: Vec<String>,
    },
    /// A host's pull moves: bytes of the layers so far (at most once a
    /// second per host; the headless human output leaves these out).
    PullProgress {
        host: String,
        bytes: u64,
        total: u64,
    },
    HostPulled {
        host: String,
        digest: String,
        secs: f64,
    },
    HostPullFailed {
        host: String,
        error: String,
    },
    PullsDone {
        digest: String,
        secs: f64,
    },
    BatchStarted {
        index: usize,
        total: usize,
        hosts: Vec<String>,
    },
    Host {
        host: String,
        phase: HostPhase,
        /// Seconds since this host's replacement began.
        secs: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The last lines of a failed container's log, read before it is taken
    /// down (as Kamal prints them): why it failed, without a key press.
    HostLog {
        host: String,
        lines: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    BatchDone {
        index: usize,
        total: usize,
        secs: f64,
    },
    Paused {
        reason: String,
    },
    Resumed,
    /// Completed batches go back to the previous release.
    RollingBack {
        hosts: Vec<String>,
        reason: String,
    },
    /// A signal or an operator asked to stop; what happens now.
    Stopping {
        reason: String,
    },
    Pruned {
        host: String,
        removed: usize,
    },
    /// A hook ran (`[[projects.hooks]]`): where, what, how it went.
    Hook {
        on: HookPoint,
        /// `webhook http://host/path` or `command /path` (no header values).
        hook: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        ok: bool,
        secs: f64,
        /// `HTTP 204`, `exit 0`, or what failed.
        detail: String,
        /// A gate, or `required = true`: its failure stops the release.
        required: bool,
    },
    Finished {
        outcome: Outcome,
        secs: f64,
        message: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        needs_operator: Vec<String>,
    },
}

impl RolloutEvent {
    /// One human-readable line.
    pub fn human(&self) -> String {
        match self {
            RolloutEvent::Planned {
                release,
                action,
                plan,
            } => {
                let batches: Vec<String> = plan.batches.iter().map(|b| b.join(",")).collect();
                let mut s = format!(
                    "{} {}:{} to {}/{} ({} hosts, {} batches, max {} unavailable, release {release})",
                    action.word(),
                    plan.project,
                    plan.version,
                    plan.project,
                    plan.env,
                    plan.hosts.len(),
                    plan.batches.len(),
                    plan.max_unavailable
                );
                s.push_str(&format!("\n  batches: [{}]", batches.join("] [")));
                if let Some(p) = plan.predicted_secs {
                    s.push_str(&format!("\n  predicted: {p:.0}s (from history)"));
                }
                for g in &plan.gates {
                    s.push_str(&format!("\n  gate: {g}"));
                }
                for w in &plan.warnings {
                    s.push_str(&format!("\n  warning: {w}"));
                }
                s
            }
            RolloutEvent::Replanned {
                action,
                plan,
                reason,
            } => format!(
                "replanned: {} {}:{} ({reason})",
                action.word(),
                plan.project,
                plan.version
            ),
            RolloutEvent::LockWaiting {
                owner,
                release,
                message,
                expires_in_secs,
                wait_secs,
            } => {
                let note = if message.is_empty() {
                    String::new()
                } else {
                    format!(" \"{message}\"")
                };
                let expiry = match expires_in_secs {
                    Some(s) => format!("; it expires in {s}s unless its holder heartbeats"),
                    None => String::new(),
                };
                format!(
                    "waiting up to {wait_secs}s for the lock: held by {owner} (release {release}{note}){expiry}"
                )
            }
            RolloutEvent::LockAcquired { hosts, owner, .. } => {
                format!("lock taken by {owner} on {}", hosts.join(","))
            }
            RolloutEvent::Repaired { host, what } => format!("  {host}: repaired: {what}"),
            RolloutEvent::Stopping { reason } => format!("stopping: {reason}"),
            RolloutEvent::HostSkipped { host, reason } => format!("{host}: left out: {reason}"),
            RolloutEvent::PullStarted { image, hosts } => {
                format!("pulling {image} on {} hosts", hosts.len())
            }
            RolloutEvent::PullProgress { host, bytes, total } => format!(
                "  {host}: pulling {} of {}",
                human_bytes(*bytes),
                human_bytes(*total)
            ),
            RolloutEvent::HostPulled { host, digest, secs } => {
                format!("{host}: pulled {} in {secs:.1}s", short_digest(digest))
            }
            RolloutEvent::HostPullFailed { host, error } => format!("{host}: pull FAILED: {error}"),
            RolloutEvent::PullsDone { digest, secs } => {
                format!("all hosts have {} ({secs:.1}s)", short_digest(digest))
            }
            RolloutEvent::BatchStarted {
                index,
                total,
                hosts,
            } => format!("batch {index}/{total}: {}", hosts.join(", ")),
            RolloutEvent::Host {
                host,
                phase,
                secs,
                detail,
            } => match detail {
                Some(d) => format!("  {host}: {} ({secs:.1}s): {d}", phase.word()),
                None => format!("  {host}: {} ({secs:.1}s)", phase.word()),
            },
            RolloutEvent::HostLog { host, lines, error } => {
                let mut s = match error {
                    Some(e) => format!("  {host}: its log could not be read: {e}"),
                    None => format!(
                        "  {host}: the failed container's last {} log line(s):",
                        lines.len()
                    ),
                };
                for l in lines {
                    s.push_str(&format!("\n    {host} | {l}"));
                }
                s
            }
            RolloutEvent::BatchDone { index, total, secs } => {
                format!("batch {index}/{total} done in {secs:.1}s")
            }
            RolloutEvent::Paused { reason } => format!("paused: {reason}"),
            RolloutEvent::Resumed => "resumed".into(),
            RolloutEvent::RollingBack { hosts, reason } => {
                format!("rolling back {} hosts: {reason}", hosts.len())
            }
            RolloutEvent::Pruned { host, removed } => {
                format!("  {host}: pruned {removed} old container(s)")
            }
            RolloutEvent::Hook {
                on,
                hook,
                host,
                ok,
                secs,
                detail,
                required,
            } => {
                let at = match host {
                    Some(h) => format!("  {h}: hook {}", on.word()),
                    None => format!("hook {}", on.word()),
                };
                let how = if *ok {
                    format!("ok in {secs:.1}s ({detail})")
                } else if *required {
                    format!("FAILED in {secs:.1}s: {detail}")
                } else {
                    format!("failed in {secs:.1}s (not required, the release goes on): {detail}")
                };
                format!("{at} {hook}: {how}")
            }
            RolloutEvent::Finished {
                outcome,
                secs,
                message,
                needs_operator,
            } => {
                let mut s = if message.is_empty() {
                    format!("{} in {secs:.1}s", outcome.word())
                } else {
                    format!("{} in {secs:.1}s: {message}", outcome.word())
                };
                for n in needs_operator {
                    s.push_str(&format!("\n  NEEDS AN OPERATOR: {n}"));
                }
                s
            }
        }
    }
}

/// `12.3 MiB`, `840 KiB`.
pub fn human_bytes(b: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if b >= MIB {
        format!("{:.1} MiB", b as f64 / MIB as f64)
    } else {
        format!("{} KiB", b.div_ceil(1024))
    }
}

/// `sha256:0123456789ab`.
pub fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, _)) => format!("{alg}:{}", crate::domain::labels::digest_hex12(d)),
        None => d.to_string(),
    }
}
