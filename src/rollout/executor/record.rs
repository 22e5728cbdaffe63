//! The rollout's record on the fleet: its entry in the release ledger as
//! it starts and as it ends, with the marks a successful rollback leaves.

use super::*;

impl Runner {
    /// The record of this release on the fleet as it starts.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn ledger_start(
        &self,
        copies: &mut ledger::Copies,
        req: &Request,
        reach: &Reach,
        release: &str,
        intent: &Intent,
        plan: &Plan,
        fleet: &[HostView],
    ) {
        // The fleet's clock, not this machine's: releases from several
        // operators' laptops are ordered by it.
        let started_at = match reach.engines.first() {
            Some(e) => e.engine_time().await.unwrap_or_else(Utc::now),
            None => Utc::now(),
        };
        let entry = ledger::Entry {
            release: release.to_string(),
            action: intent.action,
            version: intent.version.clone(),
            digest: intent.digest.clone(),
            user: req.user.clone(),
            started_at,
            finished_at: None,
            outcome: None,
            duration_secs: None,
            rolled_back: false,
            message: String::new(),
            note: req.message.clone(),
            promoted_from: intent.promoted_from.clone(),
            resumes: intent.resumes.clone(),
            hosts: plan.hosts.len(),
            from_versions: decide::majority_versions(fleet),
        };
        let n = copies.apply(&|all| ledger::upsert(all, &entry)).await;
        if n == 0 {
            warn!("ledger: no host recorded the start of this release");
        }
    }

    /// The record of this release on the fleet as it ends, and the marks on
    /// the releases a successful rollback went back from.
    pub(super) async fn ledger_end(
        &self,
        copies: &mut ledger::Copies,
        release: &str,
        ending: &Ending,
        duration: f64,
    ) {
        let now = Utc::now();
        let rolled_back: HashSet<String> = ending.rolled_back.iter().cloned().collect();
        let digest = ending.intent.digest.clone();
        let outcome = ending.outcome;
        let message = ending.message.clone();
        copies
            .apply(&|all| {
                if let Some(e) = all.iter_mut().find(|e| e.release == release) {
                    e.finished_at = Some(now);
                    e.outcome = Some(outcome);
                    e.duration_secs = Some(duration);
                    e.message = message.clone();
                    if e.digest.is_none() {
                        e.digest = digest.clone();
                    }
                }
                for e in all.iter_mut() {
                    if rolled_back.contains(&e.release) {
                        e.rolled_back = true;
                    }
                }
            })
            .await;
    }
}
