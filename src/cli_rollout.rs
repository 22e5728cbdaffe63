//! Headless rollout commands: plan, deploy, rollback, history, lock, control.
//! They drive `rollout::executor` and print its events as lines or JSON.
//!
//! Exit codes: 0 the target version runs healthy everywhere; 1 the rollout
//! ran and did not get there (failed, rolled back, aborted, refused after
//! start); 2 nothing was changed (bad input, gate, lock held, unreachable).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::health::probe_client;
use crate::paths::Paths;
use crate::rollout::events::RolloutEvent;
use crate::rollout::executor::{Kind, Request, Runner};
use crate::rollout::journal::{Journal, Outcome, Record, RecordKind};
use crate::rollout::lock::{self, Control, DEFAULT_TTL};
use crate::rollout::plan::make_plan;
use crate::rollout::promote;

/// Options shared by deploy and rollback.
#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    pub yes: bool,
    pub json: bool,
    pub lock_wait: Option<u64>,
    pub message: Option<String>,
}

fn say(json: bool, out: &mut dyn Write, human: &str, value: serde_json::Value) {
    let _ = if json {
        writeln!(out, "{value}")
    } else {
        writeln!(out, "{human}")
    };
}

fn refuse(json: bool, out: &mut dyn Write, msg: &str) -> i32 {
    if json {
        let _ = writeln!(out, "{}", json!({"event": "error", "message": msg}));
    } else {
        eprintln!("error: {msg}");
    }
    2
}

/// Typed confirmation for environments that want it (prod).
fn confirmed(env: &str, yes: bool) -> Result<(), String> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(format!(
            "environment \"{env}\" requires typed confirmation; pass --yes when running unattended"
        ));
    }
    eprint!("type the environment's name ({env}) to go on: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = stdin.lock().read_line(&mut line);
    if line.trim() == env {
        Ok(())
    } else {
        Err(format!(
            "confirmation \"{}\" does not match \"{env}\"; nothing was changed",
            line.trim()
        ))
    }
}

/// `shipdeck plan P E V`.
pub fn plan(
    config: &Config,
    paths: &Paths,
    p: &str,
    e: &str,
    v: &str,
    json: bool,
    out: &mut dyn Write,
) -> i32 {
    let history = Journal::in_dir(&paths.state_dir)
        .releases()
        .unwrap_or_default();
    match make_plan(config, p, e, v, &history) {
        Ok(plan) => {
            let ev = RolloutEvent::Planned {
                release: "(not yet)".into(),
                action: "deploy".into(),
                plan,
            };
            say(
                json,
                out,
                &ev.human(),
                serde_json::to_value(&ev).unwrap_or_default(),
            );
            0
        }
        Err(err) => refuse(json, out, &err.to_string()),
    }
}

/// `shipdeck deploy` and `shipdeck rollback`.
pub async fn run(
    config: Arc<Config>,
    paths: &Paths,
    project: &str,
    env: &str,
    kind: Kind,
    opts: RunOpts,
    out: &mut dyn Write,
) -> i32 {
    let journal = Journal::in_dir(&paths.state_dir);
    // Gates come before anything touches the fleet.
    if let Kind::Deploy { version, .. } = &kind {
        let history = journal.releases().unwrap_or_default();
        if let Err(e) = make_plan(&config, project, env, version, &history) {
            return refuse(opts.json, out, &e.to_string());
        }
    } else if let Err(e) = crate::rollout::plan::target(&config, project, env) {
        return refuse(opts.json, out, &e.to_string());
    }
    if config.environment(env).is_some_and(|e| e.confirm)
        && let Err(m) = confirmed(env, opts.yes)
    {
        return refuse(opts.json, out, &m);
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let runner = Runner {
        config: config.clone(),
        journal,
        events: tx,
        http: probe_client(),
        cancel: cancel.clone(),
        stop_grace: Duration::from_secs(10),
        pull_timeout: Duration::from_secs(600),
    };
    let req = Request {
        project: project.to_string(),
        env: env.to_string(),
        kind,
        user: lock::current_owner(),
        message: opts.message.clone().unwrap_or_default(),
        lock_wait: opts.lock_wait.map(Duration::from_secs),
        lock_ttl: lock_ttl(),
    };
    let task = tokio::spawn(async move { runner.run(req).await });
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    while let Some(ev) = rx.recv().await {
        say(
            opts.json,
            out,
            &ev.human(),
            serde_json::to_value(&ev).unwrap_or_default(),
        );
        let _ = out.flush();
    }
    ctrl_c.abort();
    match task.await {
        Ok(Ok(report)) => {
            if report.outcome == Outcome::Succeeded {
                0
            } else {
                1
            }
        }
        Ok(Err(e)) => refuse(opts.json, out, &e.to_string()),
        Err(e) => refuse(opts.json, out, &format!("the rollout task crashed: {e}")),
    }
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

/// `shipdeck deploy --resume`: the version of the newest interrupted release,
/// with the digest it resolved to (the resumed hosts get exactly that image).
pub fn resume_version(paths: &Paths, project: &str, env: &str) -> Option<(String, Option<String>)> {
    Journal::in_dir(&paths.state_dir)
        .releases()
        .ok()?
        .into_iter()
        .rev()
        .find(|r| r.project == project && r.env == env && r.action != "rollback")
        .filter(|r| r.interrupted() || !r.succeeded())
        .map(|r| (r.version, r.digest))
}

/// `deploy --resume` with an empty journal (another machine): the fleet says
/// what was being rolled out — the version of the newest-deployed container
/// that runs. After a clean rollback that is the old version (a no-op resume).
pub async fn resume_version_from_fleet(
    config: &Config,
    project: &str,
    env: &str,
) -> Option<(String, Option<String>)> {
    let p = config.project(project)?;
    let fleet = crate::engine::snapshot_fleet(config).await;
    p.hosts_in(env)
        .iter()
        .filter_map(|h| fleet.hosts.get(h))
        .flat_map(|h| h.containers.values())
        .filter(|c| {
            c.project == project
                && c.env == env
                && c.state == crate::domain::ContainerState::Running
        })
        .max_by_key(|c| c.deployed_at.clone().unwrap_or_default())
        .map(|c| (c.version.clone(), c.digest.clone()))
}

/// `shipdeck history P [E]`.
pub fn history(
    paths: &Paths,
    project: &str,
    env: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> i32 {
    let rs = match Journal::in_dir(&paths.state_dir).releases() {
        Ok(r) => r,
        Err(e) => return refuse(json, out, &e.to_string()),
    };
    let rows: Vec<_> = rs
        .into_iter()
        .filter(|r| r.project == project && env.is_none_or(|e| r.env == e))
        .collect();
    if json {
        for r in &rows {
            let _ = writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default());
        }
        return 0;
    }
    let _ = writeln!(
        out,
        "{:<20} {:<9} {:<8} {:<12} {:<12} {:<20} {:<12} {:>8}",
        "STARTED (UTC)", "ENV", "ACTION", "VERSION", "FROM", "WHO", "RESULT", "SECS"
    );
    for r in &rows {
        let result = match r.result {
            Some(o) => o.word().to_string(),
            None => "interrupted".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<20} {:<9} {:<8} {:<12} {:<12} {:<20} {:<12} {:>8}",
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.env,
            r.action,
            r.version,
            r.from_versions.first().map(String::as_str).unwrap_or("-"),
            r.user,
            result,
            r.duration_secs
                .map(|d| format!("{d:.1}"))
                .unwrap_or_else(|| "-".into())
        );
        if !r.message.is_empty() {
            let _ = writeln!(out, "{:<20} {}", "", r.message);
        }
    }
    if rows.is_empty() {
        let _ = writeln!(out, "(no releases of {project} in this journal)");
    }
    0
}

/// `shipdeck lock status|break P E`.
pub async fn lock_cmd(
    config: &Config,
    paths: &Paths,
    verb: &str,
    p: &str,
    e: &str,
    json: bool,
    out: &mut dyn Write,
) -> i32 {
    match verb {
        "status" => match lock::status(config, p, e).await {
            Ok(Some(info)) => {
                let human = format!(
                    "{p}/{e}: locked by {} on {} since {} (release {}{}){}",
                    info.owner,
                    info.host,
                    info.acquired_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    info.release,
                    if info.message.is_empty() {
                        String::new()
                    } else {
                        format!(", \"{}\"", info.message)
                    },
                    if info.expired { " — EXPIRED" } else { "" }
                );
                say(json, out, &human, json!({"locked": true, "lock": info}));
                0
            }
            Ok(None) => {
                say(
                    json,
                    out,
                    &format!("{p}/{e}: not locked"),
                    json!({"locked": false}),
                );
                0
            }
            Err(err) => refuse(json, out, &err.to_string()),
        },
        "break" => match lock::break_lock(config, p, e).await {
            Ok(Some(info)) => {
                let rec = Record {
                    ts: chrono::Utc::now(),
                    release: info.release.clone(),
                    project: p.to_string(),
                    env: e.to_string(),
                    user: lock::current_owner(),
                    kind: RecordKind::LockBroken {
                        holder: info.owner.clone(),
                        holder_release: info.release.clone(),
                    },
                };
                if let Err(err) = Journal::in_dir(&paths.state_dir).append(&rec) {
                    eprintln!("warning: the break was not journalled: {err}");
                }
                say(
                    json,
                    out,
                    &format!(
                        "{p}/{e}: broke the lock of {} (release {})",
                        info.owner, info.release
                    ),
                    json!({"broken": true, "lock": info}),
                );
                0
            }
            Ok(None) => {
                say(
                    json,
                    out,
                    &format!("{p}/{e}: not locked"),
                    json!({"broken": false}),
                );
                0
            }
            Err(err) => refuse(json, out, &err.to_string()),
        },
        other => refuse(
            json,
            out,
            &format!("unknown lock command \"{other}\"; use status or break"),
        ),
    }
}

/// `shipdeck control P E pause|resume|abort`.
pub async fn control(config: &Config, p: &str, e: &str, what: &str, out: &mut dyn Write) -> i32 {
    let c = match what {
        "pause" => Control::Pause,
        "resume" => Control::Run,
        "abort" => Control::Abort,
        other => {
            return refuse(
                false,
                out,
                &format!("unknown control \"{other}\"; use pause, resume or abort"),
            );
        }
    };
    match lock::send_control(config, p, e, c).await {
        Ok(info) => {
            let _ = writeln!(
                out,
                "{p}/{e}: sent {what} to the rollout of {} (release {})",
                info.owner, info.release
            );
            0
        }
        Err(err) => refuse(false, out, &err.to_string()),
    }
}

/// `shipdeck promote P FROM TO`: deploy to TO exactly the digest that runs
/// healthy on every host of FROM.
pub async fn promote(
    config: Arc<Config>,
    paths: &Paths,
    project: &str,
    from: &str,
    to: &str,
    opts: RunOpts,
    out: &mut dyn Write,
) -> i32 {
    if let Err(e) = promote::check_path(&config, project, from, to) {
        return refuse(opts.json, out, &e.to_string());
    }
    let source = match promote::source(&config, project, from, &probe_client()).await {
        Ok(s) => s,
        Err(e) => return refuse(opts.json, out, &e.to_string()),
    };
    say(
        opts.json,
        out,
        &format!(
            "promote: {project} {from} → {to}: {} ({}) runs healthy on all {} host(s) of {from}",
            source.version, source.digest, source.hosts
        ),
        json!({
            "event": "promotion",
            "project": project,
            "from": from,
            "to": to,
            "version": source.version,
            "digest": source.digest,
            "hosts": source.hosts,
        }),
    );
    let message = opts
        .message
        .clone()
        .unwrap_or_else(|| format!("promoted from {from}"));
    run(
        config,
        paths,
        project,
        to,
        Kind::Deploy {
            version: source.version,
            digest: Some(source.digest),
        },
        RunOpts {
            message: Some(message),
            ..opts
        },
        out,
    )
    .await
}
