//! `shipdeck logs PROJECT ENV [HOST…]`: the serving containers' logs of
//! every host of an environment (or the hosts named) in one stream, each
//! line prefixed with its host (`h01 | …`; `h01 ! …` for stderr), coloured
//! on a terminal. Without `-f` the lines are merged by their engine
//! timestamps; with `-f` they are printed as they come until Ctrl-C.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::status::EXIT_UNREACHABLE;
use crate::config::Config;
use crate::domain::Role;
use crate::engine::Engine;
use crate::engine::logs::{LogEvent, LogLine, LogRange};

/// Lines buffered between the hosts' streams and the printer.
const CHANNEL: usize = 4096;

/// What `logs` was asked for.
#[derive(Debug, Clone)]
pub struct LogsArgs {
    pub project: String,
    pub env: String,
    /// Only these hosts (of the environment); all when empty.
    pub hosts: Vec<String>,
    pub follow: bool,
    /// Only lines of the last `since`.
    pub since: Option<Duration>,
    pub tail: Option<usize>,
    pub grep: Option<regex::Regex>,
    pub json: bool,
}

/// Exit 0, 2 on a bad argument, 3 when a host could not be read.
pub async fn logs(config: &Config, args: &LogsArgs, out: &mut dyn Write) -> i32 {
    let (p, e) = (args.project.as_str(), args.env.as_str());
    let Some(project) = config.project(p) else {
        let known: Vec<&str> = config.projects.iter().map(|p| p.name.as_str()).collect();
        eprintln!(
            "error: no project \"{p}\" in the inventory; known projects: {}",
            known.join(", ")
        );
        return 2;
    };
    let in_env = project.hosts_in(e);
    if in_env.is_empty() {
        eprintln!(
            "error: project {p} has no hosts in environment \"{e}\"; see `shipdeck status {p}`"
        );
        return 2;
    }
    if let Some(h) = args.hosts.iter().find(|h| !in_env.contains(h)) {
        eprintln!(
            "error: host \"{h}\" does not run {p} in {e}; its hosts there: {}",
            in_env.join(", ")
        );
        return 2;
    }
    let wanted = |h: &str| args.hosts.is_empty() || args.hosts.iter().any(|w| w == h);
    let since = args
        .since
        .and_then(|d| chrono::TimeDelta::from_std(d).ok())
        .map(|d| (chrono::Utc::now() - d).timestamp());
    let range = LogRange {
        since,
        tail: args.tail,
        follow: args.follow,
    };

    let mut failed = 0;
    let (tx, mut rx) = mpsc::channel(CHANNEL);
    let cancel = CancellationToken::new();
    let mut streams = Vec::new();
    let hosts: Vec<String> = in_env.iter().filter(|h| wanted(h)).cloned().collect();
    let width = hosts.iter().map(String::len).max().unwrap_or(0);
    for (host, engine) in Engine::connect_env(config, p, e).await {
        if !wanted(&host) {
            continue;
        }
        let engine = match engine {
            Ok(engine) => engine,
            Err(err) => {
                failed += 1;
                eprintln!("warning: {host}: {}; its lines are missing", err.short());
                continue;
            }
        };
        let serving: Vec<_> = match engine.app_containers(p, e).await {
            Ok(cs) => cs.into_iter().filter(|c| c.role == Role::Serving).collect(),
            Err(err) => {
                failed += 1;
                eprintln!("warning: {host}: {}; its lines are missing", err.short());
                continue;
            }
        };
        if serving.is_empty() {
            eprintln!("note: {host}: no serving container of {p} in {e}");
        }
        for c in serving {
            let (engine, tx, cancel) = (engine.clone(), tx.clone(), cancel.child_token());
            streams.push(tokio::spawn(async move {
                engine.stream_logs(&c.id, &c.name, range, tx, cancel).await;
            }));
        }
    }
    drop(tx);
    if args.follow {
        let stop = cancel.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        });
    }

    let colour = !args.json && std::io::stdout().is_terminal();
    let printer = Printer {
        args,
        width,
        colour,
        hosts: &hosts,
    };
    let mut lines = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            LogEvent::Line(l) if args.follow => {
                if printer.print(out, &l).is_err() {
                    // `logs -f | head`: the reader has what it wanted.
                    cancel.cancel();
                    break;
                }
            }
            LogEvent::Line(l) => lines.push(l),
            LogEvent::Reconnected { host, secs } => {
                if args.json {
                    let v = serde_json::json!({"host": host, "event": "reconnected", "secs": secs});
                    if writeln!(out, "{v}").is_err() {
                        cancel.cancel();
                        break;
                    }
                } else {
                    eprintln!(
                        "note: {host}: the log stream broke and was read again after {secs:.1}s, from its last line (none repeated)"
                    );
                }
            }
            LogEvent::Dropped { host, lines } => {
                eprintln!("warning: {host}: {lines} line(s) dropped (the output fell behind)");
            }
            LogEvent::Ended {
                host,
                error: Some(err),
            } => {
                failed += 1;
                eprintln!("warning: {host}: the log stream failed: {err}");
            }
            LogEvent::Ended { .. } => {}
        }
    }
    // Merged by time; a line without a timestamp keeps its place per host.
    lines.sort_by_key(|l| l.ts);
    for l in &lines {
        if printer.print(out, l).is_err() {
            break;
        }
    }
    for s in streams {
        let _ = s.await;
    }
    let _ = out.flush();
    if failed > 0 { EXIT_UNREACHABLE } else { 0 }
}

struct Printer<'a> {
    args: &'a LogsArgs,
    width: usize,
    colour: bool,
    hosts: &'a [String],
}

impl Printer<'_> {
    fn print(&self, out: &mut dyn Write, l: &LogLine) -> std::io::Result<()> {
        if let Some(re) = &self.args.grep
            && !re.is_match(&l.text)
        {
            return Ok(());
        }
        if self.args.json {
            let v = serde_json::to_string(l).unwrap_or_default();
            return writeln!(out, "{v}");
        }
        let sep = if l.stderr { '!' } else { '|' };
        let w = self.width;
        if self.colour {
            // A stable colour per host: its place in the environment.
            let i = self.hosts.iter().position(|h| *h == l.host).unwrap_or(0);
            let code = 31 + (i % 6);
            writeln!(out, "\x1b[{code}m{:w$}\x1b[0m {sep} {}", l.host, l.text)
        } else {
            writeln!(out, "{:w$} {sep} {}", l.host, l.text)
        }
    }
}
