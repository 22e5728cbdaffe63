//! One host's part of a rollout: create the new container, wait for health,
//! restore the kept one on failure, undo a completed swap, prune old releases.

use super::*;

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

    pub(super) fn create_spec(
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
    pub(super) async fn replace_host(
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
    pub(super) async fn restore(
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
    pub(super) async fn undo(
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
    pub(super) async fn undo_one(&self, s: &Swap, project: &Project) -> Option<String> {
        let t0 = Instant::now();
        let Some(old) = &s.old else { return None };
        let eng = match Engine::connect_host(&self.config, &s.host).await {
            Ok(eng) => eng,
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
            address: self
                .config
                .host(&s.host)
                .map(|h| h.probe_address())
                .unwrap_or_default(),
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
    pub(super) async fn prune(
        &self,
        h: &HostPlan,
        project: &str,
        env: &str,
        base: &str,
        keep: usize,
    ) {
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
