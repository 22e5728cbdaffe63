//! The rollout executor: lock, pre-pull, batched replace with health gates,
//! containment of failures, rollback, pruning, journal. It reports every step
//! as a `RolloutEvent`; the console and the headless CLI only consume them.
//!
//! Invariants (SPEC "Rollouts"): no more than `max_unavailable` hosts out of
//! service at once; a failed host is restored from its kept container before
//! the next batch; the old container is kept (stopped, renamed), never removed
//! mid-rollout, so a rollback needs no pull.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, instrument, warn};

mod host;
mod window;

use super::events::{HostPhase, RolloutEvent, short_digest};
use super::journal::{Journal, JournalError, Outcome, Record, RecordKind};
use super::lock::{Control, FleetLock, LockError, LockRequest};
use super::plan::{self, Plan, PlanError, batches, make_plan};
use super::promote::{self, PromoteError};
use crate::config::{Config, FailureAction, Project, PullFailure};
use crate::domain::{AppContainer, ContainerState, Health, labels};
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
    },
    /// Go back to `to`, or to the previous release; with `digest`, hosts
    /// without a kept container of it pull exactly that image.
    Rollback {
        to: Option<String>,
        digest: Option<String>,
    },
}

/// A rollout request.
#[derive(Debug, Clone)]
pub struct Request {
    pub project: String,
    pub env: String,
    pub kind: Kind,
    /// `user@machine`.
    pub user: String,
    pub message: String,
    pub lock_wait: Option<Duration>,
    pub lock_ttl: Duration,
}

/// How a rollout that started ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub release: String,
    pub version: String,
    pub outcome: Outcome,
    pub secs: f64,
    pub message: String,
}

/// Why a rollout did not start, or could not be recorded.
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
        "{project}/{env}: no previous release to roll back to (no kept containers on the fleet and none in the journal)\n  hint: name one with --to VERSION"
    )]
    NothingToRollBackTo { project: String, env: String },
    #[error(transparent)]
    Promotion(#[from] PromoteError),
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
    /// Ctrl-C: finish the batch in flight, launch no more.
    pub cancel: CancellationToken,
    /// Grace period for stopping the old container.
    pub stop_grace: Duration,
    pub pull_timeout: Duration,
}

/// What replaced what on one host (to undo it).
#[derive(Debug, Clone)]
struct Swap {
    host: String,
    new_id: String,
    /// The container that served before (kept, stopped, renamed).
    old: Option<AppContainer>,
}

/// Why a rollout stopped launching hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Failed,
    Aborted,
    Cancelled,
    LockLost,
}

/// The pre-pull's results, indexed like the hosts that needed it.
struct Pulled {
    need_pull: Vec<usize>,
    results: Vec<Result<String, EngineError>>,
    started: Instant,
}

/// Where a host's new container comes from.
#[derive(Debug, Clone)]
enum Source {
    /// Create from the pulled image.
    Image,
    /// Restart this kept container (rollback without pull).
    Kept(Box<AppContainer>),
}

/// One host's part of the rollout.
#[derive(Debug, Clone)]
struct HostPlan {
    engine: Engine,
    address: String,
    current: Option<AppContainer>,
    kept: Vec<AppContainer>,
    source: Source,
    skip: bool,
}

/// `{project}-{env}`: the serving container's name on every host.
pub fn base_name(project: &str, env: &str) -> String {
    format!("{project}-{env}")
}

/// The name a container gets when it is kept: `{base}.{version}.{id12}`.
fn kept_name(base: &str, c: &AppContainer) -> String {
    let version: String = c
        .version
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '.' || ch == '-' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    format!("{base}.{version}.{}", &c.id[..c.id.len().min(12)])
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

impl Runner {
    fn emit(&self, e: RolloutEvent) {
        info!(event = %e.human(), "rollout");
        let _ = self.events.send(e);
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

    /// Connect to every host of the environment at once.
    async fn engines(&self, hosts: &[String]) -> Vec<(String, Result<Engine, EngineError>)> {
        join_all(hosts.iter().map(|name| async move {
            (name.clone(), Engine::connect_host(&self.config, name).await)
        }))
        .await
    }

    /// An environment with `require_promotion_from` takes only promoted
    /// releases: a deploy gets the digest that runs healthy in the environment
    /// before it (a resumed rollout's own pin must be that digest), and
    /// `rollback --to` only a version the environment ran, pinned to its digest.
    async fn promotion_gate(&self, mut req: Request) -> Result<Request, RolloutError> {
        match &mut req.kind {
            Kind::Deploy { version, digest } => {
                let gate = promote::gate(&self.config, &req.project, &req.env, version, &self.http);
                if let Some(pin) = gate.await? {
                    if let Some(d) = digest.as_ref().filter(|d| **d != pin) {
                        return Err(PromoteError::PinMismatch {
                            project: req.project.clone(),
                            env: req.env.clone(),
                            version: version.clone(),
                            resumed: d.clone(),
                            healthy: pin,
                        }
                        .into());
                    }
                    *digest = Some(pin);
                }
            }
            Kind::Rollback {
                to: Some(v),
                digest,
            } => {
                *digest =
                    promote::check_rollback_target(&self.config, &req.project, &req.env, v).await?;
            }
            Kind::Rollback { to: None, .. } => {}
        }
        Ok(req)
    }

    /// Run a deploy or rollback to the end. `Err` means nothing was changed.
    #[instrument(skip(self, req), fields(project = %req.project, env = %req.env))]
    pub async fn run(&self, req: Request) -> Result<Report, RolloutError> {
        let t0 = Instant::now();
        let project = plan::target(&self.config, &req.project, &req.env)?.clone();
        let req = self.promotion_gate(req).await?;
        let history = self.journal.releases().unwrap_or_default();
        let base = base_name(&req.project, &req.env);

        // Reach every host before deciding anything.
        let mut reachable = Vec::new();
        let mut unreachable = Vec::new();
        for (name, r) in self.engines(project.hosts_in(&req.env)).await {
            match r {
                Ok(e) => reachable.push(e),
                Err(e) => unreachable.push((name, e.short())),
            }
        }
        if !unreachable.is_empty() && project.rollout.on_pull_failure == PullFailure::Abort {
            return Err(RolloutError::Unreachable {
                project: req.project.clone(),
                env: req.env.clone(),
                hosts: unreachable,
            });
        }

        // What runs where now (the fleet is the truth).
        let mut hosts: Vec<HostPlan> = Vec::new();
        for eng in reachable {
            let all = match eng.app_containers(&req.project, &req.env).await {
                Ok(c) => c,
                Err(e) => {
                    if project.rollout.on_pull_failure == PullFailure::Abort {
                        return Err(RolloutError::Unreachable {
                            project: req.project.clone(),
                            env: req.env.clone(),
                            hosts: vec![(eng.host.clone(), e.short())],
                        });
                    }
                    unreachable.push((eng.host.clone(), e.short()));
                    continue;
                }
            };
            let current = current_container(&all, &base);
            let kept = all
                .iter()
                .filter(|c| Some(&c.id) != current.as_ref().map(|x| &x.id))
                .cloned()
                .collect();
            let address = self
                .config
                .host(&eng.host)
                .map(|h| h.probe_address())
                .unwrap_or_default();
            hosts.push(HostPlan {
                engine: eng,
                address,
                current,
                kept,
                source: Source::Image,
                skip: false,
            });
        }

        let (version, action) = match &req.kind {
            Kind::Deploy { version, .. } => (version.clone(), "deploy"),
            Kind::Rollback { to: Some(v), .. } => (v.clone(), "rollback"),
            Kind::Rollback { to: None, .. } => {
                let v = previous_version(&hosts, &history, &req).ok_or_else(|| {
                    RolloutError::NothingToRollBackTo {
                        project: req.project.clone(),
                        env: req.env.clone(),
                    }
                })?;
                (v, "rollback")
            }
        };
        let mut plan = make_plan(&self.config, &req.project, &req.env, &version, &history)?;
        let release = new_release_id();
        for (h, why) in &unreachable {
            self.emit(RolloutEvent::HostSkipped {
                host: h.clone(),
                reason: why.clone(),
            });
        }
        let left_out: Vec<String> = unreachable.iter().map(|(h, _)| h.clone()).collect();
        replan(&mut plan, &project, &left_out);

        let pinned = match &req.kind {
            Kind::Deploy { digest, .. } => digest.clone(),
            Kind::Rollback { digest, .. } => digest.clone(),
        };
        if let Some(d) = &pinned {
            plan.image = format!("{}@{d}", project.image);
        }
        // Per host: skip, restart a kept container, or create from the image.
        for h in &mut hosts {
            if let Some(c) = &h.current
                && c.version == version
                && c.state == ContainerState::Running
                && c.health != Health::Unhealthy
                && (pinned.is_none() || c.digest == pinned)
            {
                h.skip = true;
                continue;
            }
            if action == "rollback"
                && let Some(k) = newest(h.kept.iter().filter(|k| k.version == version))
            {
                h.source = Source::Kept(Box::new(k.clone()));
            }
        }

        self.emit(RolloutEvent::Planned {
            release: release.clone(),
            action: action.to_string(),
            plan: plan.clone(),
        });

        // Take the lock and pre-pull at the same time: a pull changes nothing
        // that serves, and it is most of a rollout's fixed cost.
        let image = match &pinned {
            Some(d) => format!("{}@{d}", project.image),
            None => format!("{}:{version}", project.image),
        };
        let acquire = FleetLock::acquire(
            &self.config,
            &req.project,
            &req.env,
            LockRequest {
                owner: req.user.clone(),
                release: release.clone(),
                message: req.message.clone(),
                ttl: req.lock_ttl,
                wait: req.lock_wait,
            },
        );
        let (lock, pulled) = tokio::join!(acquire, self.pre_pull(&hosts, &image, &project));
        let lock = lock?;
        self.emit(RolloutEvent::LockAcquired {
            host: lock.info().host.clone(),
            owner: lock.info().owner.clone(),
        });

        let from_versions = majority_versions(&hosts);
        self.record(
            &req,
            &release,
            RecordKind::Started {
                action: action.to_string(),
                version: version.clone(),
                digest: pinned.clone(),
                from_versions,
                hosts: plan.hosts.len(),
                batches: plan.batches.len(),
            },
        )?;

        let result = self
            .execute(
                &req, &project, &mut plan, &mut hosts, &lock, &version, &image, &release, pulled,
            )
            .await;
        let (outcome, message) = result;
        let secs_total = secs(t0);
        let journal = self.record(
            &req,
            &release,
            RecordKind::Finished {
                result: outcome,
                duration_secs: secs_total,
                message: message.clone(),
            },
        );
        if let Err(e) = lock.release().await {
            warn!(error = %e, "releasing the lock failed; it expires by itself");
        }
        self.emit(RolloutEvent::Finished {
            outcome,
            secs: secs_total,
            message: message.clone(),
        });
        journal?;
        Ok(Report {
            release,
            version,
            outcome,
            secs: secs_total,
            message,
        })
    }
}

/// When a container was deployed: its label, else its start time.
fn deployed_time(c: &AppContainer) -> Option<chrono::DateTime<Utc>> {
    c.deployed_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or(c.started_at)
}

fn newest<'a>(it: impl Iterator<Item = &'a AppContainer>) -> Option<&'a AppContainer> {
    it.max_by_key(|c| deployed_time(c))
}

/// The serving container: the one named `base`, else a running one.
fn current_container(all: &[AppContainer], base: &str) -> Option<AppContainer> {
    all.iter()
        .find(|c| c.name == base)
        .or_else(|| all.iter().find(|c| c.state == ContainerState::Running))
        .cloned()
}

/// Versions running now, most common first.
fn majority_versions(hosts: &[HostPlan]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for h in hosts {
        if let Some(c) = &h.current {
            *counts.entry(c.version.clone()).or_default() += 1;
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(k, _)| k).collect()
}

/// The release before the current one, from the fleet alone (an operator
/// with an empty journal gets the same answer): the newest-deployed running
/// version is "current"; the previous release is the newest-deployed
/// container, running or kept, of any other version. After an interrupted
/// rollout that is the version it was replacing.
fn previous_version(
    hosts: &[HostPlan],
    history: &[super::journal::ReleaseSummary],
    req: &Request,
) -> Option<String> {
    let all = || {
        hosts
            .iter()
            .flat_map(|h| h.current.iter().chain(h.kept.iter()))
    };
    let current =
        newest(all().filter(|c| c.state == ContainerState::Running)).map(|c| c.version.clone());
    if let Some(prev) = newest(all().filter(|c| Some(&c.version) != current.as_ref())) {
        return Some(prev.version.clone());
    }
    // No other version on the fleet (kept containers pruned): the journal may know.
    history
        .iter()
        .rev()
        .filter(|r| r.project == req.project && r.env == req.env && r.succeeded())
        .find_map(|r| r.from_versions.first().cloned())
        .filter(|v| Some(v) != current.as_ref())
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
