//! What is going on in one project+environment, read from the fleet and the
//! journal for `status`, `history` and the console: a rollout running or
//! paused (its lock), a release that never finished (interrupted), or
//! nothing; and the releases as the journal and the fleet's ledger know them.
//! Must not import ratatui or app/ui.

use serde::Serialize;

use super::journal::{Journal, ReleaseSummary};
use super::ledger;
use super::lock::{self, LockInfo};
use crate::config::Config;
use crate::engine::Engine;

/// A project+environment's rollout state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Activity {
    /// No rollout runs, the last release finished.
    Idle,
    /// A rollout holds the lock: running, pausing, paused or aborting.
    Running {
        /// `running`, `pausing`, `paused`, `aborting`.
        phase: String,
        lock: Box<LockInfo>,
        release: Option<Box<ReleaseSummary>>,
    },
    /// The newest release never finished and nobody holds the lock: run
    /// `deploy --resume` or `rollback`.
    Interrupted { release: Box<ReleaseSummary> },
}

/// Connect to the environment's hosts (those that answer).
async fn engines(config: &Config, project: &str, env: &str) -> Vec<Engine> {
    Engine::connect_env(config, project, env)
        .await
        .into_iter()
        .filter_map(|(_, r)| r.ok())
        .collect()
}

/// The releases of `project`/`env`: the journal's and the fleet ledger's,
/// merged, oldest first.
pub async fn releases(
    config: &Config,
    journal: &Journal,
    project: &str,
    env: &str,
) -> Vec<ReleaseSummary> {
    releases_on(&engines(config, project, env).await, journal, project, env).await
}

/// [`releases`], with the ledger read from `engines`.
async fn releases_on(
    engines: &[Engine],
    journal: &Journal,
    project: &str,
    env: &str,
) -> Vec<ReleaseSummary> {
    let (entries, journal) = tokio::join!(
        ledger::read(engines, project, env),
        journal.releases_async()
    );
    ledger::with_journal(journal, entries, project, env)
}

/// What the lock alone says: a rollout running (without its release's
/// summary), or idle. Cheaper than [`activity`]: no journal, no ledger.
pub async fn lock_only(config: &Config, project: &str, env: &str) -> Activity {
    match lock::status(config, project, env).await {
        Ok(Some(l)) if !l.expired => Activity::Running {
            phase: l.phase_word().to_string(),
            lock: Box::new(l),
            release: None,
        },
        _ => Activity::Idle,
    }
}

/// What goes on in `project`/`env` now. One connection to each host serves
/// both the lock and the ledger.
pub async fn activity(config: &Config, journal: &Journal, project: &str, env: &str) -> Activity {
    let engines = engines(config, project, env).await;
    let (held, releases) = tokio::join!(
        lock::status_on(config, &engines, project, env),
        releases_on(&engines, journal, project, env)
    );
    let newest = releases.into_iter().rev().find(|r| !r.refused());
    if let Ok(Some(l)) = held
        && !l.expired
    {
        let release = newest.filter(|r| r.release == l.release).map(Box::new);
        return Activity::Running {
            phase: l.phase_word().to_string(),
            lock: Box::new(l),
            release,
        };
    }
    match newest {
        Some(r) if r.interrupted() => Activity::Interrupted {
            release: Box::new(r),
        },
        _ => Activity::Idle,
    }
}
