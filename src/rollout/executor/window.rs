//! The rollout loop: hosts go through a window of `max_unavailable` slots
//! (the next one starts the moment one in flight is done), counting hosts
//! that are down already against the same budget; operator controls
//! (pause, resume, abort, canary) are seen within a poll and acknowledged in
//! the lock; signals stop launching (first) or abort (second).

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::collections::VecDeque;

use super::host::HostResult;
use super::*;
use crate::rollout::lock::{Control, ControlState};

/// What ended a wait for the operator.
enum Woken {
    Control(ControlState),
    Lost,
    Stop,
    Abort,
    Timer,
}

impl Runner {
    /// Replace the plan's hosts; returns what was done and why it stopped.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn window(
        &self,
        req: &Request,
        project: &Project,
        plan: &Plan,
        hosts: &[HostPlan],
        lock: &FleetLock,
        spec: &CreateSpec,
        down: &mut HashSet<String>,
    ) -> WindowEnd {
        let k = plan.max_unavailable.max(1);
        let n = plan.hosts.len().max(1);
        let total = plan.batches.len();
        let by_name: HashMap<String, &HostPlan> =
            hosts.iter().map(|h| (h.engine.host.clone(), h)).collect();
        let batch_of: HashMap<String, usize> = plan
            .batches
            .iter()
            .enumerate()
            .flat_map(|(bi, b)| b.iter().map(move |h| (h.clone(), bi)))
            .collect();
        let mut left_in_batch: Vec<usize> = plan
            .batches
            .iter()
            .map(|b| b.iter().filter(|h| by_name.contains_key(*h)).count())
            .collect();
        let mut batch_t0: Vec<Option<Instant>> = vec![None; total];
        let mut queue: VecDeque<String> = plan
            .batches
            .concat()
            .into_iter()
            .filter(|h| by_name.contains_key(h))
            .collect();
        let mut control = lock.control();
        let mut lost = lock.lost();
        let cancel_inflight = self.abort.child_token();
        let mut inflight = FuturesUnordered::new();
        let mut in_names: HashSet<String> = HashSet::new();
        let mut end = WindowEnd {
            done: Vec::new(),
            failed: Vec::new(),
            skipped: 0,
            stop: None,
        };
        let canary = plan.canary && total > 1;
        let mut canary_done = !canary;
        let mut last_done: Option<String> = None;
        let mut seen_stop = false;
        let mut seen_abort = false;
        let mut pausing_told = false;
        let base = naming::serving(&req.project, &req.env);
        let _ = &base;

        loop {
            // What says stop, before anything launches. An abort (a second
            // signal, an operator's word) overrides a first signal's stop.
            let escalates = matches!(end.stop, None | Some(Stop::Interrupted)) && !*lost.borrow();
            if escalates && self.abort.is_cancelled() {
                end.stop = Some(Stop::Aborted("aborted by a second signal".into()));
                cancel_inflight.cancel();
                lock.report(Phase::Aborting, "aborted by a second signal")
                    .await;
            } else if escalates && end.stop.is_some() && control.borrow().word == Control::Abort {
                end.stop = Some(Stop::Aborted("aborted by an operator".into()));
                cancel_inflight.cancel();
                lock.report(Phase::Aborting, "abort received").await;
            }
            if end.stop.is_none() {
                if *lost.borrow() {
                    end.stop = Some(Stop::LockLost);
                } else if self.stop.is_cancelled() {
                    end.stop = Some(Stop::Interrupted);
                    self.emit(RolloutEvent::Stopping {
                        reason: format!(
                            "signal: no further host starts; waiting for {} in flight (again to abort and roll back)",
                            names(&in_names)
                        ),
                    });
                    lock.report(Phase::Aborting, "interrupted by a signal")
                        .await;
                } else if control.borrow().word == Control::Abort {
                    end.stop = Some(Stop::Aborted("aborted by an operator".into()));
                    cancel_inflight.cancel();
                    lock.report(
                        Phase::Aborting,
                        format!("abort received; stopping {}", names(&in_names)),
                    )
                    .await;
                }
            }
            let paused = control.borrow().word == Control::Pause;

            // Launch while a slot is free.
            let mut launched = false;
            while end.stop.is_none() && !paused {
                let Some(name) = queue.front().cloned() else {
                    break;
                };
                let bi = batch_of.get(&name).copied().unwrap_or(0);
                if !canary_done && bi > 0 {
                    break;
                }
                if !self.has_slot(&name, &in_names, down, k) {
                    // A host that is down already costs no slot: it may go first.
                    let allowed = |q: &String| canary_done || batch_of.get(q) == Some(&0);
                    if let Some(pos) = queue
                        .iter()
                        .position(|q| down.contains(q) && !in_names.contains(q) && allowed(q))
                    {
                        if let Some(q) = queue.remove(pos) {
                            queue.push_front(q);
                        }
                        continue;
                    }
                    if inflight.is_empty() {
                        let mut list: Vec<&String> = down.iter().collect();
                        list.sort();
                        end.stop = Some(Stop::NoCapacity(format!(
                            "{} host(s) are down already ({}); max_unavailable {k} leaves no slot to replace {name}: bring them back, or raise max_unavailable",
                            list.len(),
                            list.iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                    break;
                }
                if !lock.ensure_held().await {
                    end.stop = Some(Stop::LockLost);
                    break;
                }
                queue.pop_front();
                let Some(h) = by_name.get(&name).map(|h| (*h).clone()) else {
                    continue;
                };
                if batch_t0[bi].is_none() {
                    batch_t0[bi] = Some(Instant::now());
                    self.emit(RolloutEvent::BatchStarted {
                        index: bi + 1,
                        total,
                        hosts: plan.batches[bi].clone(),
                    });
                }
                in_names.insert(name.clone());
                launched = true;
                let spec = spec.clone();
                let cancel = cancel_inflight.clone();
                inflight.push(async move {
                    let r = self.replace_host(h, spec, project, lock, cancel).await;
                    (name, bi, r)
                });
            }

            if inflight.is_empty() {
                if end.stop.is_some() || queue.is_empty() {
                    break;
                }
                if paused {
                    match self
                        .paused(req, lock, &mut control, &mut lost, &last_done)
                        .await
                    {
                        Some(stop) => end.stop = Some(stop),
                        None => pausing_told = false,
                    }
                    continue;
                }
                if !launched {
                    // Nothing runs, nothing could start: never spin.
                    end.stop
                        .get_or_insert(Stop::NoCapacity("no host could be started".into()));
                    break;
                }
                continue;
            }

            // Wait for a host, or for the operator.
            tokio::select! {
                next = inflight.next() => {
                    let Some((name, bi, r)) = next else { continue };
                    in_names.remove(&name);
                    match r {
                        HostResult::Skipped => end.skipped += 1,
                        HostResult::Replaced(swap) => {
                            down.remove(&name);
                            last_done = Some(name.clone());
                            end.done.push(*swap);
                        }
                        HostResult::Failed(f) => {
                            if f.left_down() {
                                down.insert(name.clone());
                            } else if matches!(f.restore, host::Restore::Restored(_)) {
                                down.remove(&name);
                            }
                            end.failed.push(f);
                        }
                    }
                    if let Some(left) = left_in_batch.get_mut(bi) {
                        *left = left.saturating_sub(1);
                        if *left == 0 {
                            self.emit(RolloutEvent::BatchDone {
                                index: bi + 1,
                                total,
                                secs: batch_t0[bi].map(secs).unwrap_or(0.0),
                            });
                        }
                    }
                    if !end.failed.is_empty()
                        && end.stop.is_none()
                        && end.failed.len() as f64 / n as f64 > project.rollout.max_failure_ratio
                    {
                        end.stop = Some(Stop::Failed);
                    }
                    if !canary_done
                        && bi == 0
                        && left_in_batch.first() == Some(&0)
                        && end.stop.is_none()
                        && inflight.is_empty()
                    {
                        canary_done = true;
                        if let Some(stop) = self
                            .canary_wait(req, project, &plan.batches[0], lock, &mut control, &mut lost)
                            .await
                        {
                            end.stop = Some(stop);
                        }
                    }
                }
                r = control.changed() => {
                    if r.is_err() {
                        end.stop.get_or_insert(Stop::LockLost);
                    } else if control.borrow().word == Control::Pause && !pausing_told {
                        pausing_told = true;
                        lock.report(
                            Phase::Pausing,
                            format!("pause received; waiting for {} in flight", names(&in_names)),
                        )
                        .await;
                    }
                }
                _ = lost.changed() => {}
                _ = self.stop.cancelled(), if !seen_stop => seen_stop = true,
                _ = self.abort.cancelled(), if !seen_abort => seen_abort = true,
            }
        }
        end
    }

    /// Whether `name` may start: it is down already (replacing it costs
    /// nothing), or it fits within `k` with the hosts in flight and down.
    fn has_slot(
        &self,
        name: &str,
        in_flight: &HashSet<String>,
        down: &HashSet<String>,
        k: usize,
    ) -> bool {
        if down.contains(name) {
            return true;
        }
        let busy = in_flight.union(down).count();
        busy < k
    }

    /// Paused by an operator, nothing in flight: say so and wait. `None`
    /// when resumed.
    async fn paused(
        &self,
        req: &Request,
        lock: &FleetLock,
        control: &mut tokio::sync::watch::Receiver<ControlState>,
        lost: &mut tokio::sync::watch::Receiver<bool>,
        last_done: &Option<String>,
    ) -> Option<Stop> {
        let detail = match last_done {
            Some(h) => format!("paused after {h}"),
            None => "paused before the first host".to_string(),
        };
        lock.report(Phase::Paused, detail.clone()).await;
        self.emit(RolloutEvent::Paused {
            reason: format!(
                "{detail}; `shipdeck control {} {} resume` goes on, `abort` rolls back",
                req.project, req.env
            ),
        });
        loop {
            match self.wake(control, lost, None).await {
                Woken::Control(c) if c.word == Control::Pause => continue,
                Woken::Control(c) if c.word == Control::Run => {
                    self.emit(RolloutEvent::Resumed);
                    lock.report(Phase::Running, "resumed").await;
                    return None;
                }
                // Abort: the loop sees it and reports.
                Woken::Control(_) => return None,
                Woken::Lost => return Some(Stop::LockLost),
                Woken::Stop => return None,
                Woken::Abort => return None,
                Woken::Timer => continue,
            }
        }
    }

    /// After the canary batch: pause (visible to every operator through the
    /// lock) until `resume`, `abort`, or the canary timer. With no timer the
    /// wait is bounded by `canary_timeout`, then the rollout is aborted.
    async fn canary_wait(
        &self,
        req: &Request,
        project: &Project,
        batch: &[String],
        lock: &FleetLock,
        control: &mut tokio::sync::watch::Receiver<ControlState>,
        lost: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Option<Stop> {
        if let Err(e) = lock.set_control(Control::Pause).await {
            warn!(error = %e, "canary: the pause could not be written into the lock");
        }
        // What set_control just put there is known: wait for a newer word.
        control.borrow_and_update();
        let timer = project.rollout.canary_wait_secs.map(Duration::from_secs);
        let limit = Duration::from_millis(project.rollout.canary_timeout_ms);
        let detail = format!("canary on {} is healthy", batch.join(","));
        lock.report(Phase::Paused, detail.clone()).await;
        self.emit(RolloutEvent::Paused {
            reason: match timer {
                Some(t) => format!(
                    "{detail}; goes on by itself in {}s, or `shipdeck control {} {} resume` now",
                    t.as_secs(),
                    req.project,
                    req.env
                ),
                None => format!(
                    "{detail}; `shipdeck control {} {} resume` to go on (rolled back after {} without one: canary_timeout)",
                    req.project,
                    req.env,
                    humantime::format_duration(limit)
                ),
            },
        });
        let until = Instant::now() + timer.unwrap_or(limit);
        loop {
            match self.wake(control, lost, Some(until)).await {
                Woken::Control(c) => match c.word {
                    Control::Pause => continue,
                    Control::Run => break,
                    // The window sees the abort and reports it.
                    Control::Abort => return None,
                },
                Woken::Lost => return Some(Stop::LockLost),
                Woken::Stop | Woken::Abort => return None,
                Woken::Timer if timer.is_some() => {
                    if let Err(e) = lock.set_control(Control::Run).await {
                        warn!(error = %e, "canary: the resume could not be written into the lock");
                    }
                    break;
                }
                Woken::Timer => return Some(Stop::CanaryTimeout),
            }
        }
        self.emit(RolloutEvent::Resumed);
        lock.report(Phase::Running, "canary passed").await;
        None
    }

    /// Wait for a newer control word, a lost lock, a signal, or `until`.
    async fn wake(
        &self,
        control: &mut tokio::sync::watch::Receiver<ControlState>,
        lost: &mut tokio::sync::watch::Receiver<bool>,
        until: Option<Instant>,
    ) -> Woken {
        let sleep = async {
            match until {
                Some(u) => tokio::time::sleep_until(u).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = control.changed() => match r {
                Ok(()) => Woken::Control(*control.borrow_and_update()),
                Err(_) => Woken::Lost,
            },
            _ = lost.wait_for(|l| *l) => Woken::Lost,
            _ = self.stop.cancelled() => Woken::Stop,
            _ = self.abort.cancelled() => Woken::Abort,
            _ = sleep => Woken::Timer,
        }
    }
}

/// `h03, h04` or `nothing`.
fn names(set: &HashSet<String>) -> String {
    if set.is_empty() {
        return "nothing".into();
    }
    let mut v: Vec<&String> = set.iter().collect();
    v.sort();
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}
