//! Headless commands: the same engine as the console, printed as lines or JSON.

use std::io::Write;
use std::sync::Arc;

use serde::Serialize;

use crate::config::Config;
use crate::domain::summary::{
    EnvSummary, Serving, duration_short, env_summary, health_text, host_summaries, state_text,
};
use crate::domain::{AppContainer, Fleet, Reachability};
use crate::engine::snapshot_fleet;

/// Exit code of `status` when some engine did not answer.
pub const EXIT_UNREACHABLE: i32 = 3;

#[derive(Serialize)]
struct HostJson {
    name: String,
    endpoint: String,
    reach: Reachability,
    containers: Vec<AppContainer>,
}

#[derive(Serialize)]
struct EnvHostJson {
    host: String,
    reach: &'static str,
    /// `serving`, `none` (the engine answers, no serving container) or
    /// `unknown` (the engine does not answer).
    serving: &'static str,
    /// The serving container (for `unknown`: none, what was seen is not
    /// reported as fact).
    container: Option<AppContainer>,
    uptime_secs: Option<i64>,
    kept: usize,
}

#[derive(Serialize)]
struct EnvJson {
    name: String,
    /// A rollout running, pausing, paused or aborting (the lock says so),
    /// an interrupted release, or idle.
    rollout: crate::rollout::activity::Activity,
    /// The newest release of this project+env in the local journal never
    /// finished (the deploying process died): resume or roll back.
    #[serde(skip_serializing_if = "Option::is_none")]
    interrupted: Option<crate::rollout::journal::ReleaseSummary>,
    verdict: crate::domain::summary::Verdict,
    hosts_total: usize,
    running: usize,
    healthy: usize,
    unhealthy: usize,
    /// Running without a health check (not counted healthy).
    no_check: usize,
    unreachable: usize,
    /// Reachable hosts without a serving container.
    missing: usize,
    health: String,
    versions: Vec<(String, usize)>,
    hosts: Vec<EnvHostJson>,
}

#[derive(Serialize)]
struct ProjectJson {
    name: String,
    image: String,
    environments: Vec<EnvJson>,
}

#[derive(Serialize)]
struct StatusJson {
    generated_at: String,
    config: String,
    hosts: Vec<HostJson>,
    projects: Vec<ProjectJson>,
}

fn env_json(
    fleet: &Fleet,
    now: chrono::DateTime<chrono::Utc>,
    project: &str,
    hosts: &[String],
    s: EnvSummary,
) -> EnvJson {
    let rows = host_summaries(fleet, project, &s.env, hosts)
        .into_iter()
        .map(|r| {
            let (serving, container) = match r.serving {
                Serving::Container(c) => ("serving", Some(*c)),
                Serving::None => ("none", None),
                Serving::Unknown { .. } => ("unknown", None),
            };
            EnvHostJson {
                uptime_secs: container.as_ref().and_then(|c| c.uptime_secs(now)),
                host: r.host,
                reach: r.reach.word(),
                serving,
                container,
                kept: r.kept,
            }
        })
        .collect();
    EnvJson {
        interrupted: None,
        rollout: crate::rollout::activity::Activity::Idle,
        verdict: s.verdict(),
        health: s.health_text(),
        name: s.env.clone(),
        hosts_total: s.hosts,
        running: s.running,
        healthy: s.healthy,
        unhealthy: s.unhealthy,
        no_check: s.no_check,
        unreachable: s.unreachable,
        missing: s.missing,
        versions: s.versions,
        hosts: rows,
    }
}

/// `shipdeck status [PROJECT [ENV]] [--json]`. Returns the exit code.
pub async fn status(
    config: Arc<Config>,
    journal: &crate::rollout::journal::Journal,
    project: Option<&str>,
    env: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    if let Some(p) = project
        && config.project(p).is_none()
    {
        let known: Vec<&str> = config.projects.iter().map(|p| p.name.as_str()).collect();
        anyhow::bail!(
            "no project \"{p}\" in {}; known projects: {}",
            config.path.display(),
            known.join(", ")
        );
    }
    if let Some(e) = env
        && config.environment(e).is_none()
    {
        let known: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        anyhow::bail!(
            "no environment \"{e}\" in {}; known environments: {}",
            config.path.display(),
            known.join(", ")
        );
    }
    // What goes on in each environment shown: its lock, its last release.
    let pairs: Vec<(String, String)> = config
        .projects
        .iter()
        .filter(|p| project.is_none_or(|name| p.name == name))
        .flat_map(|p| {
            config
                .environments
                .iter()
                .filter(|e| env.is_none_or(|name| e.name == name))
                .filter(|e| !p.hosts_in(&e.name).is_empty())
                .map(|e| (p.name.clone(), e.name.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let (fleet, activities) = tokio::join!(
        snapshot_fleet(&config),
        futures::future::join_all(
            pairs
                .iter()
                .map(|(p, e)| { crate::rollout::activity::activity(&config, journal, p, e) })
        )
    );
    let activity: std::collections::HashMap<(String, String), crate::rollout::activity::Activity> =
        pairs.into_iter().zip(activities).collect();
    let now = chrono::Utc::now();
    let unreachable = fleet
        .hosts
        .values()
        .filter(|h| !h.reach.is_reachable())
        .count();

    let projects: Vec<ProjectJson> = config
        .projects
        .iter()
        .filter(|p| project.is_none_or(|name| p.name == name))
        .map(|p| ProjectJson {
            name: p.name.clone(),
            image: p.image.clone(),
            environments: config
                .environments
                .iter()
                .filter(|e| env.is_none_or(|name| e.name == name))
                .filter(|e| !p.hosts_in(&e.name).is_empty())
                .map(|e| {
                    let hosts = p.hosts_in(&e.name);
                    let summary = env_summary(&fleet, &p.name, &e.name, hosts);
                    let mut j = env_json(&fleet, now, &p.name, hosts, summary);
                    if let Some(a) = activity.get(&(p.name.clone(), e.name.clone())) {
                        if let crate::rollout::activity::Activity::Interrupted { release } = a {
                            j.interrupted = Some((**release).clone());
                        }
                        j.rollout = a.clone();
                    }
                    j
                })
                .collect(),
        })
        .collect();

    if json {
        let doc = StatusJson {
            generated_at: now.to_rfc3339(),
            config: config.path.display().to_string(),
            hosts: fleet
                .hosts
                .values()
                .map(|h| HostJson {
                    name: h.name.clone(),
                    endpoint: h.endpoint.clone(),
                    reach: h.reach.clone(),
                    containers: h.containers.values().cloned().collect(),
                })
                .collect(),
            projects,
        };
        serde_json::to_writer(&mut *out, &doc)?;
        writeln!(out)?;
    } else {
        for p in &projects {
            for e in &p.environments {
                let versions = if e.versions.is_empty() {
                    "-".to_string()
                } else {
                    e.versions
                        .iter()
                        .map(|(v, n)| format!("{v}×{n}"))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                writeln!(
                    out,
                    "{:<24} {:<9} {:<16} {}{}",
                    format!("{}/{}", p.name, e.name),
                    e.verdict.word(),
                    versions,
                    e.health,
                    if e.unreachable > 0 {
                        format!(", {} unreachable", e.unreachable)
                    } else {
                        String::new()
                    }
                )?;
                if let crate::rollout::activity::Activity::Running {
                    phase,
                    lock,
                    release,
                } = &e.rollout
                {
                    writeln!(
                        out,
                        "  ROLLOUT {}: {} by {} (release {}{}){}",
                        phase.to_uppercase(),
                        release
                            .as_ref()
                            .map(|r| format!("{} {}", r.action, r.version))
                            .unwrap_or_else(|| "a release".into()),
                        lock.owner,
                        lock.release,
                        if lock.message.is_empty() {
                            String::new()
                        } else {
                            format!(", \"{}\"", lock.message)
                        },
                        lock.state
                            .as_ref()
                            .map(|s| format!(": {}", s.detail))
                            .unwrap_or_default()
                    )?;
                }
                if let Some(r) = &e.interrupted {
                    writeln!(
                        out,
                        "  INTERRUPTED: {} of {} by {} at {} (release {}) never finished; run `shipdeck deploy {} {} --resume` or `shipdeck rollback {} {}`",
                        r.action,
                        r.version,
                        r.user,
                        r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        r.release,
                        p.name,
                        e.name,
                        p.name,
                        e.name
                    )?;
                }
                for h in &e.hosts {
                    match &h.container {
                        Some(c) => writeln!(
                            out,
                            "  {:<12} {:<11} {:<10} {:<10} {:<9} up {:<7} restarts {}",
                            h.host,
                            h.reach,
                            state_text(c),
                            c.version,
                            health_text(c),
                            h.uptime_secs
                                .map(duration_short)
                                .unwrap_or_else(|| "-".into()),
                            c.restarts
                        )?,
                        None if h.serving == "unknown" => writeln!(
                            out,
                            "  {:<12} {:<11} unknown (the engine does not answer)",
                            h.host, h.reach
                        )?,
                        None => writeln!(
                            out,
                            "  {:<12} {:<11} no serving container{}",
                            h.host,
                            h.reach,
                            if h.kept > 0 {
                                format!(" ({} kept)", h.kept)
                            } else {
                                String::new()
                            }
                        )?,
                    }
                }
            }
        }
        for h in fleet.hosts.values() {
            if let Reachability::Unreachable { error, .. } = &h.reach {
                writeln!(out, "unreachable: {} ({}): {error}", h.name, h.endpoint)?;
            }
        }
        writeln!(
            out,
            "engines: {}/{} reachable",
            fleet.hosts.len() - unreachable,
            fleet.hosts.len()
        )?;
    }
    Ok(if unreachable > 0 { EXIT_UNREACHABLE } else { 0 })
}
