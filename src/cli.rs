//! Headless commands: the same engine as the console, printed as lines or JSON.

use std::io::Write;
use std::sync::Arc;

use serde::Serialize;

use crate::app::State;
use crate::app::rows::{EnvSummary, env_summary, host_rows};
use crate::config::Config;
use crate::domain::{AppContainer, Reachability};
use crate::engine::snapshot_fleet;
use crate::paths::Paths;
use crate::ui::format::duration_short;

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
    verdict: &'static str,
    hosts_total: usize,
    running: usize,
    healthy: usize,
    unhealthy: usize,
    unreachable: usize,
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

fn env_json(state: &State, project: &str, s: EnvSummary) -> EnvJson {
    let hosts = host_rows(state, project, &s.env, "")
        .into_iter()
        .map(|r| EnvHostJson {
            uptime_secs: r.container.as_ref().and_then(|c| c.uptime_secs(state.now)),
            host: r.host,
            reach: r.reach.word(),
            container: r.container,
            kept: r.kept,
        })
        .collect();
    EnvJson {
        interrupted: None,
        rollout: crate::rollout::activity::Activity::Idle,
        verdict: s.verdict(),
        name: s.env,
        hosts_total: s.hosts,
        running: s.running,
        healthy: s.healthy,
        unhealthy: s.unhealthy,
        unreachable: s.unreachable,
        versions: s.versions,
        hosts,
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
    let mut state = State::new(config.clone(), chrono::Utc::now());
    state.fleet = fleet;
    let unreachable = state
        .fleet
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
                    let mut j = env_json(&state, &p.name, env_summary(&state, &p.name, &e.name));
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
            generated_at: state.now.to_rfc3339(),
            config: config.path.display().to_string(),
            hosts: state
                .fleet
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
                    "{:<24} {:<9} {:<16} healthy {}/{}{}",
                    format!("{}/{}", p.name, e.name),
                    e.verdict,
                    versions,
                    e.healthy,
                    e.hosts_total,
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
                            "  {:<12} {:<11} {:<9} {:<10} {:<9} up {:<7} restarts {}",
                            h.host,
                            h.reach,
                            c.state.word(),
                            c.version,
                            c.health.word(),
                            h.uptime_secs
                                .map(duration_short)
                                .unwrap_or_else(|| "-".into()),
                            c.restarts
                        )?,
                        None => writeln!(out, "  {:<12} {:<11} no container", h.host, h.reach)?,
                    }
                }
            }
        }
        for h in state.fleet.hosts.values() {
            if let Reachability::Unreachable { error, .. } = &h.reach {
                writeln!(out, "unreachable: {} ({}): {error}", h.name, h.endpoint)?;
            }
        }
        writeln!(
            out,
            "engines: {}/{} reachable",
            state.fleet.hosts.len() - unreachable,
            state.fleet.hosts.len()
        )?;
    }
    Ok(if unreachable > 0 { EXIT_UNREACHABLE } else { 0 })
}

/// `shipdeck info [--json]`: where things live.
pub fn info(
    paths: &Paths,
    config_file: &std::path::Path,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if json {
        let mut v = serde_json::to_value(paths)?;
        v["config_file"] = serde_json::Value::String(config_file.display().to_string());
        v["version"] = serde_json::Value::String(env!("CARGO_PKG_VERSION").into());
        serde_json::to_writer(&mut *out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(out, "shipdeck {}", env!("CARGO_PKG_VERSION"))?;
        writeln!(out, "config file:  {}", config_file.display())?;
        writeln!(out, "config dir:   {}", paths.config_dir.display())?;
        writeln!(out, "themes dir:   {}", paths.themes_dir.display())?;
        writeln!(out, "state dir:    {}", paths.state_dir.display())?;
        writeln!(out, "log file:     {}", paths.log_file.display())?;
    }
    Ok(())
}
