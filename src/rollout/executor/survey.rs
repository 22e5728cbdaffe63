//! Reading the fleet for a rollout: reach every host, list what runs,
//! the releases (journal and ledger), which hosts are down already, and the
//! repairs made under the lock before anything else (kept containers that
//! run, restart policies that drifted).

use super::*;

impl Runner {
    /// Connect to every host of the environment at once.
    pub(super) async fn reach(
        &self,
        req: &Request,
        project: &Project,
    ) -> Result<Reach, RolloutError> {
        let results = Engine::connect_env(&self.config, &req.project, &req.env).await;
        let mut reach = Reach {
            engines: Vec::new(),
            unreachable: Vec::new(),
        };
        for (name, r) in results {
            match r {
                Ok(e) => reach.engines.push(e),
                Err(e) => reach.unreachable.push((name, e.short())),
            }
        }
        if !reach.unreachable.is_empty() && project.rollout.on_pull_failure == PullFailure::Abort {
            return Err(RolloutError::Unreachable {
                project: req.project.clone(),
                env: req.env.clone(),
                hosts: reach.unreachable,
            });
        }
        Ok(reach)
    }

    /// What runs on every reached host (all of this project+env's containers).
    pub(super) async fn read_fleet(
        &self,
        engines: &[Engine],
        req: &Request,
    ) -> Vec<Result<HostView, (String, String)>> {
        self.read_fleet_since(engines, req, &[]).await
    }

    /// [`Runner::read_fleet`] again: every host listed afresh, and only the
    /// containers that changed since `before` inspected again.
    pub(super) async fn read_fleet_since(
        &self,
        engines: &[Engine],
        req: &Request,
        before: &[HostView],
    ) -> Vec<Result<HostView, (String, String)>> {
        join_all(engines.iter().map(|eng| async move {
            let address = self
                .config
                .host(&eng.host)
                .map(|h| h.probe_address())
                .unwrap_or_default();
            let known: &[AppContainer] = before
                .iter()
                .find(|h| h.engine.host == eng.host)
                .map(|h| h.containers.as_slice())
                .unwrap_or(&[]);
            match eng
                .app_containers_refresh(&req.project, &req.env, known)
                .await
            {
                Ok(containers) => Ok(HostView {
                    engine: eng.clone(),
                    address,
                    containers,
                }),
                Err(e) => Err((eng.host.clone(), e.short())),
            }
        }))
        .await
    }

    /// A host that answered the connect but not the listing is unreachable too.
    pub(super) fn refuse_unreadable(
        &self,
        req: &Request,
        project: &Project,
        fleet: Vec<Result<HostView, (String, String)>>,
    ) -> Result<Vec<HostView>, RolloutError> {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for r in fleet {
            match r {
                Ok(v) => ok.push(v),
                Err(e) => bad.push(e),
            }
        }
        if !bad.is_empty() && project.rollout.on_pull_failure == PullFailure::Abort {
            return Err(RolloutError::Unreachable {
                project: req.project.clone(),
                env: req.env.clone(),
                hosts: bad,
            });
        }
        Ok(ok)
    }

    /// The releases of this project+env: the journal and what the fleet's
    /// ledger says (`from_fleet`), merged by release id (the ledger wins on
    /// conflicts: it is shared); `own` (this release) left out; oldest first.
    pub(super) fn history(
        &self,
        req: &Request,
        own: &str,
        from_fleet: Vec<ledger::Entry>,
    ) -> Vec<ReleaseSummary> {
        let journal = self.journal.releases().unwrap_or_default();
        let mut all = ledger::with_journal(journal, from_fleet, &req.project, &req.env);
        all.retain(|r| r.release != own);
        all
    }

    /// Hosts without a healthy serving container before anything starts:
    /// those in the rollout that fail their gate now, and hosts left out
    /// (unreachable, pull failed, unreadable) whose application does not
    /// answer its probe.
    pub(super) async fn down_at_start(
        &self,
        hosts: &[HostPlan],
        left_out: &[String],
        project: &Project,
    ) -> HashSet<String> {
        let mut down: HashSet<String> = hosts
            .iter()
            .filter(|h| !h.healthy)
            .map(|h| h.engine.host.clone())
            .collect();
        let left_out = join_all(left_out.iter().map(|name| async move {
            let address = self
                .config
                .host(name)
                .map(|h| h.probe_address())
                .unwrap_or_default();
            let ok = health::probe_once(&address, &project.health, &self.http)
                .await
                .is_ok()
                && (project.health.http_path.is_some() || project.health.tcp);
            (name.clone(), ok)
        }))
        .await;
        for (name, serving) in left_out {
            if !serving {
                down.insert(name);
            }
        }
        down
    }

    /// Kept containers that run (a daemon restart brought them back under an
    /// old restart policy) are stopped; kept ones get policy `no`; a serving
    /// one whose policy was left at `no` gets its own back.
    pub(super) async fn repair(&self, fleet: &[HostView], project: &Project) {
        join_all(fleet.iter().map(|h| async move {
            for c in &h.containers {
                let what = match c.role {
                    Role::Kept | Role::Retired => {
                        if c.state == ContainerState::Running
                            || c.state == ContainerState::Restarting
                        {
                            // Stop first: the engine refuses to update a
                            // container that is restarting.
                            let r = async {
                                h.engine.stop(&c.id, self.stop_grace).await?;
                                h.engine.set_restart(&c.id, "no").await
                            };
                            match r.await {
                                Ok(()) => format!(
                                    "stopped kept container {} ({}), which ran beside the serving one, and set its restart policy to \"no\"",
                                    c.name, c.version
                                ),
                                Err(e) => format!("could not stop kept container {}: {}", c.name, e.short()),
                            }
                        } else if c.restart_policy != "no" {
                            match h.engine.set_restart(&c.id, "no").await {
                                Ok(()) => format!(
                                    "kept container {} had restart policy {:?}, now \"no\"",
                                    c.name, c.restart_policy
                                ),
                                Err(e) => format!("could not update {}: {}", c.name, e.short()),
                            }
                        } else {
                            continue;
                        }
                    }
                    Role::Serving => {
                        let want = c
                            .restart_original
                            .clone()
                            .unwrap_or_else(|| project.container.restart.clone());
                        if c.restart_policy == "no" && want != "no" {
                            match h.engine.set_restart(&c.id, &want).await {
                                Ok(()) => format!("serving container {} gets restart policy {want:?} back", c.name),
                                Err(e) => format!("could not update {}: {}", c.name, e.short()),
                            }
                        } else {
                            continue;
                        }
                    }
                };
                self.emit(RolloutEvent::Repaired {
                    host: h.engine.host.clone(),
                    what,
                });
            }
        }))
        .await;
    }
}
