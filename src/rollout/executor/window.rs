//! The rollout loop: the pre-pull, the window of `max_unavailable` slots
//! hosts go through, operator controls (pause, resume, abort, canary) and
//! what happens when a host fails.

use super::*;

impl Runner {
    /// Pull, batches, failure handling. Returns the outcome and a message.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn execute(
        &self,
        req: &Request,
        project: &Project,
        plan: &mut Plan,
        hosts: &mut Vec<HostPlan>,
        lock: &FleetLock,
        version: &str,
        image: &str,
        release: &str,
        pulled: Pulled,
    ) -> (Outcome, String) {
        let image = image.to_string();

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
    pub(super) async fn pre_pull(
        &self,
        hosts: &[HostPlan],
        image: &str,
        project: &Project,
    ) -> Pulled {
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
    pub(super) async fn canary_wait(
        &self,
        req: &Request,
        project: &Project,
        batch: &[String],
        control: &mut tokio::sync::watch::Receiver<Control>,
        lost: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Control {
        let _ = crate::rollout::lock::send_control(
            &self.config,
            &req.project,
            &req.env,
            Control::Pause,
        )
        .await;
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
            let _ = crate::rollout::lock::send_control(
                &self.config,
                &req.project,
                &req.env,
                Control::Run,
            )
            .await;
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
    pub(super) async fn wait_while_paused(
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
}
