//! The pre-pull (all hosts at once, bounded by `pull_concurrency`, with the
//! registry's login) and its verdict: every host on one digest, or a
//! refusal that lists the hosts once and says what to check.

use super::*;

/// What the pre-pull did: per host, the digest or the error.
pub(super) struct Pulled {
    pub(super) image: String,
    pub(super) results: Vec<(String, Result<String, EngineError>)>,
    pub(super) started: Instant,
}

impl Runner {
    /// Pull `image` on the hosts named in `names` (those of `fleet`).
    pub(super) async fn pull(
        &self,
        fleet: &[HostView],
        names: &[String],
        image: &str,
        project: &Project,
    ) -> Pulled {
        let started = Instant::now();
        let engines: Vec<&Engine> = fleet
            .iter()
            .filter(|h| names.contains(&h.engine.host))
            .map(|h| &h.engine)
            .collect();
        if engines.is_empty() {
            return Pulled {
                image: image.to_string(),
                results: Vec::new(),
                started,
            };
        }
        let login = match self.config.registry_login(project) {
            Ok(l) => l,
            Err(e) => {
                let err = EngineError::api("registry login", "pull", e.to_string());
                return Pulled {
                    image: image.to_string(),
                    results: engines
                        .iter()
                        .map(|e| (e.host.clone(), Err(err.clone())))
                        .collect(),
                    started,
                };
            }
        };
        self.emit(RolloutEvent::PullStarted {
            image: image.to_string(),
            hosts: engines.iter().map(|e| e.host.clone()).collect(),
        });
        let sem = Arc::new(tokio::sync::Semaphore::new(
            project.rollout.pull_concurrency.max(1) as usize,
        ));
        let stall = Duration::from_millis(project.rollout.pull_stall_ms.max(1000));
        let results = join_all(engines.iter().map(|eng| {
            let sem = sem.clone();
            let login = login.as_ref();
            async move {
                let _permit = sem.acquire().await;
                let t = Instant::now();
                // Progress at most once a second per host.
                let mut last: Option<Instant> = None;
                let r = eng
                    .pull_with_progress(image, login, stall, |bytes, total| {
                        if last.is_none_or(|l| l.elapsed() >= Duration::from_secs(1)) {
                            last = Some(Instant::now());
                            self.emit(RolloutEvent::PullProgress {
                                host: eng.host.clone(),
                                bytes,
                                total,
                            });
                        }
                    })
                    .await;
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
                (eng.host.clone(), r)
            }
        }))
        .await;
        Pulled {
            image: image.to_string(),
            results,
            started,
        }
    }

    /// Under the lock: pull what the final decision needs and the pre-pull
    /// did not do, then judge every pull. Returns the verified digest, or
    /// the refusal (nothing was restarted). Hosts whose pull failed under
    /// `skip-host` leave the plan.
    pub(super) async fn complete_pulls(
        &self,
        fleet: &[HostView],
        intent: &Intent,
        project: &Project,
        pre: Pulled,
        plan: &mut Plan,
        bad: &HashSet<String>,
    ) -> Result<Option<String>, String> {
        let image = intent.image(project);
        let wanted = decide::provisional_pulls(intent, fleet, bad);
        let mut results: Vec<(String, Result<String, EngineError>)> = if pre.image == image {
            pre.results
                .into_iter()
                .filter(|(h, _)| wanted.contains(h))
                .collect()
        } else {
            Vec::new()
        };
        let missing: Vec<String> = wanted
            .iter()
            .filter(|h| !results.iter().any(|(x, _)| x == *h))
            .cloned()
            .collect();
        let t0 = if missing.is_empty() {
            pre.started
        } else {
            let more = self.pull(fleet, &missing, &image, project).await;
            results.extend(more.results);
            more.started
        };
        if results.is_empty() {
            return Ok(None);
        }
        let mut failed: Vec<(String, String)> = Vec::new();
        let mut digests: HashMap<String, Vec<String>> = HashMap::new();
        for (host, r) in results {
            match r {
                Ok(d) => digests.entry(d).or_default().push(host),
                Err(e) => failed.push((host, e.short())),
            }
        }
        if digests.len() > 1 {
            let detail: Vec<String> = digests
                .iter()
                .map(|(d, hs)| format!("{} on {}", short_digest(d), hs.join(",")))
                .collect();
            return Err(format!(
                "hosts resolved {image} to different digests ({}); nothing was restarted. Push the tag once and retry",
                detail.join("; ")
            ));
        }
        if !failed.is_empty() {
            if project.rollout.on_pull_failure == PullFailure::Abort {
                return Err(pull_refusal(&image, &failed, project));
            }
            let names: Vec<String> = failed.iter().map(|(h, _)| h.clone()).collect();
            for (h, e) in &failed {
                self.emit(RolloutEvent::HostSkipped {
                    host: h.clone(),
                    reason: format!("pull failed: {e}"),
                });
            }
            replan(plan, project, &names);
            if plan.hosts.is_empty() {
                return Err(pull_refusal(&image, &failed, project));
            }
        }
        let digest = digests.into_keys().next();
        if let Some(d) = &digest {
            if let Some(pin) = &intent.digest
                && pin != d
            {
                return Err(format!(
                    "{image} resolved to {} but this release is pinned to {}; nothing was restarted",
                    short_digest(d),
                    short_digest(pin)
                ));
            }
            self.emit(RolloutEvent::PullsDone {
                digest: d.clone(),
                secs: secs(t0),
            });
        }
        Ok(digest)
    }
}

/// One message for a pull that failed on several hosts: the hosts grouped
/// by error, and what to check.
fn pull_refusal(image: &str, failed: &[(String, String)], project: &Project) -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (h, e) in failed {
        match groups.iter_mut().find(|(x, _)| x == e) {
            Some((_, hs)) => hs.push(h.clone()),
            None => groups.push((e.clone(), vec![h.clone()])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(e, hs)| format!("{}: {e}", hs.join(", ")))
        .collect();
    let hint = if groups
        .iter()
        .any(|(e, _)| e.contains("manifest unknown") || e.contains("not found"))
    {
        format!("check the tag exists (`shipdeck tags {}`)", project.name)
    } else if groups
        .iter()
        .any(|(e, _)| e.contains("401") || e.contains("unauthorized"))
    {
        "check the registry's username and password reference in [[registries]]".to_string()
    } else {
        "check the registry answers from those hosts (address, port, network)".to_string()
    };
    format!(
        "pull of {image} failed on {} host(s), nothing was restarted: {}; {hint}",
        failed.len(),
        parts.join("; ")
    )
}
