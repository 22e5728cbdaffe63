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

use super::events::{HostPhase, RolloutEvent, short_digest};
use super::journal::{Journal, JournalError, Outcome, Record, RecordKind};
use super::lock::{Control, FleetLock, LockError, LockRequest};
use super::plan::{self, Plan, PlanError, batches, make_plan};
use crate::config::{Config, FailureAction, Project, PullFailure};
use crate::domain::{AppContainer, ContainerState, Health, labels};
use crate::engine::{CreateSpec, Engine, EngineError, connect};
use crate::health::{self, Target};

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Roll `version` out.
    Deploy { version: String },
    /// Go back to `to`, or to the previous release.
    Rollback { to: Option<String> },
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
        let timeout = Duration::from_secs(self.config.settings.docker_timeout_secs.max(1));
        join_all(hosts.iter().map(|name| async move {
            let Some(h) = self.config.host(name) else {
                return (
                    name.clone(),
                    Err(EngineError::Client {
                        endpoint: name.clone(),
                        reason: "not in the inventory".into(),
                    }),
                );
            };
            let r = connect(&h.endpoint, timeout).await.map(|docker| Engine {
                host: name.clone(),
                endpoint: h.endpoint.to_string(),
                docker,
                timeout,
            });
            (name.clone(), r)
        }))
        .await
    }

    /// Run a deploy or rollback to the end. `Err` means nothing was changed.
    #[instrument(skip(self, req), fields(project = %req.project, env = %req.env))]
    pub async fn run(&self, req: Request) -> Result<Report, RolloutError> {
        let t0 = Instant::now();
        let project = plan::target(&self.config, &req.project, &req.env)?.clone();
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
            Kind::Deploy { version } => (version.clone(), "deploy"),
            Kind::Rollback { to: Some(v) } => (v.clone(), "rollback"),
            Kind::Rollback { to: None } => {
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

        // Per host: skip, restart a kept container, or create from the image.
        for h in &mut hosts {
            if let Some(c) = &h.current
                && c.version == version
                && c.state == ContainerState::Running
                && c.health != Health::Unhealthy
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
        let image = format!("{}:{version}", project.image);
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
                digest: None,
                from_versions,
                hosts: plan.hosts.len(),
                batches: plan.batches.len(),
            },
        )?;

        let result = self
            .execute(
                &req, &project, &mut plan, &mut hosts, &lock, &version, &release, pulled,
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

    /// Pull, batches, failure handling. Returns the outcome and a message.
    #[allow(clippy::too_many_arguments)]
    async fn execute(
        &self,
        req: &Request,
        project: &Project,
        plan: &mut Plan,
        hosts: &mut Vec<HostPlan>,
        lock: &FleetLock,
        version: &str,
        release: &str,
        pulled: Pulled,
    ) -> (Outcome, String) {
        let image = format!("{}:{version}", project.image);

        // 1. The pre-pull ran beside the lock acquisition; judge it now.
        let Pulled {
            need_pull,
            results: pulls,
            started: tp,
        } = pulled;
        let mut digest: Option<String> = None;
        if !need_pull.is_empty() {
            let mut failed = Vec::new();
            let mut digests: HashMap<String, Vec<String>> = HashMap::new();
            for (i, r) in need_pull.iter().zip(pulls) {
                match r {
                    Ok(d) => digests
                        .entry(d)
                        .or_default()
                        .push(hosts[*i].engine.host.clone()),
                    Err(e) => failed.push((hosts[*i].engine.host.clone(), e.short())),
                }
            }
            if digests.len() > 1 {
                let detail: Vec<String> = digests
                    .iter()
                    .map(|(d, hs)| format!("{} on {}", short_digest(d), hs.join(",")))
                    .collect();
                return (
                    Outcome::Refused,
                    format!(
                        "hosts resolved {image} to different digests ({}); nothing was restarted. Push the tag once and retry",
                        detail.join("; ")
                    ),
                );
            }
            if !failed.is_empty() {
                let list = failed
                    .iter()
                    .map(|(h, e)| format!("{h}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                if project.rollout.on_pull_failure == PullFailure::Abort {
                    return (
                        Outcome::Refused,
                        format!(
                            "pull of {image} failed on {} host(s), nothing was restarted: {list}",
                            failed.len()
                        ),
                    );
                }
                let names: Vec<String> = failed.iter().map(|(h, _)| h.clone()).collect();
                for (h, e) in &failed {
                    self.emit(RolloutEvent::HostSkipped {
                        host: h.clone(),
                        reason: format!("pull failed: {e}"),
                    });
                }
                hosts.retain(|h| !names.contains(&h.engine.host));
                replan(plan, project, &names);
            }
            digest = digests.into_keys().next();
            if let Some(d) = &digest {
                let rec = RecordKind::Pulled { digest: d.clone() };
                if let Err(e) = self.record(req, release, rec) {
                    warn!(error = %e, "journal: the digest was not recorded");
                }
                self.emit(RolloutEvent::PullsDone {
                    digest: d.clone(),
                    secs: secs(tp),
                });
            }
        }
        if plan.hosts.is_empty() {
            return (Outcome::Refused, "no host left to roll out to".into());
        }

        // 2. Replace hosts through a window of `max_unavailable` slots: the
        // next host starts the moment one in flight is done, instead of every
        // batch waiting for its slowest host. Never more than `k` hosts are out
        // of service. The plan's batches keep their meaning: batch i starts
        // when its first host is launched and is done when its last host is;
        // a failure stops all launching, so with a bad version only the first
        // `k` hosts are ever touched.
        let n = plan.hosts.len();
        let k = plan.max_unavailable.max(1);
        let total = plan.batches.len();
        let by_name: HashMap<String, usize> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.engine.host.clone(), i))
            .collect();
        let batch_of: HashMap<String, usize> = plan
            .batches
            .iter()
            .enumerate()
            .flat_map(|(bi, b)| b.iter().map(move |h| (h.clone(), bi)))
            .collect();
        let mut left_in_batch: Vec<usize> = plan.batches.iter().map(Vec::len).collect();
        let mut batch_t0: Vec<Option<Instant>> = vec![None; total];
        let mut queue: std::collections::VecDeque<String> = plan.batches.concat().into();
        let mut control = lock.control();
        let mut lost = lock.lost();
        let mut done: Vec<Swap> = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        let mut stop: Option<Stop> = None;
        let canary = plan.canary && total > 1;
        let mut canary_done = !canary;
        let labels = self.labels(req, version, digest.as_deref(), release);
        let spec = match self.create_spec(req, project, &image, labels) {
            Ok(s) => s,
            Err(m) => return (Outcome::Refused, m),
        };
        let base = base_name(&req.project, &req.env);
        let mut inflight = futures::stream::FuturesUnordered::new();
        loop {
            // Launch while a slot is free and nothing says stop.
            while stop.is_none() && inflight.len() < k {
                let Some(name) = queue.front().cloned() else {
                    break;
                };
                let bi = batch_of.get(&name).copied().unwrap_or(0);
                if !canary_done && bi > 0 {
                    break;
                }
                if *lost.borrow() {
                    stop = Some(Stop::LockLost);
                    break;
                }
                if self.cancel.is_cancelled() {
                    stop = Some(Stop::Cancelled);
                    break;
                }
                match *control.borrow() {
                    Control::Abort => {
                        stop = Some(Stop::Aborted);
                        break;
                    }
                    Control::Pause => break,
                    Control::Run => {}
                }
                queue.pop_front();
                if batch_t0[bi].is_none() {
                    batch_t0[bi] = Some(Instant::now());
                    self.emit(RolloutEvent::BatchStarted {
                        index: bi + 1,
                        total,
                        hosts: plan.batches[bi].clone(),
                    });
                }
                let Some(i) = by_name.get(&name) else {
                    continue;
                };
                let h = hosts[*i].clone();
                let spec = spec.clone();
                let base = base.clone();
                inflight.push(async move {
                    let r = self.replace_host(h, &base, spec, project).await;
                    (name, bi, r)
                });
            }
            let Some((_name, bi, r)) = futures::StreamExt::next(&mut inflight).await else {
                // Nothing in flight.
                if stop.is_some() || queue.is_empty() {
                    break;
                }
                // Paused by an operator: wait for resume or abort.
                if self.wait_while_paused(&mut control, &mut lost, None).await == Control::Abort {
                    stop = Some(Stop::Aborted);
                }
                continue;
            };
            match r {
                Ok(Some(swap)) => done.push(swap),
                Ok(None) => {}
                Err(host) => failed.push(host),
            }
            left_in_batch[bi] = left_in_batch[bi].saturating_sub(1);
            if left_in_batch[bi] == 0 {
                self.emit(RolloutEvent::BatchDone {
                    index: bi + 1,
                    total,
                    secs: batch_t0[bi].map(secs).unwrap_or(0.0),
                });
            }
            if !failed.is_empty()
                && stop.is_none()
                && failed.len() as f64 / n as f64 > project.rollout.max_failure_ratio
            {
                stop = Some(Stop::Failed);
            }
            // Canary: the first batch waits for an operator (or a timer).
            if !canary_done && bi == 0 && left_in_batch[0] == 0 && stop.is_none() {
                canary_done = true;
                if self
                    .canary_wait(req, project, &plan.batches[0], &mut control, &mut lost)
                    .await
                    == Control::Abort
                {
                    stop = Some(Stop::Aborted);
                }
            }
        }
        match stop {
            Some(Stop::LockLost) => {
                return (
                    Outcome::Failed,
                    "the lock was broken by someone else; stopped launching hosts".into(),
                );
            }
            Some(Stop::Cancelled) => {
                return self
                    .undo(done, project, "interrupted (Ctrl-C)", Outcome::Aborted)
                    .await;
            }
            Some(Stop::Aborted) => {
                return self
                    .undo(done, project, "aborted by an operator", Outcome::Aborted)
                    .await;
            }
            Some(Stop::Failed) => {
                let why = format!(
                    "{} host(s) failed health ({}); no further host launched, failed hosts restored",
                    failed.len(),
                    failed.join(", ")
                );
                return match project.rollout.failure_action {
                    FailureAction::Pause => (Outcome::Failed, why),
                    FailureAction::Rollback => {
                        self.undo(done, project, &why, Outcome::RolledBack).await
                    }
                };
            }
            None => {}
        }
        let failures = failed.len();

        // 3. Keep the last K releases per host, prune older ones.
        let keep = project.rollout.keep_releases as usize;
        let base = base_name(&req.project, &req.env);
        join_all(
            hosts
                .iter()
                .map(|h| self.prune(h, &req.project, &req.env, &base, keep)),
        )
        .await;

        let left_out: Vec<&str> = project
            .hosts_in(&req.env)
            .iter()
            .filter(|h| !plan.hosts.contains(h))
            .map(String::as_str)
            .collect();
        if failures > 0 {
            (
                Outcome::Failed,
                format!(
                    "{failures} host(s) failed health and were restored (within max_failure_ratio)"
                ),
            )
        } else if !left_out.is_empty() {
            // The target does not run everywhere: an honest exit code says so.
            (
                Outcome::Failed,
                format!(
                    "{version} runs on every host rolled out to, but {} host(s) were left out: {}",
                    left_out.len(),
                    left_out.join(", ")
                ),
            )
        } else {
            (Outcome::Succeeded, String::new())
        }
    }

    /// Pull the image on every host that will create a container from it,
    /// all at once (bounded by `pull_concurrency`). Harmless without the lock,
    /// so it runs while the lock is being taken.
    async fn pre_pull(&self, hosts: &[HostPlan], image: &str, project: &Project) -> Pulled {
        let need_pull: Vec<usize> = hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.skip && matches!(h.source, Source::Image))
            .map(|(i, _)| i)
            .collect();
        let started = Instant::now();
        if need_pull.is_empty() {
            return Pulled {
                need_pull,
                results: Vec::new(),
                started,
            };
        }
        self.emit(RolloutEvent::PullStarted {
            image: image.to_string(),
            hosts: need_pull
                .iter()
                .map(|i| hosts[*i].engine.host.clone())
                .collect(),
        });
        let sem = Arc::new(Semaphore::new(
            project.rollout.pull_concurrency.max(1) as usize
        ));
        let results = join_all(need_pull.iter().map(|i| {
            let eng = hosts[*i].engine.clone();
            let sem = sem.clone();
            async move {
                let _permit = sem.acquire().await;
                let t = Instant::now();
                let r = eng.pull(image, self.pull_timeout).await;
                match &r {
                    Ok(d) => self.emit(RolloutEvent::HostPulled {
                        host: eng.host.clone(),
                        digest: d.clone(),
                        secs: secs(t),
                    }),
                    Err(e) => self.emit(RolloutEvent::HostPullFailed {
                        host: eng.host.clone(),
                        error: e.short(),
                    }),
                }
                r
            }
        }))
        .await;
        Pulled {
            need_pull,
            results,
            started,
        }
    }

    /// After the canary batch: pause the rollout (visible to every operator
    /// through the lock) until `resume`, `abort`, or the canary timer.
    async fn canary_wait(
        &self,
        req: &Request,
        project: &Project,
        batch: &[String],
        control: &mut tokio::sync::watch::Receiver<Control>,
        lost: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Control {
        let _ =
            super::lock::send_control(&self.config, &req.project, &req.env, Control::Pause).await;
        self.emit(RolloutEvent::Paused {
            reason: format!(
                "canary on {} is healthy; `shipdeck control {} {} resume` to go on",
                batch.join(","),
                req.project,
                req.env
            ),
        });
        let timer = project.rollout.canary_wait_secs.map(Duration::from_secs);
        // The heartbeat reads our own `pause` back within a beat.
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            control.wait_for(|c| *c != Control::Run),
        )
        .await;
        let c = self.wait_while_paused(control, lost, timer).await;
        if c == Control::Run && *control.borrow() == Control::Pause {
            // The timer ended the wait: lift our own pause for everyone.
            let _ =
                super::lock::send_control(&self.config, &req.project, &req.env, Control::Run).await;
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                control.wait_for(|c| *c != Control::Pause),
            )
            .await;
        }
        if c != Control::Abort {
            self.emit(RolloutEvent::Resumed);
        }
        c
    }

    /// Block while the control file says `pause`; returns what ended the wait.
    /// With `timer`, a pause ends by itself (canary wait).
    async fn wait_while_paused(
        &self,
        control: &mut tokio::sync::watch::Receiver<Control>,
        lost: &mut tokio::sync::watch::Receiver<bool>,
        timer: Option<Duration>,
    ) -> Control {
        let current = *control.borrow();
        if current != Control::Pause {
            return current;
        }
        if timer.is_none() {
            self.emit(RolloutEvent::Paused {
                reason: "paused by an operator".into(),
            });
        }
        let until = timer.map(|t| Instant::now() + t);
        loop {
            let c = *control.borrow_and_update();
            if c != Control::Pause {
                if timer.is_none() {
                    self.emit(RolloutEvent::Resumed);
                }
                return c;
            }
            let sleep = async {
                match until {
                    Some(u) => tokio::time::sleep_until(u).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = control.changed() => if r.is_err() { return Control::Abort },
                _ = lost.changed() => if *lost.borrow() { return Control::Abort },
                _ = self.cancel.cancelled() => return Control::Abort,
                _ = sleep => return Control::Run,
            }
        }
    }

    fn labels(
        &self,
        req: &Request,
        version: &str,
        digest: Option<&str>,
        release: &str,
    ) -> HashMap<String, String> {
        let mut m = HashMap::from([
            (labels::RELEASE.to_string(), release.to_string()),
            (labels::PROJECT.to_string(), req.project.clone()),
            (labels::ENV.to_string(), req.env.clone()),
            (labels::VERSION.to_string(), version.to_string()),
            (labels::DEPLOYED_BY.to_string(), req.user.clone()),
            (labels::DEPLOYED_AT.to_string(), Utc::now().to_rfc3339()),
        ]);
        if let Some(d) = digest {
            m.insert(labels::DIGEST.to_string(), d.to_string());
        }
        m
    }

    fn create_spec(
        &self,
        req: &Request,
        project: &Project,
        image: &str,
        labels: HashMap<String, String>,
    ) -> Result<CreateSpec, String> {
        let env_vars = self
            .config
            .environment(&req.env)
            .map(|e| e.env.clone())
            .unwrap_or_default();
        let mut secrets = Vec::new();
        for (k, r) in &project.container.secret_env {
            match r.resolve() {
                Ok(s) => secrets.push((k.clone(), s.expose().to_string())),
                Err(e) => return Err(format!("secret for {k}: {e}")),
            }
        }
        Ok(CreateSpec::for_project(
            project,
            &req.env,
            &env_vars,
            &secrets,
            image.to_string(),
            labels,
        ))
    }

    /// Replace one host's container. `Ok(None)`: skipped (already there);
    /// `Ok(Some)`: replaced and healthy; `Err(host)`: failed (and restored).
    async fn replace_host(
        &self,
        h: HostPlan,
        base: &str,
        spec: CreateSpec,
        project: &Project,
    ) -> Result<Option<Swap>, String> {
        let host = h.engine.host.clone();
        let t0 = Instant::now();
        if h.skip {
            let v = h
                .current
                .as_ref()
                .map(|c| c.version.clone())
                .unwrap_or_default();
            self.host_event(
                &host,
                HostPhase::Skipped,
                t0,
                Some(format!("already runs {v}")),
            );
            return Ok(None);
        }
        let eng = &h.engine;
        let fail = |detail: String| {
            self.host_event(&host, HostPhase::Failed, t0, Some(detail));
        };

        // Stop the serving container and keep it under another name.
        let mut old = None;
        if let Some(cur) = &h.current {
            self.host_event(
                &host,
                HostPhase::Stopping,
                t0,
                Some(format!(
                    "{} ({})",
                    cur.version,
                    &cur.id[..12.min(cur.id.len())]
                )),
            );
            if let Err(e) = eng.stop(&cur.id, self.stop_grace).await {
                fail(e.short());
                // Nothing changed yet but the stop attempt: make sure it runs.
                let _ = eng.start(&cur.id).await;
                return Err(host);
            }
            if let Err(e) = eng.rename(&cur.id, &kept_name(base, cur)).await {
                fail(e.short());
                let _ = eng.start(&cur.id).await;
                return Err(host);
            }
            old = Some(cur.clone());
        }

        // Bring up the new one.
        self.host_event(&host, HostPhase::Starting, t0, None);
        let created = match &h.source {
            Source::Image => eng.create(base, &spec).await,
            Source::Kept(k) => eng.rename(&k.id, base).await.map(|()| k.id.clone()),
        };
        let new_id = match created {
            Ok(id) => id,
            Err(e) => {
                fail(e.short());
                self.restore(&h, base, None, old.as_ref(), project, t0)
                    .await;
                return Err(host);
            }
        };
        if let Err(e) = eng.start(&new_id).await {
            fail(e.short());
            self.restore(&h, base, Some(&new_id), old.as_ref(), project, t0)
                .await;
            return Err(host);
        }

        self.host_event(&host, HostPhase::WaitingHealth, t0, None);
        let target = Target {
            engine: eng.clone(),
            container_id: new_id.clone(),
            address: h.address.clone(),
            spec: project.health.clone(),
        };
        match health::wait_healthy(&target, &self.http, &CancellationToken::new()).await {
            Ok(_) => {
                self.host_event(&host, HostPhase::Healthy, t0, None);
                Ok(Some(Swap { host, new_id, old }))
            }
            Err(f) => {
                fail(f.to_string());
                self.restore(&h, base, Some(&new_id), old.as_ref(), project, t0)
                    .await;
                Err(host)
            }
        }
    }

    /// Put `old` back in service after `new_id` failed. The failed container is
    /// removed when it was created for this rollout, kept when it was a kept one.
    async fn restore(
        &self,
        h: &HostPlan,
        base: &str,
        new_id: Option<&str>,
        old: Option<&AppContainer>,
        project: &Project,
        t0: Instant,
    ) {
        let eng = &h.engine;
        let host = &eng.host;
        self.host_event(host, HostPhase::Restoring, t0, None);
        if let Some(id) = new_id {
            match &h.source {
                Source::Image => {
                    let _ = eng.remove(id).await;
                }
                Source::Kept(k) => {
                    let _ = eng.stop(id, Duration::from_secs(2)).await;
                    let _ = eng.rename(id, &kept_name(base, k)).await;
                }
            }
        }
        let Some(old) = old else {
            self.host_event(
                host,
                HostPhase::Restored,
                t0,
                Some("no previous container; host left empty".into()),
            );
            return;
        };
        let r: Result<(), EngineError> = async {
            eng.rename(&old.id, base).await?;
            eng.start(&old.id).await
        }
        .await;
        if let Err(e) = r {
            self.host_event(host, HostPhase::RestoreFailed, t0, Some(e.short()));
            return;
        }
        let target = Target {
            engine: eng.clone(),
            container_id: old.id.clone(),
            address: h.address.clone(),
            spec: project.health.clone(),
        };
        match health::wait_healthy(&target, &self.http, &CancellationToken::new()).await {
            Ok(_) => self.host_event(
                host,
                HostPhase::Restored,
                t0,
                Some(format!("back on {}", old.version)),
            ),
            Err(f) => self.host_event(host, HostPhase::RestoreFailed, t0, Some(f.to_string())),
        }
    }

    /// Undo completed swaps batch by batch (same batch size, same health gates).
    async fn undo(
        &self,
        done: Vec<Swap>,
        project: &Project,
        why: &str,
        outcome: Outcome,
    ) -> (Outcome, String) {
        if done.is_empty() {
            // Nothing completed to undo: the failed hosts were already restored.
            let outcome = if outcome == Outcome::RolledBack {
                Outcome::Failed
            } else {
                outcome
            };
            return (outcome, why.to_string());
        }
        self.emit(RolloutEvent::RollingBack {
            hosts: done.iter().map(|s| s.host.clone()).collect(),
            reason: why.to_string(),
        });
        let size = plan::max_unavailable(
            project.rollout.max_unavailable,
            project.hosts.values().map(Vec::len).max().unwrap_or(1),
        );
        let names: Vec<String> = done.iter().map(|s| s.host.clone()).collect();
        let mut bad = Vec::new();
        for group in batches(&names, size, false) {
            let swaps: Vec<&Swap> = done.iter().filter(|s| group.contains(&s.host)).collect();
            let results = join_all(swaps.into_iter().map(|s| self.undo_one(s, project))).await;
            bad.extend(results.into_iter().flatten());
        }
        if bad.is_empty() {
            (
                outcome,
                format!("{why}; {} host(s) rolled back", names.len()),
            )
        } else {
            (
                Outcome::Failed,
                format!(
                    "{why}; rollback FAILED on {}: needs an operator",
                    bad.join(", ")
                ),
            )
        }
    }

    /// Swap one host back: keep the new container, restart the old one.
    async fn undo_one(&self, s: &Swap, project: &Project) -> Option<String> {
        let t0 = Instant::now();
        let Some(old) = &s.old else { return None };
        let Some(h) = self.config.host(&s.host) else {
            return Some(s.host.clone());
        };
        let timeout = Duration::from_secs(self.config.settings.docker_timeout_secs.max(1));
        let eng = match connect(&h.endpoint, timeout).await {
            Ok(docker) => Engine {
                host: s.host.clone(),
                endpoint: h.endpoint.to_string(),
                docker,
                timeout,
            },
            Err(e) => {
                self.host_event(&s.host, HostPhase::RestoreFailed, t0, Some(e.short()));
                return Some(s.host.clone());
            }
        };
        let base = old.name.split('.').next().unwrap_or(&old.name).to_string();
        self.host_event(&s.host, HostPhase::Restoring, t0, None);
        let r: Result<(), EngineError> = async {
            let new = eng.inspect(&s.new_id).await?;
            eng.stop(&s.new_id, self.stop_grace).await?;
            if let Some(new) = new {
                eng.rename(&s.new_id, &kept_name(&base, &new)).await?;
            }
            eng.rename(&old.id, &base).await?;
            eng.start(&old.id).await
        }
        .await;
        if let Err(e) = r {
            self.host_event(&s.host, HostPhase::RestoreFailed, t0, Some(e.short()));
            return Some(s.host.clone());
        }
        let target = Target {
            engine: eng,
            container_id: old.id.clone(),
            address: h.probe_address(),
            spec: project.health.clone(),
        };
        match health::wait_healthy(&target, &self.http, &CancellationToken::new()).await {
            Ok(_) => {
                self.host_event(
                    &s.host,
                    HostPhase::Restored,
                    t0,
                    Some(format!("back on {}", old.version)),
                );
                None
            }
            Err(f) => {
                self.host_event(&s.host, HostPhase::RestoreFailed, t0, Some(f.to_string()));
                Some(s.host.clone())
            }
        }
    }

    /// Remove kept containers beyond the newest `keep` on one host.
    async fn prune(&self, h: &HostPlan, project: &str, env: &str, base: &str, keep: usize) {
        let Ok(all) = h.engine.app_containers(project, env).await else {
            return;
        };
        let mut kept: Vec<&AppContainer> = all
            .iter()
            .filter(|c| c.name != base && c.state != ContainerState::Running)
            .collect();
        kept.sort_by_key(|c| std::cmp::Reverse(deployed_time(c)));
        let mut removed = 0;
        for c in kept.iter().skip(keep) {
            if h.engine.remove(&c.id).await.is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            self.emit(RolloutEvent::Pruned {
                host: h.engine.host.clone(),
                removed,
            });
        }
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
