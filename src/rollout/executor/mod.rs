//! The rollout executor: reach the hosts, take the fleet lock while the
//! image is pre-pulled, decide under the lock, replace hosts through a
//! window of `max_unavailable` slots with health gates, contain failures,
//! roll back, prune, and record it all (journal and the fleet's ledger). It
//! reports every step as a `RolloutEvent`; the console and the headless CLI
//! only consume them. Must not import ratatui, app/ui, or `rollout::promote`
//! (promotion gates run before, in `rollout::release`).
//!
//! Promises (SPEC "Rollouts"; each one has a fault test in `tests/faults.rs`):
//! - Decisions are made from a read of the fleet taken while this rollout
//!   holds the lock; the read before it only shapes the pre-pull and the
//!   plan shown first.
//! - Never more than `max_unavailable` hosts without a healthy serving
//!   container at once, counting hosts that were down already; a failed host
//!   is restored from its kept container, and a host is never left empty
//!   when a kept container could serve.
//! - Kept containers have restart policy `no`, so a daemon restart brings
//!   back only the serving one.
//! - A host counts as "already there" only when it answers its health gate
//!   now, on exactly the verified digest.
//! - A holder that lost the lock stops and never undoes.
//! - The record says what happened: which hosts were restored, which need
//!   an operator and why.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

mod conclude;
mod decide;
mod hooks;
mod host;
mod pull;
mod record;
mod survey;
mod undo;
mod window;

use decide::{HostPlan, HostView, Intent, Source};
use hooks::HookFacts;
use host::{HostFailure, HostResult, Swap};

use super::events::{HostPhase, RolloutEvent, short_digest};
use super::journal::{Action, Journal, JournalError, Outcome, Record, RecordKind, ReleaseSummary};
use super::ledger;
use super::lock::{FleetLock, LockError, LockRequest, Phase};
use super::plan::{self, Plan, PlanError, batches, make_plan};
use crate::config::{Config, FailureAction, HookPoint, Project, PullFailure};
use crate::domain::{AppContainer, ContainerState, Health, Role, labels, naming};
use crate::engine::{CreateSpec, Engine, EngineError};
use crate::health::{self, Target};

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Roll `version` out; with `digest`, exactly that image (`repo@digest`,
    /// a promotion) whatever the tag points at now.
    Deploy {
        version: String,
        digest: Option<String>,
        /// A promotion's source environment (recorded, shown in history).
        promoted_from: Option<String>,
    },
    /// Go back to `to`, or to the last release that served; with `digest`,
    /// hosts without a kept container of it pull exactly that image.
    Rollback {
        to: Option<String>,
        digest: Option<String>,
    },
    /// Finish the newest interrupted release of the environment, as what it
    /// was (a deploy, a promotion or a rollback). Which release that is, is
    /// decided under the lock: a resume that waited for another operator's
    /// rollout acts on what that one left.
    Resume,
}

/// A rollout request.
#[derive(Debug, Clone)]
pub struct Request {
    pub project: String,
    pub env: String,
    pub kind: Kind,
    /// `user@machine`.
    pub user: String,
    /// The operator's note (`-m`): in the lock, the journal and the ledger.
    pub message: String,
    pub lock_wait: Option<Duration>,
    pub lock_ttl: Duration,
}

/// How a rollout that started ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub release: String,
    pub action: Action,
    pub version: String,
    pub outcome: Outcome,
    pub secs: f64,
    pub message: String,
    /// Hosts an operator has to look at, each with why.
    pub needs_operator: Vec<String>,
    /// The journal could not record the end (the fleet did change).
    pub journal_error: Option<String>,
}

impl Report {
    /// The exit code a headless caller gets: 0 the version runs healthy on
    /// every host; 2 nothing was changed; 1 anything else (also when the
    /// journal could not record a rollout that changed the fleet).
    pub fn exit_code(&self) -> i32 {
        match self.outcome {
            Outcome::Succeeded if self.journal_error.is_none() => 0,
            // Nothing changed, even if the journal could not say so.
            Outcome::Refused => 2,
            _ => 1,
        }
    }
}

/// Why a rollout did not start. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(
        "{project}/{env}: {} host(s) unreachable, nothing was changed: {}\n  hint: bring the host(s) back, or set on_pull_failure = \"skip-host\" in [projects.rollout] to leave them out",
        hosts.len(),
        hosts.iter().map(|(h, e)| format!("{h} ({e})")).collect::<Vec<_>>().join("; ")
    )]
    Unreachable {
        project: String,
        env: String,
        hosts: Vec<(String, String)>,
    },
    #[error(
        "{project}/{env}: no earlier release to roll back to: {why}\n  hint: name one with --to VERSION"
    )]
    NothingToRollBackTo {
        project: String,
        env: String,
        why: String,
    },
    #[error("{project}/{env}: nothing to resume: {why}\n  hint: deploy a version, or roll back")]
    NothingToResume {
        project: String,
        env: String,
        why: String,
    },
    #[error(
        "{project}/{env}: {why}, nothing was changed\n  hint: fix what the hook checks or calls, then deploy again (the hook is in [[projects.hooks]])"
    )]
    Hook {
        project: String,
        env: String,
        why: String,
    },
    #[error("{project}/{env}: {what}, nothing was changed")]
    Input {
        project: String,
        env: String,
        what: String,
    },
}

/// The executor's wiring.
#[derive(Clone)]
pub struct Runner {
    pub config: Arc<Config>,
    pub journal: Journal,
    /// Unbounded on purpose: a slow consumer must never stall a rollout
    /// half-way through a batch. Events are small and finite per rollout.
    pub events: mpsc::UnboundedSender<RolloutEvent>,
    pub http: reqwest::Client,
    /// First Ctrl-C / SIGTERM: launch no further host, let the hosts in
    /// flight finish, release the lock; the release ends `interrupted`
    /// (resumable).
    pub stop: CancellationToken,
    /// Second Ctrl-C / SIGTERM: cancel the health waits in flight (those
    /// hosts are restored) and roll completed hosts back per
    /// `failure_action`; the release ends `aborted`.
    pub abort: CancellationToken,
    /// Grace period for stopping the old container.
    pub stop_grace: Duration,
}

/// Why a rollout stopped launching hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    /// Failures beyond `max_failure_ratio`.
    Failed,
    /// An operator's `control abort`: completed hosts go back.
    Aborted(String),
    /// A second signal: completed hosts go back per `failure_action`.
    SignalAbort,
    /// A first signal: in-flight hosts finish, nothing is undone.
    Interrupted,
    LockLost,
    /// Hosts already down leave no slot within `max_unavailable`.
    NoCapacity(String),
    /// Nobody resumed a canary within its bound.
    CanaryTimeout,
    /// A required `post_host` / `post_batch` hook failed: why.
    Hook(String),
}

/// How the replacement loop ended.
struct WindowEnd {
    done: Vec<Swap>,
    failed: Vec<HostFailure>,
    skipped: usize,
    stop: Option<Stop>,
}

/// What the end of a rollout says.
struct Ending {
    outcome: Outcome,
    message: String,
    needs_operator: Vec<String>,
    intent: Intent,
    /// Released ids a successful rollback went back from.
    rolled_back: Vec<String>,
    /// The lock was lost: nothing more is written to the fleet.
    lock_lost: bool,
    /// Hosts still to prune once the rollout ran to its end, and the
    /// releases whose containers are not worth keeping.
    prune: Option<(Vec<Engine>, HashSet<String>)>,
    /// Prunes started during the window (awaited before the lock goes).
    pruning: tokio::task::JoinSet<()>,
}

impl Ending {
    fn new(outcome: Outcome, message: String, needs: Vec<String>, intent: Intent) -> Self {
        Self {
            outcome,
            message,
            needs_operator: needs,
            intent,
            rolled_back: Vec::new(),
            lock_lost: false,
            prune: None,
            pruning: tokio::task::JoinSet::new(),
        }
    }
}

/// What the first read under the lock found.
struct UnderLock {
    fleet: Result<Vec<HostView>, RolloutError>,
    history: Vec<ReleaseSummary>,
    /// The ledger's copies, read under the lock, written without rereading.
    copies: tokio::sync::Mutex<ledger::Copies>,
}

/// A new release id: `r20261121-120003-1a2b`.
pub fn new_release_id() -> String {
    let now = Utc::now();
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("r{}-{salt:04x}", now.format("%Y%m%d-%H%M%S"))
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

/// Hosts reached, and those that were not, with why.
struct Reach {
    engines: Vec<Engine>,
    unreachable: Vec<(String, String)>,
}

impl Runner {
    fn emit(&self, e: RolloutEvent) {
        // A container's own log lines are the app's output: they go to the
        // screen, not into shipdeck's log file.
        match &e {
            RolloutEvent::HostLog { host, lines, .. } => {
                info!(%host, lines = lines.len(), "rollout: failed container's log shown")
            }
            _ => info!(event = %e.human(), "rollout"),
        }
        let _ = self.events.send(e);
    }

    fn lock_acquired(&self, l: &FleetLock) {
        self.emit(RolloutEvent::LockAcquired {
            host: l.info().host.clone(),
            hosts: l.info().hosts.clone(),
            owner: l.info().owner.clone(),
        });
    }

    /// Show the last lines of a failed container's log (bounded: a host
    /// that does not answer costs at most a few seconds).
    async fn host_log(&self, eng: &Engine, id: &str) {
        const LINES: usize = 20;
        let (lines, error) =
            match tokio::time::timeout(Duration::from_secs(5), eng.log_tail(id, LINES)).await {
                Ok(Ok(lines)) => (lines, None),
                Ok(Err(e)) => (Vec::new(), Some(e.short())),
                Err(_) => (Vec::new(), Some("no answer within 5s".to_string())),
            };
        self.emit(RolloutEvent::HostLog {
            host: eng.host.clone(),
            lines,
            error,
        });
    }

    fn host_event(&self, host: &str, phase: HostPhase, t0: Instant, detail: Option<String>) {
        self.emit(RolloutEvent::Host {
            host: host.to_string(),
            phase,
            secs: secs(t0),
            detail,
        });
    }

    fn record(&self, req: &Request, release: &str, kind: RecordKind) -> Result<(), JournalError> {
        self.journal.append(&Record {
            ts: Utc::now(),
            release: release.to_string(),
            project: req.project.clone(),
            env: req.env.clone(),
            user: req.user.clone(),
            kind,
        })
    }

    /// The lock could not be taken: journal the refusal (nothing changed);
    /// the hooks that announced the release hear how it ended.
    async fn refused(
        &self,
        req: &Request,
        project: &Project,
        facts: &HookFacts,
        release: &str,
        t0: Instant,
        e: LockError,
    ) -> Result<Report, RolloutError> {
        self.end_hooks(req, project, facts, Outcome::Refused, &e.to_string())
            .await;
        let _ = self.record(
            req,
            release,
            RecordKind::Finished {
                result: Outcome::Refused,
                duration_secs: secs(t0),
                message: e.to_string(),
                needs_operator: Vec::new(),
            },
        );
        Err(e.into())
    }

    /// Run a deploy, promotion, rollback or resume to the end. `Err` means
    /// nothing was changed; a `Report` says what happened (its outcome may
    /// be `Refused` too, when the refusal came after the release started).
    #[instrument(skip(self, req), fields(project = %req.project, env = %req.env))]
    pub async fn run(&self, req: Request) -> Result<Report, RolloutError> {
        let t0 = Instant::now();
        let project = plan::target(&self.config, &req.project, &req.env)?.clone();
        let release = new_release_id();

        // 1. Reach every host and read what runs (a first look: it shapes the
        //    plan shown and the pre-pull, and decides nothing).
        let reach = self.reach(&req, &project).await?;
        debug!(ms = t0.elapsed().as_millis() as u64, "step: hosts reached");
        let (fleet, history) = tokio::join!(
            async {
                let f = self.read_fleet(&reach.engines, &req).await;
                debug!(ms = t0.elapsed().as_millis() as u64, "step: fleet read");
                f
            },
            async {
                // A deploy names its version: the fleet's ledger is read
                // under the lock only (where it matters for restore points).
                let from_fleet = match req.kind {
                    Kind::Deploy { .. } => Vec::new(),
                    _ => ledger::read(&reach.engines, &req.project, &req.env).await,
                };
                let h = self.history(&req, &release, from_fleet);
                debug!(ms = t0.elapsed().as_millis() as u64, "step: releases read");
                h
            }
        );
        let fleet = self.refuse_unreadable(&req, &project, fleet)?;
        let intent = decide::intent(&req, &history, &fleet)?;
        debug!(
            ms = t0.elapsed().as_millis() as u64,
            "step: fleet and releases read"
        );
        let plan = self.plan_for(&req, &project, &intent, &reach)?;
        // Secrets are resolved before anything happens: a missing one refuses.
        self.create_spec(&req, &project, &intent.version, None, &release)?;

        self.emit(RolloutEvent::Planned {
            release: release.clone(),
            action: intent.action,
            plan: plan.clone(),
        });
        for (h, why) in &reach.unreachable {
            self.emit(RolloutEvent::HostSkipped {
                host: h.clone(),
                reason: why.clone(),
            });
        }
        // 2. Journaled before the pull: a kill from here on is "interrupted".
        self.record(
            &req,
            &release,
            RecordKind::Started {
                action: intent.action,
                version: intent.version.clone(),
                digest: intent.digest.clone(),
                from_versions: decide::majority_versions(&fleet),
                hosts: plan.hosts.len(),
                batches: plan.batches.len(),
                message: req.message.clone(),
                promoted_from: intent.promoted_from.clone(),
                resumes: intent.resumes.clone(),
            },
        )?;
        // The pre_rollout hooks, before the lock and the pull: a failing
        // one refuses the release with nothing changed.
        let facts = HookFacts::new(&req, &release, &intent, &plan);
        if let Err(why) = self
            .hooks(&req, &project, HookPoint::PreRollout, &facts)
            .await
        {
            let e = RolloutError::Hook {
                project: req.project.clone(),
                env: req.env.clone(),
                why,
            };
            let _ = self.record(
                &req,
                &release,
                RecordKind::Finished {
                    result: Outcome::Refused,
                    duration_secs: secs(t0),
                    message: e.to_string(),
                    needs_operator: Vec::new(),
                },
            );
            return Err(e);
        }

        // 3. The lock, and the pre-pull at the same time: a pull changes
        //    nothing that serves, and it is most of a rollout's fixed cost.
        let pulls = decide::provisional_pulls(&intent, &fleet, &decide::bad_releases(&history));
        let image = intent.image(&project);
        // As soon as the lock is held (the pull may still run): the fleet's
        // ledger learns of this release (another operator's `--resume` sees
        // it), and the fleet is read again — the read decisions are made from.
        // A free lock is taken first, before the pull: creating its objects
        // is quick on idle engines and slow on engines unpacking layers. Only
        // a lock that must be waited for is waited for while pulling.
        let first_try = self.lock(&req, &release, None).await;
        // Under the lock, beside the pull: a fresh read of the fleet (the one
        // decisions are made from) and the ledger's record of this release.
        let reads = async {
            tokio::join!(
                async {
                    let now = self.read_fleet_since(&reach.engines, &req, &fleet).await;
                    let fleet = self.refuse_unreadable(&req, &project, now);
                    if let Ok(f) = &fleet {
                        self.repair(f, &project).await;
                    }
                    fleet
                },
                async {
                    let mut copies =
                        ledger::Copies::open(&reach.engines, &req.project, &req.env).await;
                    let from_fleet = copies.entries();
                    self.ledger_start(&mut copies, &req, &reach, &release, &intent, &plan, &fleet)
                        .await;
                    (copies, from_fleet)
                }
            )
        };
        let (lock, pulled, (read_now, (copies, from_fleet))) = match first_try {
            Err(LockError::Held(_)) if req.lock_wait.is_some() => {
                let waited = async {
                    let l = self.lock(&req, &release, req.lock_wait).await?;
                    self.lock_acquired(&l);
                    Ok::<_, LockError>(l)
                };
                let (l, pulled) = tokio::join!(waited, self.pull(&fleet, &pulls, &image, &project));
                match l {
                    // The reads come once the lock is held.
                    Ok(l) => (l, pulled, reads.await),
                    Err(e) => return self.refused(&req, &project, &facts, &release, t0, e).await,
                }
            }
            Err(e) => return self.refused(&req, &project, &facts, &release, t0, e).await,
            Ok(l) => {
                self.lock_acquired(&l);
                let (pulled, read) =
                    tokio::join!(self.pull(&fleet, &pulls, &image, &project), reads);
                (l, pulled, read)
            }
        };
        debug!(
            ms = t0.elapsed().as_millis() as u64,
            "step: locked and pulled"
        );
        let read = UnderLock {
            fleet: read_now,
            history: self.history(&req, &release, from_fleet),
            copies: tokio::sync::Mutex::new(copies),
        };
        let copies = &read.copies;
        let mut ending = self
            .under_lock(
                &req, &project, &release, &lock, &reach, plan, intent, pulled, &read,
            )
            .await;

        debug!(ms = t0.elapsed().as_millis() as u64, "step: replaced");
        // The prunes started during the window finish first (the final
        // prune must not race them on one host); then, if the lock is
        // still ours, the last prune beside the ledger's update.
        let mut pruning = std::mem::take(&mut ending.pruning);
        if ending.lock_lost {
            pruning.abort_all();
        }
        while pruning.join_next().await.is_some() {}
        if !ending.lock_lost && !lock.ensure_held().await {
            warn!("the lock was lost at the end of the rollout; the ledger is not written");
            ending.lock_lost = true;
            ending
                .message
                .push_str("; the lock was lost before the fleet's ledger was written: `shipdeck history` on this machine has the record");
        }
        // The end's hooks (post_rollout, on_failure): a required one that
        // fails makes a success a failure (nothing is undone for it).
        let mut end_facts = facts.clone();
        end_facts.version = ending.intent.version.clone();
        end_facts.digest = ending.intent.digest.clone();
        if let Some(why) = self
            .end_hooks(&req, &project, &end_facts, ending.outcome, &ending.message)
            .await
        {
            if ending.outcome == Outcome::Succeeded {
                ending.outcome = Outcome::Failed;
                ending.rolled_back.clear();
                ending.message = format!("{} runs on every host, but {why}", ending.intent.version);
            } else {
                ending.message.push_str(&format!("; {why}"));
            }
        }
        // 5. The record: journal, the fleet's ledger (while pruning), then
        //    the lock goes. A holder that lost the lock writes nothing more
        //    to the fleet.
        let secs_total = secs(t0);
        let mut journal = self.record(
            &req,
            &release,
            RecordKind::Finished {
                result: ending.outcome,
                duration_secs: secs_total,
                message: ending.message.clone(),
                needs_operator: ending.needs_operator.clone(),
            },
        );
        for r in &ending.rolled_back {
            let mark = self.record(
                &req,
                r,
                RecordKind::RolledBack {
                    by: release.clone(),
                },
            );
            if journal.is_ok() {
                journal = mark;
            }
        }
        if !ending.lock_lost {
            let prune = async {
                if let Some((engines, bad)) = &ending.prune {
                    join_all(engines.iter().map(|e| {
                        self.prune(
                            e,
                            &req.project,
                            &req.env,
                            project.rollout.keep_releases as usize,
                            bad,
                            &[],
                        )
                    }))
                    .await;
                }
            };
            tokio::join!(
                async {
                    prune.await;
                    debug!(ms = t0.elapsed().as_millis() as u64, "step: pruned");
                },
                async {
                    self.ledger_end(&mut *copies.lock().await, &release, &ending, secs_total)
                        .await;
                    debug!(ms = t0.elapsed().as_millis() as u64, "step: ledger written");
                }
            );
        }
        debug!(ms = t0.elapsed().as_millis() as u64, "step: recorded");
        if let Err(e) = lock.release().await {
            warn!(error = %e, "releasing the lock failed; it expires by itself");
        }
        debug!(ms = t0.elapsed().as_millis() as u64, "step: lock released");
        let journal_error = journal.err().map(|e| e.to_string());
        let mut message = ending.message.clone();
        if let Some(e) = &journal_error {
            message.push_str(&format!(
                "; the journal could not record this end ({e}): the fleet did change"
            ));
        }
        self.emit(RolloutEvent::Finished {
            outcome: ending.outcome,
            secs: secs_total,
            message: message.clone(),
            needs_operator: ending.needs_operator.clone(),
        });
        Ok(Report {
            release,
            action: ending.intent.action,
            version: ending.intent.version,
            outcome: ending.outcome,
            secs: secs_total,
            message,
            needs_operator: ending.needs_operator,
            journal_error,
        })
    }

    /// The plan for `intent`, without the hosts that could not be reached.
    fn plan_for(
        &self,
        req: &Request,
        project: &Project,
        intent: &Intent,
        reach: &Reach,
    ) -> Result<Plan, RolloutError> {
        let history = self.journal.releases().unwrap_or_default();
        let mut plan = make_plan(
            &self.config,
            &req.project,
            &req.env,
            &intent.version,
            &history,
        )?;
        plan.image = intent.image(project);
        let gone: Vec<String> = reach.unreachable.iter().map(|(h, _)| h.clone()).collect();
        replan(&mut plan, project, &gone);
        if plan.hosts.is_empty() {
            return Err(RolloutError::Input {
                project: req.project.clone(),
                env: req.env.clone(),
                what: "no host left to roll out to".into(),
            });
        }
        Ok(plan)
    }

    /// Take the fleet lock, saying who it waits for.
    async fn lock(
        &self,
        req: &Request,
        release: &str,
        wait: Option<Duration>,
    ) -> Result<FleetLock, LockError> {
        let wait_secs = wait.map(|w| w.as_secs()).unwrap_or(0);
        let waiting = |held: &super::lock::LockInfo| {
            self.emit(RolloutEvent::LockWaiting {
                owner: held.owner.clone(),
                release: held.release.clone(),
                message: held.message.clone(),
                expires_in_secs: held
                    .expires_at
                    .map(|t| (t - Utc::now()).num_seconds().max(0)),
                wait_secs,
            });
        };
        FleetLock::acquire_waiting(
            &self.config,
            &req.project,
            &req.env,
            LockRequest {
                owner: req.user.clone(),
                release: release.to_string(),
                message: req.message.clone(),
                ttl: req.lock_ttl,
                wait,
            },
            &waiting,
        )
        .await
    }

    /// Under the lock: read again, decide, pull what is missing, replace,
    /// contain, undo, prune.
    #[allow(clippy::too_many_arguments)]
    async fn under_lock(
        &self,
        req: &Request,
        project: &Project,
        release: &str,
        lock: &FleetLock,
        reach: &Reach,
        mut plan: Plan,
        first: Intent,
        pulled: pull::Pulled,
        read: &UnderLock,
    ) -> Ending {
        let refused = |intent: Intent, message: String| {
            Ending::new(Outcome::Refused, message, Vec::new(), intent)
        };
        // The fleet as it was read under the lock.
        let fleet = match &read.fleet {
            Ok(f) => f.clone(),
            Err(e) => return refused(first, e.to_string()),
        };
        let history = read.history.clone();
        let mut intent = match decide::intent(req, &history, &fleet) {
            Ok(i) => i,
            Err(e) => {
                return refused(
                    Intent {
                        version: String::new(),
                        ..first
                    },
                    e.to_string(),
                );
            }
        };
        if !intent.same_target(&first) {
            plan.version = intent.version.clone();
            plan.image = intent.image(project);
            let reason = format!(
                "the fleet changed while this rollout waited for the lock: {} {} instead of {} {}",
                intent.action.word(),
                intent.version,
                first.action.word(),
                first.version
            );
            self.emit(RolloutEvent::Replanned {
                action: intent.action,
                plan: plan.clone(),
                reason,
            });
            if let Err(e) = self.record(
                req,
                release,
                RecordKind::Decided {
                    action: intent.action,
                    version: intent.version.clone(),
                    digest: intent.digest.clone(),
                    resumes: intent.resumes.clone(),
                },
            ) {
                return refused(
                    intent,
                    format!("the journal could not record the decision: {e}"),
                );
            }
            self.ledger_start(
                &mut *read.copies.lock().await,
                req,
                reach,
                release,
                &intent,
                &plan,
                &fleet,
            )
            .await;
        }

        // Pulls: what the pre-pull did not cover (another version, a host
        // whose kept container vanished) happens now.
        let verified = match self
            .complete_pulls(
                &fleet,
                &intent,
                project,
                pulled,
                &mut plan,
                &decide::bad_releases(&history),
            )
            .await
        {
            Ok(v) => v,
            Err(message) => return refused(intent, message),
        };
        if let Some(d) = &verified {
            let rec = RecordKind::Pulled { digest: d.clone() };
            if let Err(e) = self.record(req, release, rec) {
                warn!(error = %e, "journal: the digest was not recorded");
            }
            intent.digest = Some(d.clone());
        }
        // The ledger learns the digest too (a `--resume` elsewhere pins
        // exactly this image) while the hosts are decided and replaced.
        let digest_recorded = async {
            if let Some(d) = &verified {
                read.copies
                    .lock()
                    .await
                    .apply(&|all| {
                        if let Some(e) = all.iter_mut().find(|e| e.release == release) {
                            e.digest = Some(d.clone());
                        }
                    })
                    .await;
            }
        };
        let (_, ending) = tokio::join!(
            digest_recorded,
            self.replace_all(req, project, release, lock, plan, intent, &fleet, &history)
        );
        ending
    }

    /// Decide each host and replace them: the window, then the end.
    #[allow(clippy::too_many_arguments)]
    async fn replace_all(
        &self,
        req: &Request,
        project: &Project,
        release: &str,
        lock: &FleetLock,
        mut plan: Plan,
        intent: Intent,
        fleet: &[HostView],
        history: &[ReleaseSummary],
    ) -> Ending {
        let digest = intent.digest.clone();

        // Per host: skip (healthy now on this digest), restart a kept
        // container, or create from the image.
        let mut hosts =
            decide::hosts(self, fleet, &intent, digest.as_deref(), project, history).await;
        hosts.retain(|h| plan.hosts.contains(&h.engine.host));
        // Hosts that answered the connect but not the listing are left out
        // (only under `skip-host`; otherwise the read above refused).
        let missing: Vec<String> = plan
            .hosts
            .iter()
            .filter(|n| !hosts.iter().any(|h| &h.engine.host == *n))
            .cloned()
            .collect();
        for m in &missing {
            self.emit(RolloutEvent::HostSkipped {
                host: m.clone(),
                reason: "its containers could not be listed".into(),
            });
        }
        replan(&mut plan, project, &missing);
        let left_out: Vec<String> = project
            .hosts_in(&req.env)
            .iter()
            .filter(|h| !plan.hosts.contains(h))
            .cloned()
            .collect();
        let mut down = self.down_at_start(&hosts, &left_out, project).await;
        let labels = self.labels(req, &intent.version, digest.as_deref(), release);
        let image = match &digest {
            Some(d) => format!("{}@{d}", project.image),
            None => format!("{}:{}", project.image, intent.version),
        };
        let spec = match self.spec_with(req, project, image, labels) {
            Ok(s) => s,
            Err(m) => return Ending::new(Outcome::Refused, m, Vec::new(), intent),
        };
        // (No "running" report: a lock without one reads as running.)
        let mut bad = decide::bad_releases(history);
        if intent.action == Action::Rollback {
            bad.extend(intent.from_releases.iter().cloned());
        }
        let facts = HookFacts::new(req, release, &intent, &plan);
        let pruner = host::Pruner {
            project: req.project.clone(),
            env: req.env.clone(),
            keep: project.rollout.keep_releases as usize,
            bad,
            started: Default::default(),
        };
        let end = self
            .window(
                req, project, &plan, &hosts, lock, &spec, &mut down, &pruner, &facts,
            )
            .await;
        let pruning = pruner.take();
        let mut ending = self
            .conclude(
                req, project, &plan, &hosts, lock, intent, end, &mut down, history, &facts,
            )
            .await;
        ending.pruning = pruning;
        ending
    }
}

/// Drop `gone` hosts from the plan and re-cut the batches.
fn replan(plan: &mut Plan, project: &Project, gone: &[String]) {
    if gone.is_empty() {
        return;
    }
    plan.hosts.retain(|h| !gone.contains(h));
    let n = plan.hosts.len();
    plan.max_unavailable = plan::max_unavailable(project.rollout.max_unavailable, n);
    plan.min_serving = n.saturating_sub(plan.max_unavailable);
    plan.batches = batches(&plan.hosts, plan.max_unavailable, plan.canary && n > 1);
}
