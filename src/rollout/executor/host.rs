//! One host's part of a rollout: keep the serving container (stopped,
//! renamed, restart policy `no`), bring the new one up and wait for its
//! health, and on failure put back what served before — saying exactly what
//! happened, host by host.

use super::*;

/// What replaced what on one host (to undo it).
#[derive(Debug, Clone)]
pub(super) struct Swap {
    pub(super) host: String,
    pub(super) engine: Engine,
    pub(super) address: String,
    /// The container that serves now (new, or a kept one restarted).
    pub(super) new: AppContainer,
    /// What served before (kept, stopped), to go back to.
    pub(super) old: Option<AppContainer>,
    /// `new` is a kept container restarted (a rollback): undoing it keeps
    /// it as the good release it is, instead of retiring it.
    pub(super) new_was_kept: bool,
}

/// The step that failed on a host.
#[derive(Debug, Clone)]
pub(super) enum Step {
    Stop(String),
    Keep(String),
    Create(String),
    Start(String),
    Health(String),
    /// An abort stopped its health wait.
    Aborted,
    /// The lock went between stopping the old container and starting the
    /// new one: nothing more was done.
    Orphaned,
    /// Its `pre_host` hook failed: the host was not touched.
    Hook(String),
}

impl Step {
    fn words(&self) -> String {
        match self {
            Step::Stop(e) => format!("stopping the serving container failed ({e})"),
            Step::Keep(e) => format!("keeping the old container failed ({e})"),
            Step::Create(e) => format!("creating the new container failed ({e})"),
            Step::Start(e) => format!("starting the new container failed ({e})"),
            Step::Health(e) => format!("failed health ({e})"),
            Step::Aborted => "was stopped mid-way by the abort".to_string(),
            Step::Orphaned => {
                "was left before its new container started (any old one stopped and kept)"
                    .to_string()
            }
            Step::Hook(why) => format!("was not replaced: {why}"),
        }
    }
}

/// How the way back went after a failure.
#[derive(Debug, Clone)]
pub(super) enum Restore {
    /// Back on this version, healthy.
    Restored(String),
    /// Could not be put back: why.
    Failed(String),
    /// The lock was lost, so nothing was put back.
    LockLost,
    /// Nothing was done to it (its `pre_host` hook failed): it runs what
    /// it ran, this version if any.
    Untouched(Option<String>),
}

/// A host that failed, and what it runs now.
#[derive(Debug, Clone)]
pub(super) struct HostFailure {
    pub(super) host: String,
    pub(super) step: Step,
    pub(super) restore: Restore,
}

impl HostFailure {
    /// E.g. "h03 failed health (…) and was restored to v1".
    pub(super) fn sentence(&self) -> String {
        let after = match &self.restore {
            Restore::Restored(v) => format!(" and was restored to {v}"),
            Restore::Failed(why) => format!(" and could NOT be restored ({why})"),
            Restore::LockLost => " and was not restored: the lock was lost".to_string(),
            Restore::Untouched(Some(v)) => format!(" and was left as it was, on {v}"),
            Restore::Untouched(None) => " and was left as it was".to_string(),
        };
        format!("{} {}{after}", self.host, self.step.words())
    }

    /// The note for `needs_operator`, when the host is left without a
    /// healthy serving container.
    pub(super) fn needs_operator(&self) -> Option<String> {
        match &self.restore {
            Restore::Failed(why) => Some(format!(
                "{}: {}; restore failed: {why}",
                self.host,
                self.step.words()
            )),
            Restore::LockLost => Some(format!(
                "{}: {}; not restored because the lock was lost",
                self.host,
                self.step.words()
            )),
            _ => None,
        }
    }

    /// Whether the host is down now.
    pub(super) fn left_down(&self) -> bool {
        matches!(self.restore, Restore::Failed(_) | Restore::LockLost)
    }
}

/// Prunes of hosts' old releases, started while a host's new container
/// gets ready (off the rollout's way) and awaited before the lock goes.
pub(super) struct Pruner {
    pub(super) project: String,
    pub(super) env: String,
    pub(super) keep: usize,
    pub(super) bad: HashSet<String>,
    pub(super) started: std::sync::Mutex<tokio::task::JoinSet<()>>,
}

impl Pruner {
    /// Prune `eng`'s host in the background, never removing `spare`.
    fn start(&self, runner: &Runner, eng: &Engine, spare: [Option<&str>; 2]) {
        let runner = runner.clone();
        let eng = eng.clone();
        let (p, e, keep, bad) = (
            self.project.clone(),
            self.env.clone(),
            self.keep,
            self.bad.clone(),
        );
        let spare: Vec<String> = spare.into_iter().flatten().map(str::to_string).collect();
        let Ok(mut started) = self.started.lock() else {
            return;
        };
        started.spawn(async move {
            runner.prune(&eng, &p, &e, keep, &bad, &spare).await;
        });
    }

    /// The prunes still to await.
    pub(super) fn take(&self) -> tokio::task::JoinSet<()> {
        match self.started.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }
}

/// Which step of keeping a container failed.
#[derive(Debug)]
pub(super) struct KeepFail {
    /// The stop itself failed (else the policy update or the rename).
    pub(super) stopping: bool,
    pub(super) error: EngineError,
}

impl KeepFail {
    pub(super) fn short(&self) -> String {
        self.error.short()
    }
}

/// The outcome of one host's turn.
pub(super) enum HostResult {
    Skipped,
    Replaced(Box<Swap>),
    Failed(HostFailure),
}

impl Runner {
    pub(super) fn labels(
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

    /// The container spec; an unreadable secret refuses the rollout.
    pub(super) fn create_spec(
        &self,
        req: &Request,
        project: &Project,
        version: &str,
        digest: Option<&str>,
        release: &str,
    ) -> Result<CreateSpec, RolloutError> {
        let labels = self.labels(req, version, digest, release);
        self.spec_with(req, project, format!("{}:{version}", project.image), labels)
            .map_err(|what| RolloutError::Input {
                project: req.project.clone(),
                env: req.env.clone(),
                what,
            })
    }

    pub(super) fn spec_with(
        &self,
        req: &Request,
        project: &Project,
        image: String,
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
            project, &req.env, &env_vars, &secrets, image, labels,
        ))
    }

    /// Replace one host's container.
    pub(super) async fn replace_host(
        &self,
        h: HostPlan,
        spec: CreateSpec,
        project: &Project,
        lock: &FleetLock,
        cancel: CancellationToken,
        pruner: &Pruner,
    ) -> HostResult {
        let host = h.engine.host.clone();
        let t0 = Instant::now();
        if h.skip {
            let v = h
                .serving
                .as_ref()
                .map(|c| c.version.clone())
                .unwrap_or_default();
            self.host_event(
                &host,
                HostPhase::Skipped,
                t0,
                Some(format!("already runs {v}, healthy now")),
            );
            return HostResult::Skipped;
        }
        let eng = &h.engine;
        let (p, e) = (
            spec.labels
                .get(labels::PROJECT)
                .cloned()
                .unwrap_or_default(),
            spec.labels.get(labels::ENV).cloned().unwrap_or_default(),
        );
        let base = naming::serving(&p, &e);
        let failure = |step: Step, restore: Restore| {
            let f = HostFailure {
                host: host.clone(),
                step,
                restore,
            };
            HostResult::Failed(f)
        };

        // Stop the serving container and keep it (or retire it).
        let mut old_serving = None;
        if let Some(cur) = &h.serving {
            self.host_event(
                &host,
                HostPhase::Stopping,
                t0,
                Some(format!("{} ({})", cur.version, naming::id12(&cur.id))),
            );
            let name = if h.retire_serving {
                naming::retired(&p, &e, &cur.version, &cur.id)
            } else {
                naming::kept(&p, &e, &cur.version, &cur.id)
            };
            if let Err(fail) = self.keep(eng, cur, &name).await {
                self.host_event(&host, HostPhase::Failed, t0, Some(fail.error.short()));
                // Make sure it serves again, and say whether it does.
                let restore = self.bring_back(&h, cur, &base, project, t0).await;
                let step = if fail.stopping {
                    Step::Stop(fail.error.short())
                } else {
                    Step::Keep(fail.error.short())
                };
                return failure(step, restore);
            }
            old_serving = Some(cur.clone());
        }
        // The stop took a while: a holder that lost the lock in the
        // meantime starts nothing (the next holder reads the host afresh).
        if !lock.still_mine() {
            self.host_event(
                &host,
                HostPhase::Failed,
                t0,
                Some("the lock was lost: the new container was not started".into()),
            );
            return failure(Step::Orphaned, Restore::LockLost);
        }

        // Bring up the new one.
        self.host_event(&host, HostPhase::Starting, t0, None);
        let (created, step_of): (Result<AppContainer, EngineError>, fn(String) -> Step) =
            match &h.source {
                Source::Image => (
                    match eng.create(&base, &spec).await {
                        Ok(id) => match eng.inspect(&id).await {
                            Ok(Some(c)) => Ok(c),
                            Ok(None) => Err(EngineError::api(
                                &eng.endpoint,
                                "create container",
                                "the new container vanished right after create",
                            )),
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    },
                    Step::Create,
                ),
                Source::Kept(k) => (
                    eng.rename(&k.id, &base).await.map(|()| (**k).clone()),
                    Step::Keep,
                ),
            };
        let new = match created {
            Ok(c) => c,
            Err(err) => {
                self.host_event(&host, HostPhase::Failed, t0, Some(err.short()));
                let restore = self
                    .restore(&h, &base, None, old_serving.as_ref(), project, lock, t0)
                    .await;
                return failure(step_of(err.short()), restore);
            }
        };
        let started = async {
            if let Source::Kept(k) = &h.source {
                let want = k
                    .restart_original
                    .clone()
                    .unwrap_or_else(|| project.container.restart.clone());
                eng.set_restart(&new.id, &want).await?;
            }
            eng.start(&new.id).await
        };
        if let Err(err) = started.await {
            self.host_event(&host, HostPhase::Failed, t0, Some(err.short()));
            let restore = self
                .restore(
                    &h,
                    &base,
                    Some(&new),
                    old_serving.as_ref(),
                    project,
                    lock,
                    t0,
                )
                .await;
            return failure(Step::Start(err.short()), restore);
        }

        self.host_event(&host, HostPhase::WaitingHealth, t0, None);
        // While the new one gets ready: prune this host's old releases
        // (never the new container, never the way back).
        let way_back = h.restore_to.as_ref().or(old_serving.as_ref());
        pruner.start(
            self,
            eng,
            [Some(new.id.as_str()), way_back.map(|c| c.id.as_str())],
        );
        let target = Target {
            engine: eng.clone(),
            container_id: new.id.clone(),
            address: h.address.clone(),
            spec: project.health.clone(),
        };
        match health::wait_healthy(&target, &self.http, &cancel).await {
            Ok(_) => {
                self.host_event(&host, HostPhase::Healthy, t0, None);
                HostResult::Replaced(Box::new(Swap {
                    host,
                    engine: eng.clone(),
                    address: h.address.clone(),
                    new,
                    old: h.restore_to.clone().or(old_serving),
                    new_was_kept: matches!(h.source, Source::Kept(_)),
                }))
            }
            Err(f) => {
                self.host_event(&host, HostPhase::Failed, t0, Some(f.to_string()));
                if !matches!(f, health::HealthFailure::Cancelled) {
                    self.host_log(eng, &new.id).await;
                }
                let restore = self
                    .restore(
                        &h,
                        &base,
                        Some(&new),
                        old_serving.as_ref(),
                        project,
                        lock,
                        t0,
                    )
                    .await;
                let step = match f {
                    health::HealthFailure::Cancelled => Step::Aborted,
                    f => Step::Health(f.to_string()),
                };
                failure(step, restore)
            }
        }
    }

    /// Take a container out of service: restart policy `no` (a daemon
    /// restart must not bring it back), stopped, renamed. The policy goes
    /// first, so no moment exists where a stopped container would come back;
    /// a container the engine is restarting cannot be updated, so then it is
    /// stopped first.
    pub(super) async fn keep(
        &self,
        eng: &Engine,
        c: &AppContainer,
        name: &str,
    ) -> Result<(), KeepFail> {
        let other = |error| KeepFail {
            stopping: false,
            error,
        };
        let stopped = |r: Result<(), EngineError>| {
            r.map_err(|error| KeepFail {
                stopping: true,
                error,
            })
        };
        if eng.set_restart(&c.id, "no").await.is_err() {
            stopped(eng.stop(&c.id, self.stop_grace).await)?;
            eng.set_restart(&c.id, "no").await.map_err(other)?;
        }
        stopped(eng.stop(&c.id, self.stop_grace).await)?;
        eng.rename(&c.id, name).await.map_err(other)
    }

    /// Put `c` back in service after a failed step and wait for its health.
    pub(super) async fn bring_back(
        &self,
        h: &HostPlan,
        c: &AppContainer,
        base: &str,
        project: &Project,
        t0: Instant,
    ) -> Restore {
        self.host_event(&h.engine.host, HostPhase::Restoring, t0, None);
        self.back_on(h, c, base, project, t0).await
    }

    /// `c` serves again and is healthy: `Restored`, or why not.
    async fn back_on(
        &self,
        h: &HostPlan,
        c: &AppContainer,
        base: &str,
        project: &Project,
        t0: Instant,
    ) -> Restore {
        let host = &h.engine.host;
        match self
            .serve_healthy(&h.engine, c, base, &h.address, project)
            .await
        {
            Ok(()) => {
                self.host_event(
                    host,
                    HostPhase::Restored,
                    t0,
                    Some(format!("back on {}", c.version)),
                );
                Restore::Restored(c.version.clone())
            }
            Err(why) => {
                self.host_event(host, HostPhase::RestoreFailed, t0, Some(why.clone()));
                Restore::Failed(why)
            }
        }
    }

    /// [`Runner::serve`], then wait for its health gate.
    pub(super) async fn serve_healthy(
        &self,
        eng: &Engine,
        c: &AppContainer,
        base: &str,
        address: &str,
        project: &Project,
    ) -> Result<(), String> {
        self.serve(eng, c, base, project)
            .await
            .map_err(|e| e.short())?;
        let target = Target {
            engine: eng.clone(),
            container_id: c.id.clone(),
            address: address.to_string(),
            spec: project.health.clone(),
        };
        health::wait_healthy(&target, &self.http, &CancellationToken::new())
            .await
            .map(|_| ())
            .map_err(|f| format!("{} did not come back healthy: {f}", c.version))
    }

    /// Put a kept container back in service: serving name, its own restart
    /// policy, started.
    pub(super) async fn serve(
        &self,
        eng: &Engine,
        c: &AppContainer,
        base: &str,
        project: &Project,
    ) -> Result<(), EngineError> {
        // Its name now, not the one it had when the fleet was read.
        let name = match eng.inspect(&c.id).await? {
            Some(now) => now.name,
            None => {
                return Err(EngineError::api(
                    &eng.endpoint,
                    "inspect container",
                    format!("{} ({}) is gone", c.version, naming::id12(&c.id)),
                ));
            }
        };
        if name != base {
            eng.rename(&c.id, base).await?;
        }
        let want = c
            .restart_original
            .clone()
            .unwrap_or_else(|| project.container.restart.clone());
        eng.set_restart(&c.id, &want).await?;
        eng.start(&c.id).await
    }

    /// After `new` failed: take it down (removed when created for this
    /// rollout, retired when it was a kept one) and bring back what this host
    /// goes back to (its restore point; the container just stopped if there
    /// is none), then wait for its health.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn restore(
        &self,
        h: &HostPlan,
        base: &str,
        new: Option<&AppContainer>,
        old_serving: Option<&AppContainer>,
        project: &Project,
        lock: &FleetLock,
        t0: Instant,
    ) -> Restore {
        let eng = &h.engine;
        let host = &eng.host;
        if !lock.ensure_held().await {
            self.host_event(
                host,
                HostPhase::RestoreFailed,
                t0,
                Some("the lock was lost: not restored".into()),
            );
            return Restore::LockLost;
        }
        self.host_event(host, HostPhase::Restoring, t0, None);
        if let Some(n) = new {
            let r = match &h.source {
                Source::Image => eng.remove(&n.id).await.map_err(|error| KeepFail {
                    stopping: false,
                    error,
                }),
                // A kept container of a good release that did not come back
                // healthy now is kept again (not retired): the release served.
                Source::Kept(k) => {
                    let name = naming::kept(&k.project, &k.env, &k.version, &k.id);
                    self.keep(eng, n, &name).await
                }
            };
            if let Err(e) = r {
                let why = format!(
                    "the failed container could not be taken down: {}",
                    e.short()
                );
                self.host_event(host, HostPhase::RestoreFailed, t0, Some(why.clone()));
                return Restore::Failed(why);
            }
        }
        let Some(old) = h.restore_to.as_ref().or(old_serving) else {
            let why = "there was no container to go back to".to_string();
            self.host_event(host, HostPhase::RestoreFailed, t0, Some(why.clone()));
            return Restore::Failed(why);
        };
        self.back_on(h, old, base, project, t0).await
    }
}
