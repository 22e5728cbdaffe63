//! Rolling completed hosts back after a failure or an abort — within the
//! environment's `max_unavailable`, counting hosts already down, never
//! leaving a host empty (when the old container will not come back, the new
//! one serves again) — and pruning old releases, good ones kept first.

use super::*;

/// How an undo went.
pub(super) struct Undone {
    pub(super) rolled_back: Vec<String>,
    /// Hosts that stayed on the new version (their old container did not
    /// come back healthy, so the new one serves again), with why.
    pub(super) stayed: Vec<String>,
    /// Hosts left without a healthy serving container.
    pub(super) needs_operator: Vec<String>,
    /// Hosts not rolled back because there was no capacity (or no lock).
    pub(super) held_back: Vec<String>,
    pub(super) held_back_why: String,
}

impl Undone {
    pub(super) fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.rolled_back.is_empty() {
            parts.push(format!(
                "{} host(s) rolled back ({})",
                self.rolled_back.len(),
                self.rolled_back.join(", ")
            ));
        }
        if !self.stayed.is_empty() {
            parts.push(format!("not rolled back: {}", self.stayed.join("; ")));
        }
        if !self.held_back.is_empty() {
            parts.push(format!(
                "{} host(s) NOT rolled back ({}): {}",
                self.held_back.len(),
                self.held_back.join(", "),
                self.held_back_why
            ));
        }
        if !self.needs_operator.is_empty() {
            parts.push(format!(
                "rollback FAILED on {}: needs an operator",
                self.needs_operator
                    .iter()
                    .map(|n| n.split(':').next().unwrap_or(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// How one host's undo went.
enum One {
    RolledBack,
    Stayed(String),
    Down(String),
    NoLock,
}

impl Runner {
    /// Undo completed swaps in groups that fit `k` with the hosts already down.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn undo(
        &self,
        req: &Request,
        facts: &HookFacts,
        done: Vec<Swap>,
        k: usize,
        down: &mut HashSet<String>,
        project: &Project,
        lock: &FleetLock,
        why: &str,
    ) -> Undone {
        let mut u = Undone {
            rolled_back: Vec::new(),
            stayed: Vec::new(),
            needs_operator: Vec::new(),
            held_back: Vec::new(),
            held_back_why: String::new(),
        };
        let with_old: Vec<Swap> = done.into_iter().filter(|s| s.old.is_some()).collect();
        if with_old.is_empty() {
            return u;
        }
        self.emit(RolloutEvent::RollingBack {
            hosts: with_old.iter().map(|s| s.host.clone()).collect(),
            reason: why.to_string(),
        });
        let mut queue: std::collections::VecDeque<Swap> = with_old.into();
        while !queue.is_empty() {
            let budget = k.saturating_sub(down.len());
            if budget == 0 {
                let mut d: Vec<&String> = down.iter().collect();
                d.sort();
                u.held_back_why = format!(
                    "{} host(s) are down ({}) and max_unavailable is {k}; bring them back, then `shipdeck rollback`",
                    d.len(),
                    d.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                );
                u.held_back.extend(queue.drain(..).map(|s| s.host));
                break;
            }
            let group: Vec<Swap> = (0..budget).filter_map(|_| queue.pop_front()).collect();
            let results = join_all(
                group
                    .iter()
                    .map(|s| self.undo_hooked(req, facts, s, project, lock)),
            )
            .await;
            for (s, r) in group.iter().zip(results) {
                match r {
                    One::RolledBack => u.rolled_back.push(s.host.clone()),
                    One::Stayed(w) => u
                        .stayed
                        .push(format!("{} stayed on {} ({w})", s.host, s.new.version)),
                    One::Down(w) => {
                        down.insert(s.host.clone());
                        u.needs_operator.push(format!("{}: {w}", s.host));
                    }
                    One::NoLock => {
                        u.held_back.push(s.host.clone());
                        u.held_back_why = "the lock was lost".into();
                    }
                }
            }
            if !u.held_back.is_empty() {
                u.held_back.extend(queue.drain(..).map(|s| s.host));
                break;
            }
        }
        u
    }

    /// `undo_one` between the host's `pre_host` and `post_host` hooks (the
    /// load balancer drains it for the way back too). A failing `pre_host`
    /// hook is reported and the host goes back all the same: getting back
    /// to the good release comes first.
    async fn undo_hooked(
        &self,
        req: &Request,
        facts: &HookFacts,
        s: &Swap,
        project: &Project,
        lock: &FleetLock,
    ) -> One {
        let mut f = facts.clone();
        f.host = Some(s.host.clone());
        f.host_address = Some(s.address.clone());
        if let Err(why) = self.hooks(req, project, HookPoint::PreHost, &f).await {
            warn!(host = %s.host, %why, "undo: the pre_host hook failed; rolling the host back all the same");
        }
        let r = self.undo_one(s, project, lock).await;
        f.result = Some(
            match &r {
                One::RolledBack => "rolled back",
                One::Stayed(_) => "stayed",
                One::Down(_) => "failed",
                One::NoLock => "not rolled back",
            }
            .to_string(),
        );
        if let One::Stayed(w) | One::Down(w) = &r {
            f.error = Some(w.clone());
        }
        let _ = self.hooks(req, project, HookPoint::PostHost, &f).await;
        r
    }

    /// Swap one host back: retire the new container, bring the old one back.
    /// When the old one will not come back healthy, the new one serves again.
    async fn undo_one(&self, s: &Swap, project: &Project, lock: &FleetLock) -> One {
        let t0 = Instant::now();
        let Some(old) = &s.old else {
            return One::RolledBack;
        };
        if !lock.ensure_held().await {
            return One::NoLock;
        }
        let eng = &s.engine;
        let base = naming::serving(&s.new.project, &s.new.env);
        self.host_event(
            &s.host,
            HostPhase::RollingBack,
            t0,
            Some(format!("to {}", old.version)),
        );
        // The new container goes out of service: retired when this release
        // made it, kept again when it was a good release restarted.
        let away = if s.new_was_kept {
            naming::kept(&s.new.project, &s.new.env, &s.new.version, &s.new.id)
        } else {
            naming::retired(&s.new.project, &s.new.env, &s.new.version, &s.new.id)
        };
        if let Err(e) = self.keep(eng, &s.new, &away).await {
            // The new one may still serve: make sure it does.
            let back = self.serve(eng, &s.new, &base, project).await;
            let why = format!("taking {} down failed: {}", s.new.version, e.short());
            self.host_event(&s.host, HostPhase::RestoreFailed, t0, Some(why.clone()));
            return match back {
                Ok(()) => One::Stayed(why),
                Err(e2) => One::Down(format!(
                    "{why}; and it could not be started again: {}",
                    e2.short()
                )),
            };
        }
        let old_ok = self
            .serve_healthy(eng, old, &base, &s.address, project)
            .await;
        match old_ok {
            Ok(()) => {
                self.host_event(
                    &s.host,
                    HostPhase::RolledBack,
                    t0,
                    Some(format!("back on {}", old.version)),
                );
                One::RolledBack
            }
            Err(why) => {
                // Never leave a host empty: the new container serves again.
                let kept = naming::kept(&old.project, &old.env, &old.version, &old.id);
                if let Err(e) = self.keep(eng, old, &kept).await {
                    // It holds the serving name and cannot be moved aside:
                    // the new one cannot take the name back. Say so.
                    let why = format!(
                        "{why}; and it could not be taken down again ({}), so {} could not serve again",
                        e.short(),
                        s.new.version
                    );
                    self.host_event(&s.host, HostPhase::RestoreFailed, t0, Some(why.clone()));
                    return One::Down(why);
                }
                let again = self
                    .serve_healthy(eng, &s.new, &base, &s.address, project)
                    .await;
                match again {
                    Ok(()) => {
                        self.host_event(
                            &s.host,
                            HostPhase::Healthy,
                            t0,
                            Some(format!("{why}; {} serves again", s.new.version)),
                        );
                        One::Stayed(why)
                    }
                    Err(e) => {
                        let why =
                            format!("{why}; {} could not serve again either: {e}", s.new.version);
                        self.host_event(&s.host, HostPhase::RestoreFailed, t0, Some(why.clone()));
                        One::Down(why)
                    }
                }
            }
        }
    }

    /// Keep the newest `keep` good releases' containers on one host; remove
    /// retired ones and older releases first.
    /// `spare`: containers never to remove (the new one, a host's way back
    /// while the rollout may still undo it).
    pub(super) async fn prune(
        &self,
        eng: &Engine,
        project: &str,
        env: &str,
        keep: usize,
        bad: &HashSet<String>,
        spare: &[String],
    ) {
        let Ok(all) = eng.app_containers_listed(project, env).await else {
            return;
        };
        let candidate =
            |c: &&AppContainer| c.role != Role::Serving && c.state != ContainerState::Running;
        let good = |c: &AppContainer| {
            c.role == Role::Kept && c.release.as_ref().is_none_or(|r| !bad.contains(r))
        };
        // A spared good kept container counts against `keep` all the same.
        let spared = all
            .iter()
            .filter(candidate)
            .filter(|c| spare.contains(&c.id) && good(c))
            .count();
        let keep = keep.saturating_sub(spared);
        let mut old: Vec<&AppContainer> = all
            .iter()
            .filter(candidate)
            .filter(|c| !spare.contains(&c.id))
            .collect();
        // Good releases first (newest first), then the rest (newest first).
        old.sort_by_key(|c| (!good(c), std::cmp::Reverse(decide::deployed_time(c))));
        let mut removed = 0;
        for c in old.iter().skip(keep) {
            if eng.remove(&c.id).await.is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            self.emit(RolloutEvent::Pruned {
                host: eng.host.clone(),
                removed,
            });
        }
    }
}
