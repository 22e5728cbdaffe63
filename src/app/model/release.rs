//! What the console knows about the releases of one project+environment:
//! the rollout this console runs (built from its `RolloutEvent`s), what the
//! fleet says (the lock of another operator's rollout, an unfinished
//! release), and the history. Pure data; `update()` fills it.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::rollout::activity::Activity;
use crate::rollout::events::{HostPhase, RolloutEvent};
use crate::rollout::journal::{Action as ReleaseAction, Outcome, ReleaseSummary};
use crate::rollout::plan::Plan;

/// `(project, env)`.
pub type EnvKey = (String, String);

/// Event lines a rollout view keeps (the journal has them all).
pub const ROLLOUT_LINES: usize = 500;

/// One host in a rollout, as its events tell it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostProgress {
    /// Where it is in its replacement (`None`: waiting for its batch).
    pub phase: Option<HostPhase>,
    /// Pulled, in seconds.
    pub pulled: Option<f64>,
    /// A pull in flight: (bytes, total).
    pub pulling: Option<(u64, u64)>,
    pub pull_error: Option<String>,
    /// Left out of the rollout (unreachable, pull failed under skip-host).
    pub left_out: Option<String>,
    /// The last detail the executor gave.
    pub detail: Option<String>,
    /// Why it failed: the failing probe's output, kept when later phases
    /// (restoring, restored) bring details of their own.
    pub failure: Option<String>,
    /// Seconds since its replacement began, at the last event.
    pub secs: f64,
    /// Its `pre_host` hook failed: the host was not touched.
    pub hook_failed: bool,
    /// When the health gate gives up, while it waits for health.
    pub gate_deadline: Option<DateTime<Utc>>,
    /// Timings of finished phases: (phase, seconds).
    pub timings: Vec<(HostPhase, f64)>,
    /// The last lines of the failed container's log, fetched by itself.
    pub log_tail: Option<Result<Vec<String>, String>>,
}

/// How a rollout of this console stands, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutStatus {
    /// Waiting for the lock, planning, pulling.
    Preparing,
    Running,
    Paused,
    RollingBack,
    Stopping,
    Finished(Outcome),
    /// Refused before anything changed (the error says why).
    Refused,
}

/// One word for a rollout's status.
pub fn status_word(s: RolloutStatus) -> &'static str {
    match s {
        RolloutStatus::Preparing => "preparing",
        RolloutStatus::Running => "running",
        RolloutStatus::Paused => "paused",
        RolloutStatus::RollingBack => "rolling back",
        RolloutStatus::Stopping => "stopping",
        RolloutStatus::Finished(o) => o.word(),
        RolloutStatus::Refused => "refused",
    }
}

/// A rollout this console started: everything its view shows.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutPane {
    pub action: ReleaseAction,
    pub release: Option<String>,
    pub version: String,
    pub digest: Option<String>,
    pub from_versions: Vec<String>,
    pub plan: Option<Plan>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RolloutStatus,
    /// (index, total) of the batch in flight or last done.
    pub batch: (usize, usize),
    /// Hosts in plan order.
    pub order: Vec<String>,
    pub hosts: BTreeMap<String, HostProgress>,
    pub lines: VecDeque<String>,
    /// The end: outcome message, hosts that need an operator.
    pub message: String,
    pub needs_operator: Vec<String>,
    /// The health gate's whole wait, for the countdown.
    pub gate_secs: f64,
}

impl RolloutPane {
    pub fn new(action: ReleaseAction, version: String, now: DateTime<Utc>, gate_secs: f64) -> Self {
        Self {
            action,
            release: None,
            version,
            digest: None,
            from_versions: Vec::new(),
            plan: None,
            started_at: now,
            finished_at: None,
            status: RolloutStatus::Preparing,
            batch: (0, 0),
            order: Vec::new(),
            hosts: BTreeMap::new(),
            lines: VecDeque::new(),
            message: String::new(),
            needs_operator: Vec::new(),
            gate_secs,
        }
    }

    pub fn running(&self) -> bool {
        !matches!(
            self.status,
            RolloutStatus::Finished(_) | RolloutStatus::Refused
        )
    }

    fn host(&mut self, name: &str) -> &mut HostProgress {
        if !self.order.iter().any(|h| h == name) {
            self.order.push(name.to_string());
        }
        self.hosts.entry(name.to_string()).or_default()
    }

    fn line(&mut self, text: String) {
        for l in text.lines() {
            if self.lines.len() >= ROLLOUT_LINES {
                self.lines.pop_front();
            }
            self.lines.push_back(l.to_string());
        }
    }

    fn set_plan(&mut self, action: ReleaseAction, plan: &Plan) {
        self.action = action;
        self.version = plan.version.clone();
        self.order = plan.hosts.clone();
        for h in &plan.hosts {
            self.hosts.entry(h.clone()).or_default();
        }
        self.batch = (0, plan.batches.len());
        self.plan = Some(plan.clone());
    }

    /// Apply one event. Returns the host that failed, if one did.
    pub fn apply(&mut self, ev: &RolloutEvent, now: DateTime<Utc>) -> Option<String> {
        // Pull progress shows in the host's row, not as event lines.
        if !matches!(ev, RolloutEvent::PullProgress { .. }) {
            self.line(ev.human());
        }
        let mut failed = None;
        match ev {
            RolloutEvent::Planned {
                release,
                action,
                plan,
            } => {
                self.release = Some(release.clone());
                self.set_plan(*action, plan);
            }
            RolloutEvent::Replanned { action, plan, .. } => self.set_plan(*action, plan),
            RolloutEvent::HostSkipped { host, reason } => {
                self.host(host).left_out = Some(reason.clone());
            }
            RolloutEvent::PullStarted { .. } | RolloutEvent::LockWaiting { .. } => {}
            RolloutEvent::PullProgress { host, bytes, total } => {
                self.host(host).pulling = Some((*bytes, *total));
            }
            RolloutEvent::HostPulled { host, digest, secs } => {
                self.digest.get_or_insert_with(|| digest.clone());
                self.host(host).pulled = Some(*secs);
            }
            RolloutEvent::HostPullFailed { host, error } => {
                self.host(host).pull_error = Some(error.clone());
            }
            RolloutEvent::PullsDone { digest, .. } => {
                self.digest = Some(digest.clone());
                self.status = RolloutStatus::Running;
            }
            RolloutEvent::BatchStarted { index, total, .. } => {
                self.batch = (*index, *total);
                self.status = RolloutStatus::Running;
            }
            RolloutEvent::Host {
                host,
                phase,
                secs,
                detail,
            } => {
                let gate = self.gate_secs;
                let h = self.host(host);
                if let Some(prev) = h.phase
                    && prev != *phase
                {
                    let since = h.secs;
                    h.timings.push((prev, (secs - since).max(0.0)));
                }
                h.phase = Some(*phase);
                h.secs = *secs;
                if detail.is_some() {
                    h.detail = detail.clone();
                }
                h.gate_deadline = (*phase == HostPhase::WaitingHealth)
                    .then(|| now + chrono::Duration::milliseconds((gate * 1000.0) as i64));
                if matches!(*phase, HostPhase::Failed) {
                    h.failure = detail.clone();
                    h.log_tail = None;
                    failed = Some(host.clone());
                }
            }
            RolloutEvent::HostLog { host, lines, error } => {
                self.host(host).log_tail = Some(match error {
                    Some(e) => Err(e.clone()),
                    None => Ok(lines.clone()),
                });
            }
            RolloutEvent::BatchDone { index, total, .. } => self.batch = (*index, *total),
            RolloutEvent::Paused { .. } => self.status = RolloutStatus::Paused,
            RolloutEvent::Resumed => self.status = RolloutStatus::Running,
            RolloutEvent::RollingBack { .. } => self.status = RolloutStatus::RollingBack,
            RolloutEvent::Stopping { .. } => self.status = RolloutStatus::Stopping,
            RolloutEvent::Hook {
                host: Some(host),
                ok: false,
                on,
                detail,
                ..
            } => {
                let h = self.host(host);
                h.detail = Some(format!("{} hook failed: {detail}", on.word()));
                h.hook_failed |= *on == crate::config::HookPoint::PreHost;
            }
            RolloutEvent::Hook { .. }
            | RolloutEvent::LockAcquired { .. }
            | RolloutEvent::Repaired { .. }
            | RolloutEvent::Pruned { .. } => {}
            RolloutEvent::Finished {
                outcome,
                message,
                needs_operator,
                ..
            } => {
                self.status = RolloutStatus::Finished(*outcome);
                self.finished_at = Some(now);
                self.message = message.clone();
                self.needs_operator = needs_operator.clone();
                for h in self.hosts.values_mut() {
                    h.gate_deadline = None;
                }
            }
        }
        failed
    }

    /// Hosts that serve the target version healthy now, of the plan's.
    pub fn healthy(&self) -> (usize, usize) {
        let n = self.order.len();
        let ok = self
            .hosts
            .values()
            .filter(|h| matches!(h.phase, Some(HostPhase::Healthy | HostPhase::Skipped)))
            .count();
        (ok, n)
    }

    /// Hosts out of service now (being replaced, failed, left out).
    pub fn unavailable(&self) -> usize {
        self.hosts
            .values()
            .filter(|h| {
                h.left_out.is_some()
                    || matches!(
                        h.phase,
                        Some(
                            HostPhase::Stopping
                                | HostPhase::Starting
                                | HostPhase::WaitingHealth
                                | HostPhase::Failed
                                | HostPhase::Restoring
                                | HostPhase::RestoreFailed
                                | HostPhase::RollingBack
                        )
                    )
            })
            .count()
    }

    /// Hosts that failed (the retry key redeploys only these).
    pub fn failed_hosts(&self) -> Vec<String> {
        self.order
            .iter()
            .filter(|h| {
                self.hosts.get(*h).is_some_and(|p| {
                    p.pull_error.is_some()
                        || p.left_out.is_some()
                        || matches!(
                            p.phase,
                            Some(
                                HostPhase::Failed | HostPhase::Restored | HostPhase::RestoreFailed
                            )
                        )
                })
            })
            .cloned()
            .collect()
    }

    /// Seconds left, from the plan's prediction and the time spent.
    pub fn eta_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        let predicted = self.plan.as_ref()?.predicted_secs?;
        if !self.running() {
            return None;
        }
        let spent = (now - self.started_at).num_seconds();
        Some((predicted as i64 - spent).max(0))
    }
}

/// Everything known about one project+environment's releases.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvReleases {
    /// The rollout this console runs or ran last.
    pub rollout: Option<RolloutPane>,
    /// What the fleet said at the last poll (lock, unfinished release).
    pub activity: Option<Activity>,
    /// The releases (journal merged with the fleet's ledger), oldest first.
    pub history: Option<Result<Vec<ReleaseSummary>, String>>,
    /// A poll or a history read is in flight.
    pub polling: bool,
    /// The next poll reads the releases too (a lock came or went).
    pub full_due: bool,
    /// The tick of the last full read.
    pub full_at: u64,
    pub loading_history: bool,
}

impl EnvReleases {
    /// A rollout of this console that has not finished.
    pub fn running_here(&self) -> bool {
        self.rollout.as_ref().is_some_and(RolloutPane::running)
    }

    /// Another operator's rollout holds the lock (not ours).
    pub fn other_rollout(&self) -> Option<&crate::rollout::lock::LockInfo> {
        match &self.activity {
            Some(Activity::Running { lock, .. }) => {
                let ours = self
                    .rollout
                    .as_ref()
                    .and_then(|r| r.release.as_deref())
                    .is_some_and(|r| r == lock.release)
                    && self.running_here();
                (!ours).then_some(lock.as_ref())
            }
            _ => None,
        }
    }

    /// The unfinished release of this environment, when nobody runs it.
    pub fn interrupted(&self) -> Option<&ReleaseSummary> {
        match &self.activity {
            Some(Activity::Interrupted { release }) if !self.running_here() => Some(release),
            _ => None,
        }
    }
}
