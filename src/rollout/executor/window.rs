//! The rollout loop: hosts go through a window of `max_unavailable` slots
//! (the next one starts the moment one in flight is done), counting hosts
//! that are down already against the same budget; operator controls
//! (pause, resume, abort, canary) are seen within a poll and acknowledged in
//! the lock; signals stop launching (first) or abort (second).

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::collections::VecDeque;

use super::host::{HostResult, Pruner};
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

/// The replacement loop's state: what is queued, in flight, done.
struct Window<'a> {
    runner: &'a Runner,
    req: &'a Request,
    project: &'a Project,
    plan: &'a Plan,
    lock: &'a FleetLock,
    spec: &'a CreateSpec,
    /// Slots: at most this many hosts without a healthy serving container.
    k: usize,
    n: usize,
    by_name: HashMap<String, &'a HostPlan>,
    batch_of: HashMap<String, usize>,
    left_in_batch: Vec<usize>,
    batch_t0: Vec<Option<Instant>>,
    queue: VecDeque<String>,
    in_flight: HashSet<String>,
    end: WindowEnd,
    canary_done: bool,
    last_done: Option<String>,
    pausing_told: bool,
    /// Cancelled by an abort: the health waits in flight end (those hosts
    /// are restored).
    cancel_inflight: CancellationToken,
    control: tokio::sync::watch::Receiver<ControlState>,
    lost: tokio::sync::watch::Receiver<bool>,
    /// Prunes of hosts as they get ready.
    pruner: &'a Pruner,
    /// What the hooks are told.
    facts: &'a HookFacts,
}

/// A host's end: its name, batch, result, and a required `post_host`
/// hook's failure.
type HostEnd = (String, usize, HostResult, Option<String>);
type InFlight<'a> = FuturesUnordered<futures::future::BoxFuture<'a, HostEnd>>;

impl<'a> Window<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        runner: &'a Runner,
        req: &'a Request,
        project: &'a Project,
        plan: &'a Plan,
        hosts: &'a [HostPlan],
        lock: &'a FleetLock,
        spec: &'a CreateSpec,
        pruner: &'a Pruner,
        facts: &'a HookFacts,
    ) -> Self {
        let by_name: HashMap<String, &HostPlan> =
            hosts.iter().map(|h| (h.engine.host.clone(), h)).collect();
        let batch_of: HashMap<String, usize> = plan
            .batches
            .iter()
            .enumerate()
            .flat_map(|(bi, b)| b.iter().map(move |h| (h.clone(), bi)))
            .collect();
        let left_in_batch: Vec<usize> = plan
            .batches
            .iter()
            .map(|b| b.iter().filter(|h| by_name.contains_key(*h)).count())
            .collect();
        let queue: VecDeque<String> = plan
            .batches
            .concat()
            .into_iter()
            .filter(|h| by_name.contains_key(h))
            .collect();
        let total = plan.batches.len();
        // A canary batch with a host to wait for.
        let canary = plan.canary && total > 1 && left_in_batch.first().is_some_and(|n| *n > 0);
        Self {
            runner,
            req,
            project,
            plan,
            lock,
            spec,
            k: plan.max_unavailable.max(1),
            n: plan.hosts.len().max(1),
            by_name,
            batch_of,
            left_in_batch,
            batch_t0: vec![None; total],
            queue,
            in_flight: HashSet::new(),
            end: WindowEnd {
                done: Vec::new(),
                failed: Vec::new(),
                skipped: 0,
                stop: None,
            },
            canary_done: !canary,
            last_done: None,
            pausing_told: false,
            cancel_inflight: runner.abort.child_token(),
            control: lock.control(),
            lost: lock.lost(),
            pruner,
            facts,
        }
    }

    /// What says stop, before anything launches. An abort (a second
    /// signal, an operator's word) overrides a first signal's stop.
    async fn check_stops(&mut self) {
        let lost = *self.lost.borrow();
        let word = self.control.borrow().word;
        let escalates = matches!(self.end.stop, None | Some(Stop::Interrupted)) && !lost;
        if escalates && self.runner.abort.is_cancelled() {
            self.end.stop = Some(Stop::SignalAbort);
            self.cancel_inflight.cancel();
            self.lock
                .report(Phase::Aborting, "aborted by a second signal")
                .await;
            return;
        }
        if escalates && self.end.stop.is_some() && word == Control::Abort {
            self.abort("aborted by an operator").await;
            return;
        }
        if self.end.stop.is_some() {
            return;
        }
        if lost {
            self.end.stop = Some(Stop::LockLost);
        } else if self.runner.stop.is_cancelled() {
            self.end.stop = Some(Stop::Interrupted);
            self.runner.emit(RolloutEvent::Stopping {
                reason: format!(
                    "signal: no further host starts; waiting for {} in flight (again to abort and roll back)",
                    names(&self.in_flight)
                ),
            });
            self.lock
                .report(Phase::Aborting, "interrupted by a signal")
                .await;
        } else if word == Control::Abort {
            self.abort("aborted by an operator").await;
        }
    }

    async fn abort(&mut self, why: &str) {
        self.end.stop = Some(Stop::Aborted(why.to_string()));
        self.cancel_inflight.cancel();
        self.lock
            .report(
                Phase::Aborting,
                format!("{why}; stopping {}", names(&self.in_flight)),
            )
            .await;
    }

    /// Launch hosts while a slot is free. Returns whether one started.
    async fn launch(&mut self, inflight: &mut InFlight<'a>, down: &HashSet<String>) -> bool {
        let mut launched = false;
        while self.end.stop.is_none() {
            let Some(name) = self.queue.front().cloned() else {
                break;
            };
            let bi = self.batch_of.get(&name).copied().unwrap_or(0);
            if !self.canary_done && bi > 0 {
                break;
            }
            if !self.runner.has_slot(&name, &self.in_flight, down, self.k) {
                // A host that is down already costs no slot: it may go first.
                let canary_done = self.canary_done;
                let batch_of = &self.batch_of;
                let in_flight = &self.in_flight;
                let allowed = |q: &String| canary_done || batch_of.get(q) == Some(&0);
                if let Some(pos) = self
                    .queue
                    .iter()
                    .position(|q| down.contains(q) && !in_flight.contains(q) && allowed(q))
                {
                    if let Some(q) = self.queue.remove(pos) {
                        self.queue.push_front(q);
                    }
                    continue;
                }
                if inflight.is_empty() {
                    let mut list: Vec<&String> = down.iter().collect();
                    list.sort();
                    self.end.stop = Some(Stop::NoCapacity(format!(
                        "{} host(s) are down already ({}); max_unavailable {} leaves no slot to replace {name}: bring them back, or raise max_unavailable",
                        list.len(),
                        list.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        self.k
                    )));
                }
                break;
            }
            // Ownership is checked on the engines before every host.
            if !self.lock.ensure_held().await {
                self.end.stop = Some(Stop::LockLost);
                break;
            }
            self.queue.pop_front();
            let Some(h) = self.by_name.get(&name).map(|h| (*h).clone()) else {
                continue;
            };
            if self.batch_t0[bi].is_none() {
                self.batch_t0[bi] = Some(Instant::now());
                self.runner.emit(RolloutEvent::BatchStarted {
                    index: bi + 1,
                    total: self.plan.batches.len(),
                    hosts: self.plan.batches[bi].clone(),
                });
            }
            self.in_flight.insert(name.clone());
            launched = true;
            let (runner, req, project, lock, pruner) =
                (self.runner, self.req, self.project, self.lock, self.pruner);
            let spec = self.spec.clone();
            let cancel = self.cancel_inflight.clone();
            let mut facts = self.facts.clone();
            facts.host = Some(name.clone());
            facts.host_address = Some(h.address.clone());
            facts.batch = Some(bi + 1);
            facts.batch_hosts = self.plan.batches.get(bi).cloned();
            inflight.push(Box::pin(async move {
                let (r, post) = runner
                    .replace_host_hooked(req, h, spec, project, lock, cancel, pruner, facts)
                    .await;
                (name, bi, r, post)
            }));
        }
        launched
    }

    /// One host is done: count it, end its batch, check the failure ratio,
    /// and after the canary batch wait for the operator.
    async fn take(
        &mut self,
        name: String,
        bi: usize,
        r: HostResult,
        post_hook: Option<String>,
        down: &mut HashSet<String>,
        nothing_in_flight: bool,
    ) {
        self.in_flight.remove(&name);
        if let Some(why) = post_hook
            && self.end.stop.is_none()
        {
            self.end.stop = Some(Stop::Hook(why));
        }
        match r {
            HostResult::Skipped => self.end.skipped += 1,
            HostResult::Replaced(swap) => {
                down.remove(&name);
                self.last_done = Some(name.clone());
                self.end.done.push(*swap);
            }
            HostResult::Failed(f) => {
                if f.left_down() {
                    down.insert(name.clone());
                } else if matches!(f.restore, host::Restore::Restored(_)) {
                    down.remove(&name);
                }
                self.end.failed.push(f);
            }
        }
        if let Some(left) = self.left_in_batch.get_mut(bi) {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.runner.emit(RolloutEvent::BatchDone {
                    index: bi + 1,
                    total: self.plan.batches.len(),
                    secs: self.batch_t0[bi].map(secs).unwrap_or(0.0),
                });
                let mut facts = self.facts.clone();
                facts.batch = Some(bi + 1);
                facts.batch_hosts = self.plan.batches.get(bi).cloned();
                if let Err(why) = self
                    .runner
                    .hooks(self.req, self.project, HookPoint::PostBatch, &facts)
                    .await
                    && self.end.stop.is_none()
                {
                    self.end.stop = Some(Stop::Hook(why));
                }
            }
        }
        if !self.end.failed.is_empty()
            && self.end.stop.is_none()
            && self.end.failed.len() as f64 / self.n as f64 > self.project.rollout.max_failure_ratio
        {
            self.end.stop = Some(Stop::Failed);
        }
        if !self.canary_done
            && bi == 0
            && self.left_in_batch.first() == Some(&0)
            && self.end.stop.is_none()
            && nothing_in_flight
            && !self.runner.stop.is_cancelled()
            && !self.runner.abort.is_cancelled()
        {
            self.canary_done = true;
            if let Some(stop) = self
                .runner
                .canary_wait(
                    self.req,
                    self.project,
                    &self.plan.batches[0],
                    self.lock,
                    &mut self.control,
                    &mut self.lost,
                )
                .await
            {
                self.end.stop = Some(stop);
            }
        }
    }

    /// A control word arrived while hosts are in flight: a pause is
    /// acknowledged at once (it takes effect when they are done).
    async fn pause_heard(&mut self) {
        if self.control.borrow().word == Control::Pause && !self.pausing_told {
            self.pausing_told = true;
            self.lock
                .report(
                    Phase::Pausing,
                    format!(
                        "pause received; waiting for {} in flight",
                        names(&self.in_flight)
                    ),
                )
                .await;
        }
    }

    /// Paused, nothing in flight: report it and wait for the operator.
    async fn wait_paused(&mut self) {
        match self
            .runner
            .paused(
                self.req,
                self.lock,
                &mut self.control,
                &mut self.lost,
                &self.last_done,
            )
            .await
        {
            Some(stop) => self.end.stop = Some(stop),
            None => self.pausing_told = false,
        }
    }
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
        pruner: &Pruner,
        facts: &HookFacts,
    ) -> WindowEnd {
        let mut w = Window::new(self, req, project, plan, hosts, lock, spec, pruner, facts);
        let mut inflight: InFlight<'_> = FuturesUnordered::new();
        let (mut seen_stop, mut seen_abort, mut control_closed) = (false, false, false);
        loop {
            w.check_stops().await;
            let paused = w.control.borrow().word == Control::Pause;
            let launched = if w.end.stop.is_none() && !paused {
                w.launch(&mut inflight, down).await
            } else {
                false
            };
            if inflight.is_empty() {
                if w.end.stop.is_some() || w.queue.is_empty() {
                    break;
                }
                if paused {
                    w.wait_paused().await;
                    continue;
                }
                if !launched {
                    // Nothing runs and nothing could start: never spin.
                    w.end
                        .stop
                        .get_or_insert(Stop::NoCapacity("no host could be started".into()));
                    break;
                }
                continue;
            }
            // Wait for a host, or for the operator, or a signal.
            tokio::select! {
                next = inflight.next() => {
                    if let Some((name, bi, r, post)) = next {
                        w.take(name, bi, r, post, down, inflight.is_empty()).await;
                    }
                }
                r = w.control.changed(), if !control_closed => match r {
                    Ok(()) => w.pause_heard().await,
                    Err(_) => {
                        control_closed = true;
                        w.end.stop.get_or_insert(Stop::LockLost);
                    }
                },
                _ = w.lost.changed() => {}
                _ = self.stop.cancelled(), if !seen_stop => seen_stop = true,
                _ = self.abort.cancelled(), if !seen_abort => seen_abort = true,
            }
        }
        w.end
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
        // An operator's word that arrived meanwhile (an abort) wins.
        if control.borrow().word != Control::Run {
            return None;
        }
        match lock.set_control(Control::Pause).await {
            Ok(c) if c.word != Control::Pause => return None,
            Ok(_) => {}
            Err(e) => warn!(error = %e, "canary: the pause could not be written into the lock"),
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
                    match lock.set_control(Control::Run).await {
                        // An operator's newer word (an abort, a pause) came
                        // in as the timer fired: it wins, the loop obeys it.
                        Ok(c) if c.word != Control::Run => return None,
                        Ok(_) => {}
                        Err(e) => {
                            warn!(error = %e, "canary: the resume could not be written into the lock")
                        }
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
