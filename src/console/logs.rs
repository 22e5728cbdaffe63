//! The logs view's stream and the hosts view's stats, as console tasks.
//!
//! A log stream: one task per host finds the host's serving container of
//! the project (and, after a failed rollout, the container that failed) and
//! follows its log; when the container ends (a deploy replaced it) the task
//! waits for the next serving one and follows that. Every stream sends into
//! one bounded channel with `try_send` (the engine's `stream_logs`), so a
//! console that falls behind gets counts of dropped lines, never a stalled
//! engine or an unbounded queue. One forwarder takes the channel in batches
//! and puts each batch on the console's action channel as one action.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::app::Action;
use crate::app::logs::LogTargets;
use crate::config::Config;
use crate::domain::{AppContainer, ContainerState, Role};
use crate::engine::Engine;
use crate::engine::logs::{LogEvent, LogRange};

/// Lines between the hosts' streams and the forwarder.
const CHANNEL: usize = 4096;
/// Lines per action.
const BATCH: usize = 1024;
/// How long the first line of a batch waits for others.
const COALESCE: Duration = Duration::from_millis(20);
/// How often a host without a running serving container is asked again.
const WAIT: Duration = Duration::from_secs(2);

/// Batches of log lines on the console's action channel at a time: the
/// loop gives one back with each batch it takes (`credit`), so what waits
/// there is bounded in lines, not only in actions.
pub const BATCHES_IN_FLIGHT: usize = 4;

/// Follow `targets` until `cancel`; batches go to `tx` tagged `generation`,
/// each one taking a permit of `credit`.
pub async fn stream(
    config: Arc<Config>,
    targets: LogTargets,
    range: LogRange,
    generation: u64,
    (tx, credit): (mpsc::Sender<Action>, Arc<Semaphore>),
    cancel: CancellationToken,
) {
    let (ltx, mut lrx) = mpsc::channel::<LogEvent>(CHANNEL);
    for host in &targets.hosts {
        tokio::spawn(follow_host(
            config.clone(),
            targets.clone(),
            host.clone(),
            range,
            ltx.clone(),
            cancel.clone(),
        ));
    }
    drop(ltx);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let n = tokio::select! {
            _ = cancel.cancelled() => return,
            n = lrx.recv_many(&mut batch, BATCH) => n,
        };
        if n == 0 {
            return;
        }
        // A trickle is gathered for a moment: one action (one wake-up of
        // the loop, one update) per COALESCE, not one per line.
        if batch.len() < BATCH {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(COALESCE) => {}
            }
            while batch.len() < BATCH {
                match lrx.try_recv() {
                    Ok(ev) => batch.push(ev),
                    Err(_) => break,
                }
            }
        }
        // While the console has not taken the batches before, the channel
        // fills and the streams count what they drop.
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            p = credit.clone().acquire_owned() => p,
        };
        let Ok(permit) = permit else { return };
        let events = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
        let sent = tokio::select! {
            _ = cancel.cancelled() => return,
            r = tx.send(Action::Logs { generation, events }) => r,
        };
        if sent.is_err() {
            return;
        }
        // Given back by the loop when it takes the batch.
        permit.forget();
    }
}

/// What to read on a host: its newest running serving container.
fn pick(mut cs: Vec<AppContainer>) -> Option<AppContainer> {
    cs.sort_by_key(|c| std::cmp::Reverse(c.started_at));
    cs.into_iter()
        .find(|c| c.role == Role::Serving && c.state == ContainerState::Running)
}

fn note(host: &str, text: String) -> LogEvent {
    LogEvent::Note {
        host: host.to_string(),
        text,
    }
}

async fn follow_host(
    config: Arc<Config>,
    t: LogTargets,
    host: String,
    range: LogRange,
    tx: mpsc::Sender<LogEvent>,
    cancel: CancellationToken,
) {
    let engine = tokio::select! {
        _ = cancel.cancelled() => return,
        e = Engine::connect_host(&config, &host) => e,
    };
    let engine = match engine {
        Ok(e) => e,
        Err(e) => {
            let _ = tx
                .send(LogEvent::Ended {
                    host,
                    error: Some(e.short()),
                })
                .await;
            return;
        }
    };
    let Some((project, env)) = &t.scope else {
        return every_project(engine, range, tx, cancel).await;
    };
    let mut range = range;
    let mut last: Option<String> = None;
    let mut ended: Option<i64> = None;
    let mut first = true;
    loop {
        let listed = tokio::select! {
            _ = cancel.cancelled() => return,
            r = engine.app_containers_listed(project, env) => r,
        };
        let serving = match listed {
            Ok(cs) => pick(cs),
            Err(e) => {
                let _ = tx
                    .send(note(
                        &host,
                        format!("cannot list containers: {}", e.short()),
                    ))
                    .await;
                None
            }
        };
        match serving {
            Some(c) => {
                if let Some(ended) = ended {
                    // The same container again (restarted): from when its
                    // stream ended, its earlier lines were shown; a new
                    // one (a deploy replaced it): from its start.
                    let same = last.as_deref() == Some(c.id.as_str());
                    let what = if same {
                        "the same container runs again"
                    } else {
                        "a new serving container"
                    };
                    let _ = tx
                        .send(note(
                            &host,
                            format!("{what}: following {} ({})", c.name, c.version),
                        ))
                        .await;
                    range = LogRange {
                        since: same.then_some(ended),
                        tail: None,
                        follow: true,
                    };
                }
                last = Some(c.id.clone());
                engine
                    .stream_logs(&c.id, &c.name, range, tx.clone(), cancel.clone())
                    .await;
                if !range.follow || cancel.is_cancelled() {
                    return;
                }
                ended = Some(chrono::Utc::now().timestamp());
            }
            None if first => {
                let _ = tx
                    .send(note(
                        &host,
                        format!(
                            "no running serving container of {} in {}: waiting for one",
                            project, env
                        ),
                    ))
                    .await;
                if !range.follow {
                    return;
                }
            }
            None => {}
        }
        first = false;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(WAIT) => {}
        }
    }
}

/// The running serving containers of `scope` on the engine's host, each
/// with the label its lines go under (the host; with every project, the
/// host and the container's project/env).
async fn serving_now(
    engine: &Engine,
    scope: &Option<(String, String)>,
) -> Result<Vec<(String, AppContainer)>, crate::engine::connect::EngineError> {
    match scope {
        Some((p, e)) => Ok(pick(engine.app_containers_listed(p, e).await?)
            .map(|c| (engine.host.clone(), c))
            .into_iter()
            .collect()),
        None => {
            let cs = crate::engine::inventory::list_app_containers(
                &engine.docker,
                &engine.endpoint,
                engine.timeout,
            )
            .await?;
            Ok(cs
                .into_iter()
                .filter(|c| c.role == Role::Serving && c.state == ContainerState::Running)
                .map(|c| (format!("{} {}/{}", engine.host, c.project, c.env), c))
                .collect())
        }
    }
}

/// Every project's serving container on the host, each under its own
/// label, followed until it ends.
async fn every_project(
    engine: Engine,
    range: LogRange,
    tx: mpsc::Sender<LogEvent>,
    cancel: CancellationToken,
) {
    let found = tokio::select! {
        _ = cancel.cancelled() => return,
        r = serving_now(&engine, &None) => r,
    };
    let cs = match found {
        Ok(cs) => cs,
        Err(e) => {
            let _ = tx
                .send(LogEvent::Ended {
                    host: engine.host.clone(),
                    error: Some(e.short()),
                })
                .await;
            return;
        }
    };
    if cs.is_empty() {
        let _ = tx
            .send(note(
                &engine.host,
                "no running serving container of any project".into(),
            ))
            .await;
    }
    // A task each: in one joined future every stream would be polled
    // again whenever any one of them had a line.
    let reads: Vec<_> = cs
        .into_iter()
        .map(|(label, c)| {
            let mut e = engine.clone();
            e.host = label;
            let (tx, cancel) = (tx.clone(), cancel.clone());
            tokio::spawn(async move { e.stream_logs(&c.id, &c.name, range, tx, cancel).await })
        })
        .collect();
    for r in reads {
        let _ = r.await;
    }
}

/// Read `range` of `targets` again (not followed) and write it to `path`,
/// merged by time, as the logs view saves: the message for the status line.
pub async fn fetch_to_file(
    config: Arc<Config>,
    targets: LogTargets,
    range: LogRange,
    path: PathBuf,
) -> Result<String, String> {
    let range = LogRange {
        follow: false,
        ..range
    };
    let (tx, mut rx) = mpsc::channel(CHANNEL);
    let mut tasks = Vec::new();
    for host in &targets.hosts {
        let (config, t, host, tx) = (config.clone(), targets.clone(), host.clone(), tx.clone());
        tasks.push(tokio::spawn(async move {
            let e = match Engine::connect_host(&config, &host).await {
                Ok(e) => e,
                Err(e) => return Some(format!("{host}: {}", e.short())),
            };
            match serving_now(&e, &t.scope).await {
                Ok(cs) => {
                    for (label, c) in cs {
                        let mut e = e.clone();
                        e.host = label;
                        let (tx, never) = (tx.clone(), CancellationToken::new());
                        e.stream_logs(&c.id, &c.name, range, tx, never).await;
                    }
                    None
                }
                Err(e) => Some(format!("{host}: {}", e.short())),
            }
        }));
    }
    drop(tx);
    // The streams do not wait for room: what did not fit is counted and
    // said in the message, as the view says it.
    let mut lines = Vec::new();
    let mut dropped = 0;
    while let Some(ev) = rx.recv().await {
        match ev {
            LogEvent::Line(l) => lines.push(l),
            LogEvent::Dropped { lines: n, .. } => dropped += n,
            _ => {}
        }
    }
    let mut failed = Vec::new();
    for t in tasks {
        if let Ok(Some(f)) = t.await {
            failed.push(f);
        }
    }
    lines.sort_by_key(|l| l.ts);
    let width = lines.iter().map(|l| l.host.len()).max().unwrap_or(0);
    let mut text = String::new();
    for l in &lines {
        let sep = if l.stderr { '!' } else { '|' };
        crate::app::logs::file_line(&mut text, l.ts, &l.host, width, sep, &l.text);
    }
    let n = lines.len();
    write_file(path, text).await.map(|p| {
        let mut msg = format!("{n} lines read again from the hosts, written to {p}");
        if dropped > 0 {
            msg.push_str(&format!(" ({dropped} dropped: the reader fell behind)"));
        }
        if !failed.is_empty() {
            msg.push_str(&format!(" (missing: {})", failed.join("; ")));
        }
        msg
    })
}

/// Write `text` to `path` (on a blocking thread): the path written, or
/// what failed.
pub async fn write_file(path: PathBuf, text: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let shown = std::path::absolute(&path)
            .unwrap_or_else(|_| path.clone())
            .display()
            .to_string();
        std::fs::write(&path, text)
            .map(|()| shown.clone())
            .map_err(|e| {
                format!("saving the log to {shown} failed: {e}; give another path with :save PATH")
            })
    })
    .await
    .unwrap_or_else(|e| Err(format!("saving the log ended abnormally: {e}")))
}

/// Read container `id`'s stats on `host` until `cancel`, as `Action::Stats`.
pub async fn stats(
    config: Arc<Config>,
    host: String,
    id: String,
    tx: mpsc::Sender<Action>,
    cancel: CancellationToken,
) {
    let Ok(engine) = Engine::connect_host(&config, &host).await else {
        return;
    };
    engine
        .stream_stats(&id, cancel, |sample| {
            // A reading that finds the channel full is skipped: the next
            // one comes in a second.
            !matches!(
                tx.try_send(Action::Stats {
                    id: id.clone(),
                    sample,
                }),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        })
        .await;
}
