//! `shipdeck logs PROJECT ENV [HOST…]`: the serving containers' logs of
//! every host of an environment (or the hosts named) in one stream, each
//! line prefixed with its host (`h01 | …`; `h01 ! …` for stderr), coloured
//! on a terminal. Without `-f` the lines are merged by their engine
//! timestamps; with `-f` they are printed as they come until Ctrl-C.

use std::io::{IsTerminal, Write};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::status::EXIT_UNREACHABLE;
use crate::config::Config;
use crate::domain::Role;
use crate::engine::Engine;
use crate::engine::logs::{LogEvent, LogLine, LogRange};

/// Lines buffered between the hosts' streams and the printer.
const CHANNEL: usize = 4096;

/// What `logs` was asked for (its command line: a bad `--since` or
/// `--grep` is refused by the parser, exit 2, with the value quoted).
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    pub project: String,
    pub env: String,
    /// Only these hosts of the environment (all when none is named).
    pub hosts: Vec<String>,
    /// Keep following the logs until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines of the last D (e.g. 30s, 5m, 1h).
    #[arg(long, value_name = "D")]
    pub since: Option<humantime::Duration>,
    /// Only the last N lines of each container (before following).
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines that match this regular expression.
    #[arg(long, value_name = "RE")]
    pub grep: Option<regex::Regex>,
    /// One JSON object a line.
    #[arg(long)]
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
        .and_then(|d| chrono::TimeDelta::from_std(*d).ok())
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
    // Every host at once: connect, and list its containers.
    let reads = futures::future::join_all(hosts.iter().map(|host| async move {
        let listed = match Engine::connect_host(config, host).await {
            Ok(engine) => engine.app_containers(p, e).await.map(|cs| (engine, cs)),
            Err(err) => Err(err),
        };
        (host, listed)
    }))
    .await;
    for (host, listed) in reads {
        let (engine, containers) = match listed {
            Ok(read) => read,
            Err(err) => {
                failed += 1;
                eprintln!("warning: {host}: {}; its lines are missing", err.short());
                continue;
            }
        };
        let serving: Vec<_> = containers
            .into_iter()
            .filter(|c| c.role == Role::Serving)
            .collect();
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
            LogEvent::Note { host, text } => eprintln!("note: {host}: {text}"),
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
            let i = self.hosts.iter().position(|h| **h == *l.host).unwrap_or(0);
            let code = 31 + (i % 6);
            writeln!(out, "\x1b[{code}m{:w$}\x1b[0m {sep} {}", l.host, l.text)
        } else {
            writeln!(out, "{:w$} {sep} {}", l.host, l.text)
        }
    }
}
