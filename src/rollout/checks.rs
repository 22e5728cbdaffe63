//! The checks every caller of a release shares (headless CLI and console):
//! what needs a typed confirmation, what an operator should know before a
//! deploy (the plan and its warnings), the lock's time to live, and which
//! release a rollback without a target goes back to. Neither caller owns
//! policy the other lacks. Must not import ratatui or app/ui.

use std::time::Duration;

use super::journal::{Journal, ReleaseSummary};
use super::lock::{self, DEFAULT_TTL};
use super::plan::{Plan, make_plan};
use crate::config::Config;

/// What must happen before a mutating action on an environment goes ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// A yes is enough.
    Plain,
    /// The environment is protected (`confirm = true`): its name, typed.
    TypeName(String),
}

impl Confirmation {
    /// The confirmation a release (deploy, promote, rollback, resume, lock
    /// break, removing a project) on `env` needs.
    pub fn for_env(config: &Config, env: &str) -> Self {
        match config.environment(env) {
            Some(e) if e.confirm => Confirmation::TypeName(env.to_string()),
            _ => Confirmation::Plain,
        }
    }
    /// The text that must be typed, if any.
    pub fn expected(&self) -> Option<&str> {
        match self {
            Confirmation::Plain => None,
            Confirmation::TypeName(n) => Some(n),
        }
    }
}

/// Whether an environment refuses every mutating action (`readonly = true`).
pub fn env_readonly(config: &Config, env: &str) -> bool {
    config.environment(env).is_some_and(|e| e.readonly)
}

/// The release `rollback` without a target goes back to, from the
/// releases of one project+environment (oldest first, refused ones left
/// out): when the newest release succeeded, the good release before it of
/// another version; when it failed, was interrupted or rolled back, the
/// newest good release. Failed and rolled-back releases are never chosen.
pub fn rollback_choice<'a>(real: &[&'a ReleaseSummary]) -> Option<&'a ReleaseSummary> {
    let current = real.last()?;
    let clean = current.good();
    real[..real.len() - 1]
        .iter()
        .rev()
        .find(|r| r.good() && (!clean || r.version != current.version))
        .copied()
}

/// What an operator should know before a deploy: a held lock, hosts that do
/// not answer, a tag the registry does not have.
pub async fn plan_warnings(
    config: &Config,
    project: &str,
    env: &str,
    version: &str,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(p) = config.project(project) else {
        return warnings;
    };
    // One connection to each host: who answers, then the lock on those.
    let reach_and_lock = async {
        let reach = crate::engine::Engine::connect_env(config, project, env).await;
        let engines: Vec<_> = reach
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().cloned())
            .collect();
        (reach, lock::status_on(config, &engines, project, env).await)
    };
    let registry = async {
        match crate::registry::RegistryClient::for_project(config, p) {
            Ok(c) => Some(c.manifest_digest(version).await),
            Err(e) => Some(Err(e)),
        }
    };
    let ((reach, held), tag) = tokio::join!(reach_and_lock, registry);
    let down: Vec<String> = reach
        .into_iter()
        .filter_map(|(n, r)| r.err().map(|e| format!("{n} ({})", e.short())))
        .collect();
    if !down.is_empty() {
        warnings.push(format!(
            "{} host(s) do not answer: {}; the deploy is refused unless on_pull_failure = \"skip-host\"",
            down.len(),
            down.join(", ")
        ));
    }
    if let Ok(Some(l)) = held
        && !l.expired
    {
        warnings.push(format!(
            "{project}/{env} is locked by {} (release {}, {}): a deploy now is refused, or waits with --lock-wait",
            l.owner,
            l.release,
            l.phase_word()
        ));
    }
    match tag {
        Some(Ok(None)) => warnings.push(format!(
            "the registry has no tag {version} for {}: the pull will fail (see `shipdeck tags {project}`)",
            p.image
        )),
        Some(Err(e)) => warnings.push(format!("the registry could not be asked about {version}: {e}")),
        _ => {}
    }
    warnings
}

/// The plan of deploying `v`, with its warnings.
pub async fn preview(
    config: &Config,
    journal: &Journal,
    p: &str,
    e: &str,
    v: &str,
) -> Result<Plan, String> {
    let history = journal.releases_async().await;
    let mut plan = make_plan(config, p, e, v, &history).map_err(|e| e.to_string())?;
    plan.warnings = plan_warnings(config, p, e, v).await;
    Ok(plan)
}

/// The lock's time to live: `SHIPDECK_LOCK_TTL` seconds (2..=3600), else 30 s.
/// A rollout whose process died blocks others for at most this long.
pub fn lock_ttl() -> Duration {
    std::env::var("SHIPDECK_LOCK_TTL")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| (2..=3600).contains(s))
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TTL)
}
