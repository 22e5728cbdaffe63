//! The rollout planner: which hosts go in which batch, how many may be out of
//! service at once, which gates apply, and how long it should take. Pure: no
//! I/O, so every rule here is unit-tested.

use serde::Serialize;

use crate::config::{Config, MaxUnavailable, Project};

use super::journal::ReleaseSummary;

/// `max_unavailable` resolved for `n` hosts: at least 1, at most `n`.
pub fn max_unavailable(policy: MaxUnavailable, n: usize) -> usize {
    let k = match policy {
        MaxUnavailable::Count(c) => c as usize,
        MaxUnavailable::Percent(p) => (n * p as usize).div_ceil(100),
        MaxUnavailable::Default => n.div_ceil(8),
    };
    k.clamp(1, n.max(1))
}

/// Split `hosts` into batches of at most `size`, the first being a single
/// canary host when `canary` is set.
pub fn batches(hosts: &[String], size: usize, canary: bool) -> Vec<Vec<String>> {
    let size = size.max(1);
    let mut out = Vec::new();
    let rest = if canary && !hosts.is_empty() {
        out.push(vec![hosts[0].clone()]);
        &hosts[1..]
    } else {
        hosts
    };
    out.extend(rest.chunks(size).map(<[String]>::to_vec));
    out
}

/// What a rollout will do, shown before anything happens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub project: String,
    pub env: String,
    pub version: String,
    /// `repository:version`.
    pub image: String,
    pub hosts: Vec<String>,
    pub batches: Vec<Vec<String>>,
    pub max_unavailable: usize,
    /// Hosts that keep serving during each batch (never below `n - max_unavailable`).
    pub min_serving: usize,
    pub canary: bool,
    /// Human-readable gates that apply (typed confirmation, promotion rule…).
    pub gates: Vec<String>,
    /// Whether the environment wants its name typed before a deploy.
    pub confirm: bool,
    /// From the journal's successful rollouts of this project+env, if any.
    pub predicted_secs: Option<f64>,
    /// What an operator should know before going on (a held lock,
    /// unreachable hosts, a tag the registry does not have).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no project \"{name}\" in the inventory; known projects: {known}")]
    UnknownProject { name: String, known: String },
    #[error("no environment \"{name}\" in the inventory; known environments: {known}")]
    UnknownEnv { name: String, known: String },
    #[error(
        "project \"{project}\" has no hosts in \"{env}\"; add them under [projects.hosts] {env} = [...]"
    )]
    NoHosts { project: String, env: String },
    #[error(
        "bad version {version:?}: a tag is 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"
    )]
    BadVersion { version: String },
}

/// Resolve `project` and `env` names against the inventory.
pub fn target<'a>(config: &'a Config, project: &str, env: &str) -> Result<&'a Project, PlanError> {
    let p = config
        .project(project)
        .ok_or_else(|| PlanError::UnknownProject {
            name: project.to_string(),
            known: config
                .projects
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    if config.environment(env).is_none() {
        return Err(PlanError::UnknownEnv {
            name: env.to_string(),
            known: config
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if p.hosts_in(env).is_empty() {
        return Err(PlanError::NoHosts {
            project: project.to_string(),
            env: env.to_string(),
        });
    }
    Ok(p)
}

/// A Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_version(v: &str) -> bool {
    let mut chars = v.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => {}
        _ => return false,
    }
    v.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Make the plan for deploying `version` of `project` to `env`.
pub fn make_plan(
    config: &Config,
    project: &str,
    env: &str,
    version: &str,
    history: &[ReleaseSummary],
) -> Result<Plan, PlanError> {
    let p = target(config, project, env)?;
    if !valid_version(version) {
        return Err(PlanError::BadVersion {
            version: version.to_string(),
        });
    }
    let hosts = p.hosts_in(env).to_vec();
    let n = hosts.len();
    let k = max_unavailable(p.rollout.max_unavailable, n);
    let canary = p.rollout.canary && n > 1;
    let environment = config.environment(env);
    let confirm = environment.is_some_and(|e| e.confirm);
    let mut gates = Vec::new();
    if confirm {
        gates.push(format!("type \"{env}\" to confirm (or --yes)"));
    }
    if let Some(from) = environment.and_then(|e| e.require_promotion_from.as_ref()) {
        gates.push(format!("only versions that run healthy in \"{from}\""));
    }
    if canary {
        gates.push(match p.rollout.canary_wait_secs {
            Some(s) => format!("canary on {} waits {s}s or for resume", hosts[0]),
            None => format!("canary on {} waits for resume", hosts[0]),
        });
    }
    let predicted_secs = predict(history, project, env, n);
    Ok(Plan {
        project: project.to_string(),
        env: env.to_string(),
        version: version.to_string(),
        image: format!("{}:{version}", p.image),
        batches: batches(&hosts, k, canary),
        min_serving: n - k,
        max_unavailable: k,
        canary,
        gates,
        confirm,
        predicted_secs,
        warnings: Vec::new(),
        hosts,
    })
}

/// Median duration of past successful rollouts of this project+env, scaled by
/// the host count when it changed.
fn predict(history: &[ReleaseSummary], project: &str, env: &str, n: usize) -> Option<f64> {
    let mut per_host: Vec<f64> = history
        .iter()
        .filter(|r| r.project == project && r.env == env && r.succeeded() && r.hosts > 0)
        .filter_map(|r| r.duration_secs.map(|d| d / r.hosts as f64))
        .collect();
    if per_host.is_empty() {
        return None;
    }
    per_host.sort_by(f64::total_cmp);
    let median = per_host[per_host.len() / 2];
    Some(median * n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i:02}")).collect()
    }

    #[test]
    fn default_is_ceil_n_over_8() {
        assert_eq!(max_unavailable(MaxUnavailable::Default, 1), 1);
        assert_eq!(max_unavailable(MaxUnavailable::Default, 8), 1);
        assert_eq!(max_unavailable(MaxUnavailable::Default, 9), 2);
        assert_eq!(max_unavailable(MaxUnavailable::Default, 28), 4);
    }

    #[test]
    fn counts_and_percentages_are_clamped() {
        assert_eq!(max_unavailable(MaxUnavailable::Count(3), 8), 3);
        assert_eq!(max_unavailable(MaxUnavailable::Count(30), 8), 8);
        assert_eq!(max_unavailable(MaxUnavailable::Percent(25), 8), 2);
        assert_eq!(max_unavailable(MaxUnavailable::Percent(10), 8), 1);
        assert_eq!(max_unavailable(MaxUnavailable::Percent(100), 3), 3);
    }

    #[test]
    fn batches_cover_every_host_once_in_order() {
        let h = names(28);
        let b = batches(&h, 4, false);
        assert_eq!(b.len(), 7);
        assert!(b.iter().all(|x| x.len() == 4));
        assert_eq!(b.concat(), h);
        let b = batches(&names(10), 4, false);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
    }

    #[test]
    fn canary_is_a_batch_of_one() {
        let b = batches(&names(8), 3, true);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 3, 3, 1]);
        assert_eq!(b.concat(), names(8));
    }

    #[test]
    fn versions() {
        assert!(valid_version("v2"));
        assert!(valid_version("1.4.0-rc1"));
        assert!(valid_version("abc123_20261121T1200"));
        assert!(!valid_version(""));
        assert!(!valid_version("-x"));
        assert!(!valid_version("v2 "));
        assert!(!valid_version("a:b"));
    }
}
