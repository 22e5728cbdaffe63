//! The end of a rollout: undo per policy, what to prune, and the words —
//! host by host what failed and whether it was restored.

use super::*;

impl Runner {
    /// The end of a rollout: undo per policy, prune, and the words.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn conclude(
        &self,
        req: &Request,
        project: &Project,
        plan: &Plan,
        hosts: &[HostPlan],
        lock: &FleetLock,
        intent: Intent,
        end: WindowEnd,
        down: &mut HashSet<String>,
        history: &[ReleaseSummary],
        facts: &HookFacts,
    ) -> Ending {
        let WindowEnd {
            done,
            failed,
            skipped,
            stop,
        } = end;
        let mut needs: Vec<String> = failed
            .iter()
            .filter_map(HostFailure::needs_operator)
            .collect();
        let failures = describe_failures(&failed);
        let k = plan.max_unavailable.max(1);
        let ending = |outcome, message: String, needs: Vec<String>| {
            Ending::new(outcome, message, needs, intent.clone())
        };
        let undo_why = match &stop {
            Some(Stop::LockLost) => {
                let mut e = ending(
                    Outcome::Failed,
                    format!(
                        "the lock was lost (broken by someone, or no heartbeat got through); stopped launching hosts and undid nothing{}",
                        tail(&failures)
                    ),
                    needs,
                );
                e.lock_lost = true;
                return e;
            }
            Some(Stop::Interrupted) => {
                lock.report(Phase::Aborting, "interrupted").await;
                return ending(
                    Outcome::Interrupted,
                    format!(
                        "interrupted: {} host(s) replaced, the others untouched; finish with `shipdeck deploy {} {} --resume`, or `shipdeck rollback {} {}`{}",
                        done.len(),
                        req.project,
                        req.env,
                        req.project,
                        req.env,
                        tail(&failures)
                    ),
                    needs,
                );
            }
            Some(Stop::Aborted(why)) => Some((why.clone(), Outcome::Aborted)),
            Some(Stop::SignalAbort) => match project.rollout.failure_action {
                FailureAction::Rollback => {
                    Some(("aborted by a second signal".to_string(), Outcome::Aborted))
                }
                FailureAction::Pause => {
                    return ending(
                        Outcome::Aborted,
                        format!(
                            "aborted by a second signal; the {} replaced host(s) keep {} (failure_action = \"pause\"){}",
                            done.len(),
                            intent.version,
                            tail(&failures)
                        ),
                        needs,
                    );
                }
            },
            Some(Stop::CanaryTimeout) => Some((
                format!(
                    "nobody resumed the canary within canary_timeout ({})",
                    humantime::format_duration(Duration::from_millis(
                        project.rollout.canary_timeout_ms
                    ))
                ),
                Outcome::Aborted,
            )),
            Some(Stop::NoCapacity(why)) => {
                return ending(
                    if done.is_empty() && failed.is_empty() {
                        Outcome::Refused
                    } else {
                        Outcome::Failed
                    },
                    format!("{why}{}", tail(&failures)),
                    needs,
                );
            }
            // Too many failed hosts, or a required post_host / post_batch
            // hook failed: the same policy.
            Some(stop @ (Stop::Failed | Stop::Hook(_))) => {
                let reason = match stop {
                    Stop::Hook(why) => format!("{why}{}", tail(&failures)),
                    _ => failures.clone(),
                };
                match project.rollout.failure_action {
                    FailureAction::Pause => {
                        return ending(
                            Outcome::Failed,
                            format!(
                                "{reason}; no further host launched (failure_action = \"pause\": the {} replaced host(s) keep {})",
                                done.len(),
                                intent.version
                            ),
                            needs,
                        );
                    }
                    FailureAction::Rollback => Some((
                        format!("{reason}; no further host launched"),
                        Outcome::RolledBack,
                    )),
                }
            }
            None => None,
        };
        if let Some((why, outcome)) = undo_why {
            if done.is_empty() {
                let outcome = if outcome == Outcome::RolledBack {
                    Outcome::Failed
                } else {
                    outcome
                };
                return ending(outcome, why, needs);
            }
            let u = self
                .undo(req, facts, done, k, down, project, lock, &why)
                .await;
            needs.extend(u.needs_operator.iter().cloned());
            for h in &u.held_back {
                needs.push(format!(
                    "{h}: still on {}, not rolled back: {}",
                    intent.version, u.held_back_why
                ));
            }
            let outcome =
                if u.needs_operator.is_empty() && u.stayed.is_empty() && u.held_back.is_empty() {
                    outcome
                } else {
                    Outcome::Failed
                };
            return ending(outcome, format!("{why}; {}", u.summary()), needs);
        }

        // Ran to the end: the last good releases stay, the rest is pruned
        // (after this, beside the ledger's update).
        let mut bad = decide::bad_releases(history);
        if intent.action == Action::Rollback {
            bad.extend(intent.from_releases.iter().cloned());
        }
        // Every host once more, nothing spared now: the ones pruned during
        // the window spared their way back, which no undo needs any more
        // (after those prunes finish).
        let prune = Some((hosts.iter().map(|h| h.engine.clone()).collect(), bad));
        let left_out: Vec<&str> = project
            .hosts_in(&req.env)
            .iter()
            .filter(|h| !plan.hosts.contains(h))
            .map(String::as_str)
            .collect();
        let mut e = if !failed.is_empty() {
            ending(
                Outcome::Failed,
                format!("{failures} (within max_failure_ratio)"),
                needs,
            )
        } else if !left_out.is_empty() {
            // The target does not run everywhere: an honest exit code says so.
            ending(
                Outcome::Failed,
                format!(
                    "{} runs on every host rolled out to, but {} host(s) were left out: {}",
                    intent.version,
                    left_out.len(),
                    left_out.join(", ")
                ),
                needs,
            )
        } else if skipped == hosts.len() {
            ending(
                Outcome::Succeeded,
                format!("{} already ran healthy on every host", intent.version),
                needs,
            )
        } else {
            ending(Outcome::Succeeded, String::new(), needs)
        };
        if e.outcome == Outcome::Succeeded && intent.action == Action::Rollback {
            e.rolled_back = intent.from_releases.clone();
        }
        e.prune = prune;
        e
    }
}

/// `": a; b"` or nothing.
pub(super) fn tail(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("; {s}")
    }
}

/// One sentence per failed host: what failed and whether it was restored.
pub(super) fn describe_failures(failed: &[HostFailure]) -> String {
    failed
        .iter()
        .map(HostFailure::sentence)
        .collect::<Vec<_>>()
        .join("; ")
}
