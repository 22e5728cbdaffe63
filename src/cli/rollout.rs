//! Headless rollout commands: plan, deploy, rollback, promote, history,
//! lock, control. They drive `rollout::release` and print its events as
//! lines or JSON.
//!
//! Exit codes: 0 the target version runs healthy everywhere; 1 the rollout
//! ran and did not get there (failed, rolled back, aborted, interrupted,
//! hosts left out), or its end could not be journaled; 2 nothing was changed
//! (bad input, gate, lock held, unreachable, a pull that failed before any
//! restart).
//!
//! Signals: the first Ctrl-C or SIGTERM launches no further host and lets
//! the hosts in flight finish, then releases the lock (the release ends
//! `interrupted`; `deploy --resume` finishes it). The second one cancels the
//! health waits in flight (those hosts are restored) and rolls completed
//! hosts back when `failure_action = "rollback"`. Every later one is
//! answered with a note and otherwise ignored, so that no host is left half
//! way through its replacement.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::health::probe_client;
use crate::paths::Paths;
use crate::rollout::checks::{self, Confirmation};
use crate::rollout::events::RolloutEvent;
use crate::rollout::executor::{Kind, Request, Runner};
use crate::rollout::journal::{Action, Journal, Record, RecordKind, ReleaseSummary};
use crate::rollout::lock::{self, Control};
use crate::rollout::plan::make_plan;
use crate::rollout::{activity, promote, release};

/// Options shared by deploy and rollback.
#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    pub yes: bool,
    pub json: bool,
    pub lock_wait: Option<u64>,
    pub message: Option<String>,
}

fn say(json: bool, out: &mut dyn Write, human: &str, value: serde_json::Value) {
    // A closed pipe (`… | head`) is not an error: the reader has what it wanted.
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
pub async fn plan(
    config: &Config,
    paths: &Paths,
    p: &str,
    e: &str,
    v: &str,
    json: bool,
    out: &mut dyn Write,
) -> i32 {
    match checks::preview(config, &Journal::in_dir(&paths.state_dir), p, e, v).await {
        Ok(plan) => {
            let ev = RolloutEvent::Planned {
                release: "(not yet)".into(),
                action: Action::Deploy,
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
        Err(err) => refuse(json, out, &err),
    }
}

/// Count Ctrl-C / SIGTERM: the first stops launching, the second aborts,
/// later ones are answered and ignored.
fn watch_signals(stop: CancellationToken, abort: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut count = 0u32;
        loop {
            let got = match term.as_mut() {
                Some(t) => tokio::select! {
                    r = tokio::signal::ctrl_c() => r.is_ok(),
                    r = t.recv() => r.is_some(),
                },
                None => tokio::signal::ctrl_c().await.is_ok(),
            };
            if !got {
                return;
            }
            count += 1;
            match count {
                1 => {
                    eprintln!(
                        "shipdeck: stopping: no further host starts; the hosts in flight finish, then the lock is released (again to abort and roll back)"
                    );
                    stop.cancel();
                }
                2 => {
                    eprintln!(
                        "shipdeck: aborting: health waits in flight are cancelled and those hosts restored; completed hosts roll back per failure_action"
                    );
                    abort.cancel();
                }
                _ => eprintln!(
                    "shipdeck: still aborting; leaving now would strand a host half way. Wait, or kill -9 and then `deploy --resume` or `rollback`"
                ),
            }
        }
    })
}

/// `shipdeck deploy`, `rollback` and `deploy --resume`.
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
    // Input checks come before anything touches the fleet.
    let preview_plan = match &kind {
        Kind::Deploy { version, .. } => {
            let history = journal.releases().unwrap_or_default();
            match make_plan(&config, project, env, version, &history) {
                Ok(p) => Some((p, version.clone())),
                Err(e) => return refuse(opts.json, out, &e.to_string()),
            }
        }
        _ => match crate::rollout::plan::target(&config, project, env) {
            Ok(_) => None,
            Err(e) => return refuse(opts.json, out, &e.to_string()),
        },
    };
    if Confirmation::for_env(&config, env) != Confirmation::Plain && !opts.yes {
        // The plan first, then the question.
        if let Some((mut plan, version)) = preview_plan {
            plan.warnings = checks::plan_warnings(&config, project, env, &version).await;
            let ev = RolloutEvent::Planned {
                release: "(not yet)".into(),
                action: Action::Deploy,
                plan,
            };
            eprintln!("{}", ev.human());
        }
        if let Err(m) = confirmed(env, opts.yes) {
            return refuse(opts.json, out, &m);
        }
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop, abort) = (CancellationToken::new(), CancellationToken::new());
    let runner = Runner {
        config: config.clone(),
        journal,
        events: tx,
        http: probe_client(),
        stop: stop.clone(),
        abort: abort.clone(),
        stop_grace: Duration::from_secs(10),
    };
    let req = Request {
        project: project.to_string(),
        env: env.to_string(),
        kind,
        user: lock::current_owner(),
        message: opts.message.clone().unwrap_or_default(),
        lock_wait: opts.lock_wait.map(Duration::from_secs),
        lock_ttl: checks::lock_ttl(),
    };
    let task = tokio::spawn(async move { release::start(&runner, req).await });
    let signals = watch_signals(stop, abort);
    while let Some(ev) = rx.recv().await {
        // Progress is for screens and JSON readers, not for log lines.
        if !opts.json && matches!(ev, RolloutEvent::PullProgress { .. }) {
            continue;
        }
        say(
            opts.json,
            out,
            &ev.human(),
            serde_json::to_value(&ev).unwrap_or_default(),
        );
        let _ = out.flush();
    }
    signals.abort();
    match task.await {
        Ok(Ok(report)) => {
            if let Some(e) = &report.journal_error {
                eprintln!(
                    "error: the journal could not record the end of {}: {e}",
                    report.release
                );
            }
            report.exit_code()
        }
        Ok(Err(e)) => refuse(opts.json, out, &e.to_string()),
        Err(e) => {
            // The task died: the fleet may have changed.
            let _ = refuse(opts.json, out, &format!("the rollout task crashed: {e}"));
            1
        }
    }
}

/// One line of `history`: a release, a build or a lock break.
#[derive(serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line {
    Release(ReleaseSummary),
    Build {
        ts: chrono::DateTime<chrono::Utc>,
        project: String,
        user: String,
        version: String,
        digest: Option<String>,
        pushed: bool,
        host: String,
        outcome: String,
        duration_secs: f64,
        error: Option<String>,
    },
    LockBreak {
        ts: chrono::DateTime<chrono::Utc>,
        project: String,
        env: String,
        user: String,
        holder: String,
        holder_release: String,
    },
}

impl Line {
    fn ts(&self) -> chrono::DateTime<chrono::Utc> {
        match self {
            Line::Release(r) => r.started_at,
            Line::Build { ts, .. } | Line::LockBreak { ts, .. } => *ts,
        }
    }
}

/// `shipdeck history P [E]`: releases (deploys, promotions with their
/// source, rollbacks), builds and lock breaks, oldest first. With an
/// inventory, the fleet's ledger fills in what this machine's journal lacks.
pub async fn history(
    config: Option<&Config>,
    paths: &Paths,
    project: &str,
    env: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> i32 {
    let journal = Journal::in_dir(&paths.state_dir);
    let records = match journal.records() {
        Ok(r) => r,
        Err(e) => return refuse(json, out, &e.to_string()),
    };
    let mut lines: Vec<Line> = Vec::new();
    let envs: Vec<String> = match (config.and_then(|c| c.project(project)), env) {
        (_, Some(e)) => vec![e.to_string()],
        (Some(p), None) => p.hosts.keys().cloned().collect(),
        (None, None) => {
            let mut v: Vec<String> = records
                .iter()
                .filter(|r| r.project == project && !r.env.is_empty())
                .map(|r| r.env.clone())
                .collect();
            v.sort();
            v.dedup();
            v
        }
    };
    for e in &envs {
        let releases = match config {
            Some(c) => activity::releases(c, &journal, project, e).await,
            None => crate::rollout::ledger::with_journal(
                journal.releases().unwrap_or_default(),
                Vec::new(),
                project,
                e,
            ),
        };
        lines.extend(releases.into_iter().map(Line::Release));
    }
    for r in records.iter().filter(|r| r.project == project) {
        match &r.kind {
            RecordKind::Built {
                version,
                digest,
                pushed,
                host,
                outcome,
                duration_secs,
                error,
                ..
            } => lines.push(Line::Build {
                ts: r.ts,
                project: r.project.clone(),
                user: r.user.clone(),
                version: version.clone(),
                digest: digest.clone(),
                pushed: *pushed,
                host: host.clone(),
                outcome: outcome.clone(),
                duration_secs: *duration_secs,
                error: error.clone(),
            }),
            RecordKind::LockBroken {
                holder,
                holder_release,
            } if env.is_none_or(|e| e == r.env) => lines.push(Line::LockBreak {
                ts: r.ts,
                project: r.project.clone(),
                env: r.env.clone(),
                user: r.user.clone(),
                holder: holder.clone(),
                holder_release: holder_release.clone(),
            }),
            _ => {}
        }
    }
    lines.sort_by_key(Line::ts);
    if json {
        for l in &lines {
            let _ = writeln!(out, "{}", serde_json::to_string(l).unwrap_or_default());
        }
        return 0;
    }
    let _ = writeln!(
        out,
        "{:<20} {:<9} {:<10} {:<14} {:<14} {:<20} {:<12} {:>8}",
        "STARTED (UTC)", "ENV", "WHAT", "VERSION", "FROM", "WHO", "RESULT", "SECS"
    );
    for l in &lines {
        let row = match l {
            Line::Release(r) => {
                let from = match (&r.promoted_from, r.from_versions.first()) {
                    (Some(src), _) => format!("env {src}"),
                    (None, Some(v)) => v.clone(),
                    (None, None) => "-".into(),
                };
                let mut result = r.result_word().to_string();
                if r.rolled_back && r.succeeded() {
                    result = "rolled back".to_string();
                }
                let what = if r.resumes.is_some() {
                    format!("{} (resume)", r.action.word())
                } else {
                    r.action.word().to_string()
                };
                (
                    format!(
                        "{:<20} {:<9} {:<10} {:<14} {:<14} {:<20} {:<12} {:>8}",
                        r.started_at.format("%Y-%m-%d %H:%M:%S"),
                        r.env,
                        what,
                        r.version,
                        from,
                        r.user,
                        result,
                        r.duration_secs
                            .map(|d| format!("{d:.1}"))
                            .unwrap_or_else(|| "-".into())
                    ),
                    r.message.clone(),
                )
            }
            Line::Build {
                ts,
                user,
                version,
                pushed,
                host,
                outcome,
                duration_secs,
                error,
                ..
            } => (
                format!(
                    "{:<20} {:<9} {:<10} {:<14} {:<14} {:<20} {:<12} {:>8.1}",
                    ts.format("%Y-%m-%d %H:%M:%S"),
                    "-",
                    if *pushed { "build+push" } else { "build" },
                    version,
                    format!("on {host}"),
                    user,
                    outcome,
                    duration_secs
                ),
                error.clone().unwrap_or_default(),
            ),
            Line::LockBreak {
                ts,
                env,
                user,
                holder,
                holder_release,
                ..
            } => (
                format!(
                    "{:<20} {:<9} {:<10} {:<14} {:<14} {:<20} {:<12} {:>8}",
                    ts.format("%Y-%m-%d %H:%M:%S"),
                    env,
                    "lock break",
                    "-",
                    "-",
                    user,
                    "-",
                    "-"
                ),
                format!("broke the lock of {holder} (release {holder_release})"),
            ),
        };
        let _ = writeln!(out, "{}", row.0);
        if !row.1.is_empty() {
            let _ = writeln!(out, "{:<20} {}", "", row.1);
        }
    }
    if lines.is_empty() {
        let _ = writeln!(
            out,
            "(no releases of {project} in this journal or on the fleet)"
        );
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
                let expiry = match (info.expired, info.expires_at) {
                    (true, _) => " — EXPIRED".to_string(),
                    (false, Some(t)) => format!(
                        ", expires in {}s without a heartbeat",
                        (t - chrono::Utc::now()).num_seconds().max(0)
                    ),
                    (false, None) => String::new(),
                };
                let state = info
                    .state
                    .as_ref()
                    .map(|s| format!("; {}", s.detail))
                    .unwrap_or_default();
                let total = config.project(p).map(|x| x.hosts_in(e).len()).unwrap_or(0);
                let human = format!(
                    "{p}/{e}: {} — locked by {} on {} ({} of {total} hosts; a majority is {}) since {} (release {}{}){expiry}{state}",
                    info.phase_word(),
                    info.owner,
                    info.hosts.join(","),
                    info.held,
                    info.needed,
                    info.acquired_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    info.release,
                    if info.message.is_empty() {
                        String::new()
                    } else {
                        format!(", \"{}\"", info.message)
                    },
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
                let rec =
                    Record::lock_broken(p, e, lock::current_owner(), &info.owner, &info.release);
                if let Err(err) = Journal::in_dir(&paths.state_dir).append(&rec) {
                    eprintln!("warning: the break was not journaled: {err}");
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

/// `shipdeck control P E pause|resume|abort`: write the word into the lock,
/// then wait for the rollout to act on it and say what it did.
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
    let seen = |s: &lock::HolderState| eprintln!("{p}/{e}: {}", s.detail);
    match lock::control_request(config, p, e, c, seen).await {
        Ok(lock::Answer::Done(m)) => {
            let _ = writeln!(out, "{m}");
            0
        }
        Ok(lock::Answer::NotDone(m)) => {
            let _ = writeln!(out, "{m}");
            1
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
            promoted_from: Some(from.to_string()),
        },
        RunOpts {
            message: Some(message),
            ..opts
        },
        out,
    )
    .await
}

/// `shipdeck ship P ENV [--version V]`: build on the project's build host,
/// push, then deploy the pushed version to ENV (as Kamal's deploy builds,
/// pushes and deploys). Exit codes as `build` when the build fails, as
/// `deploy` after.
pub async fn ship(
    config: Arc<Config>,
    paths: &Paths,
    project: &str,
    env: &str,
    version: Option<String>,
    opts: RunOpts,
    out: &mut dyn Write,
) -> i32 {
    // The deploy's checks come first: nothing is built for a deploy that
    // would be refused (unknown env, a protected one without --yes).
    if let Err(e) = crate::rollout::plan::target(&config, project, env) {
        return refuse(opts.json, out, &e.to_string());
    }
    if Confirmation::for_env(&config, env) != Confirmation::Plain
        && let Err(m) = confirmed(env, opts.yes)
    {
        return refuse(opts.json, out, &m);
    }
    let build = super::build::BuildOpts {
        version,
        push: true,
        force: false,
        json: opts.json,
    };
    let report = match super::build::build_report(&config, paths, project, build, out).await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let message = opts
        .message
        .clone()
        .unwrap_or_else(|| format!("shipped {}", report.version));
    run(
        config,
        paths,
        project,
        env,
        Kind::Deploy {
            version: report.version,
            digest: report.digest,
            promoted_from: None,
        },
        RunOpts {
            yes: true,
            message: Some(message),
            ..opts
        },
        out,
    )
    .await
}
