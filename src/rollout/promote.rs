//! Promotion: what runs healthy in one environment, by digest, is what the
//! next one gets. [`source`] reads the source environment from the fleet
//! (every host reachable, one serving container each, running, healthy, all
//! on one version and one digest, and answering the project's probes now);
//! the rollout executor then deploys exactly that digest.

use futures::future::join_all;
use thiserror::Error;

use crate::config::Config;
use crate::domain::labels::digest_hex12;
use crate::domain::naming;
use crate::domain::{ContainerState, Health};
use crate::engine::Engine;
use crate::health::probe_once;

/// The release a source environment can hand on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotable {
    pub version: String,
    pub digest: String,
    pub hosts: usize,
}

#[derive(Debug, Error)]
pub enum PromoteError {
    #[error("unknown project \"{0}\"; see `shipdeck status` for the projects in the inventory")]
    UnknownProject(String),
    #[error("unknown environment \"{env}\"; environments in promotion order: {known}")]
    UnknownEnv { env: String, known: String },
    #[error("cannot promote {project} from \"{env}\" to itself; name the next environment")]
    SameEnv { project: String, env: String },
    #[error(
        "{project}/{to} only takes releases promoted from \"{required}\" (require_promotion_from), not from \"{from}\"; run `shipdeck promote {project} {required} {to}`"
    )]
    WrongSource {
        project: String,
        from: String,
        to: String,
        required: String,
    },
    #[error("{project} has no hosts in \"{env}\"; nothing runs there to promote")]
    NoHosts { project: String, env: String },
    #[error(
        "{project}/{env} is not promotable, nothing was changed:\n{}\n  hint: promote only from an environment where one version runs healthy on every host (see `shipdeck status {project} {env}`)",
        problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    NotPromotable {
        project: String,
        env: String,
        problems: Vec<String>,
    },
    #[error(
        "{project}/{env} only takes releases promoted from \"{from}\" (require_promotion_from), and {version} never ran here (no kept container of it on {hosts}); roll back to a release this environment ran, or promote {version}: `shipdeck promote {project} {from} {env}`"
    )]
    NotRanHere {
        project: String,
        env: String,
        from: String,
        version: String,
        hosts: String,
    },
    #[error(
        "{project}/{env} requires promotion: the interrupted release was {version} ({resumed}), but what runs healthy before {env} is {healthy}; run `shipdeck promote` instead of --resume"
    )]
    PinMismatch {
        project: String,
        env: String,
        version: String,
        resumed: String,
        healthy: String,
    },
    #[error(
        "{project}/{to} requires promotion from \"{from}\" and version \"{version}\" does not run healthy there:\n{}\n  hint: deploy it to {from} first, then `shipdeck promote {project} {from} {to}`",
        problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    Gate {
        project: String,
        from: String,
        to: String,
        version: String,
        problems: Vec<String>,
    },
}

/// What one host of the source environment runs.
struct Seen {
    host: String,
    version: String,
    digest: Option<String>,
}

/// Reads `project` in `env` from the fleet and returns its single healthy
/// release, or every reason it is not one.
pub async fn source(
    config: &Config,
    project: &str,
    env: &str,
    http: &reqwest::Client,
) -> Result<Promotable, PromoteError> {
    let p = config
        .project(project)
        .ok_or_else(|| PromoteError::UnknownProject(project.to_string()))?;
    known_env(config, env)?;
    let hosts = p.hosts_in(env);
    if hosts.is_empty() {
        return Err(PromoteError::NoHosts {
            project: project.to_string(),
            env: env.to_string(),
        });
    }
    let base = naming::serving(project, env);
    let per_host = join_all(hosts.iter().map(|name| {
        let base = base.clone();
        async move {
            let eng = Engine::connect_host(config, name)
                .await
                .map_err(|e| format!("{name}: unreachable ({})", e.short()))?;
            let all = eng
                .app_containers(project, env)
                .await
                .map_err(|e| format!("{name}: {}", e.short()))?;
            let Some(c) = all.iter().find(|c| c.name == base) else {
                return Err(format!("{name}: no {base} container"));
            };
            if c.state != ContainerState::Running {
                return Err(format!("{name}: {} is {:?}, not running", c.name, c.state));
            }
            match c.health {
                Health::Unhealthy => return Err(format!("{name}: {} is unhealthy", c.version)),
                Health::Starting => {
                    return Err(format!("{name}: {} is still starting", c.version));
                }
                _ => {}
            }
            let address = config
                .host(name)
                .map(|h| h.probe_address())
                .unwrap_or_default();
            probe_once(&address, &p.health, http)
                .await
                .map_err(|e| format!("{name}: {} fails its probe: {e}", c.version))?;
            Ok(Seen {
                host: name.clone(),
                version: c.version.clone(),
                digest: c.digest.clone(),
            })
        }
    }))
    .await;

    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for r in per_host {
        match r {
            Ok(s) => seen.push(s),
            Err(p) => problems.push(p),
        }
    }
    for s in &seen {
        if s.digest.as_deref().unwrap_or("").is_empty() {
            problems.push(format!(
                "{}: {} carries no digest label (not deployed by shipdeck?)",
                s.host, s.version
            ));
        }
    }
    let mut releases: Vec<(String, Option<String>, Vec<String>)> = Vec::new();
    for s in &seen {
        match releases
            .iter_mut()
            .find(|(v, d, _)| *v == s.version && *d == s.digest)
        {
            Some((_, _, hs)) => hs.push(s.host.clone()),
            None => releases.push((s.version.clone(), s.digest.clone(), vec![s.host.clone()])),
        }
    }
    if releases.len() > 1 {
        let parts: Vec<String> = releases
            .iter()
            .map(|(v, d, hs)| {
                format!(
                    "{v} ({}) on {}",
                    d.as_deref()
                        .map(digest_hex12)
                        .unwrap_or_else(|| "no digest".into()),
                    hs.join(", ")
                )
            })
            .collect();
        problems.push(format!("mixed releases: {}", parts.join("; ")));
    }
    if !problems.is_empty() {
        return Err(PromoteError::NotPromotable {
            project: project.to_string(),
            env: env.to_string(),
            problems,
        });
    }
    match releases.pop() {
        Some((version, Some(digest), hs)) => Ok(Promotable {
            version,
            digest,
            hosts: hs.len(),
        }),
        _ => Err(PromoteError::NotPromotable {
            project: project.to_string(),
            env: env.to_string(),
            problems: vec!["no running release found".into()],
        }),
    }
}

fn known_env(config: &Config, env: &str) -> Result<(), PromoteError> {
    if config.environment(env).is_some() {
        return Ok(());
    }
    Err(PromoteError::UnknownEnv {
        env: env.to_string(),
        known: config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(" → "),
    })
}

/// `promote P FROM TO`: the checks before the fleet is read.
pub fn check_path(
    config: &Config,
    project: &str,
    from: &str,
    to: &str,
) -> Result<(), PromoteError> {
    if config.project(project).is_none() {
        return Err(PromoteError::UnknownProject(project.to_string()));
    }
    known_env(config, from)?;
    known_env(config, to)?;
    if from == to {
        return Err(PromoteError::SameEnv {
            project: project.to_string(),
            env: to.to_string(),
        });
    }
    if let Some(required) = config.promotion_source(to)
        && required != from
    {
        return Err(PromoteError::WrongSource {
            project: project.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            required: required.to_string(),
        });
    }
    Ok(())
}

/// The gate of `deploy P TO VERSION` when TO has `require_promotion_from`:
/// VERSION must be what runs healthy there. Returns the digest to pin, or
/// `None` when TO has no such gate.
pub async fn gate(
    config: &Config,
    project: &str,
    to: &str,
    version: &str,
    http: &reqwest::Client,
) -> Result<Option<String>, PromoteError> {
    let Some(from) = config.promotion_source(to).map(str::to_string) else {
        return Ok(None);
    };
    let gate_err = |problems: Vec<String>| PromoteError::Gate {
        project: project.to_string(),
        from: from.clone(),
        to: to.to_string(),
        version: version.to_string(),
        problems,
    };
    match source(config, project, &from, http).await {
        Ok(p) if p.version == version => Ok(Some(p.digest)),
        Ok(p) => Err(gate_err(vec![format!(
            "{from} runs {} ({}) on all {} host(s)",
            p.version,
            digest_hex12(&p.digest),
            p.hosts
        )])),
        Err(PromoteError::NotPromotable { problems, .. }) => Err(gate_err(problems)),
        Err(e) => Err(e),
    }
}

/// `rollback --to VERSION` into an environment with `require_promotion_from`:
/// only a release this environment ran before (a container of it is kept on
/// one of its hosts). Anything else is a new release and goes through promotion.
pub async fn check_rollback_target(
    config: &Config,
    project: &str,
    env: &str,
    version: &str,
) -> Result<Option<String>, PromoteError> {
    let Some(from) = config.promotion_source(env).map(str::to_string) else {
        return Ok(None);
    };
    let p = config
        .project(project)
        .ok_or_else(|| PromoteError::UnknownProject(project.to_string()))?;
    let found = join_all(p.hosts_in(env).iter().map(|name| async move {
        let eng = Engine::connect_host(config, name).await.ok()?;
        let all = eng.app_containers(project, env).await.ok()?;
        all.into_iter()
            .find(|c| c.version == version)
            .map(|c| c.digest.filter(|d| !d.is_empty()))
    }))
    .await;
    if let Some(pin) = found.into_iter().flatten().next() {
        return Ok(pin);
    }
    Err(PromoteError::NotRanHere {
        project: project.to_string(),
        env: env.to_string(),
        from,
        version: version.to_string(),
        hosts: p.hosts_in(env).join(", "),
    })
}
