//! `shipdeck logs`: the serving containers of an environment's hosts in one
//! stream, on the sandbox. A line written into one chosen host's container
//! is found with `--grep` under that host's prefix, stderr is told apart,
//! and `-f` shows a line written after it started.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// `shipdeck logs ARGS` as a child (stderr to `stderr`), and its stdout
/// lines as they come.
fn spawn_logs(
    cfg: &std::path::Path,
    state: &std::path::Path,
    args: &[&str],
    stderr: Stdio,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .arg("--config")
        .arg(cfg)
        .arg("logs")
        .args(args)
        .env("XDG_STATE_HOME", state)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_an_environment_come_from_every_host_with_its_prefix() {
    let (p, e, port) = ("it-logs", "dev", 18630);
    let hosts = [1, 5, 8];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), p, &[(e, &hosts)], port);
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &cfg, tmp.path());
    assert_eq!(code, 0, "{out}");

    let marker = unique("marker-h05");
    write_to_log(5, p, e, &marker, false).await;
    write_to_log(5, p, e, &format!("{marker}-err"), true).await;

    // Every host's start line, each under its own prefix.
    let all = shipdeck(&["logs", p, e], &cfg, tmp.path());
    let text = String::from_utf8_lossy(&all.stdout);
    assert_eq!(all.status.code(), Some(0), "{all:?}");
    for h in hosts {
        let prefix = format!("h{h:02} | ");
        assert!(
            text.lines()
                .any(|l| l.starts_with(&prefix) && l.contains("listening on")),
            "no start line of h{h:02}:\n{text}"
        );
    }

    // --grep: the marker, on h05 only; stderr marked with `!`.
    let found = shipdeck(&["logs", p, e, "--grep", &marker], &cfg, tmp.path());
    let text = String::from_utf8_lossy(&found.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![format!("h05 | {marker}"), format!("h05 ! {marker}-err")],
        "{found:?}"
    );

    // Named hosts only; a host outside the environment is refused.
    let one = shipdeck(&["logs", p, e, "h08", "--grep", &marker], &cfg, tmp.path());
    assert_eq!(one.status.code(), Some(0));
    assert!(one.stdout.is_empty(), "{one:?}");
    let bad = shipdeck(&["logs", p, e, "h02"], &cfg, tmp.path());
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("host \"h02\" does not run it-logs in dev"),
        "{err}"
    );

    // -f: a line written after the stream started shows up, with its host.
    let (mut child, rx) = spawn_logs(
        &cfg,
        tmp.path(),
        &[p, e, "-f", "--tail", "0"],
        Stdio::null(),
    );
    let late = unique("late-h08");
    // The stream may take a moment to attach: write until the line shows.
    let mut seen = None;
    for _ in 0..10 {
        write_to_log(8, p, e, &late, false).await;
        if let Ok(l) = rx.recv_timeout(Duration::from_secs(2)) {
            seen = Some(l);
            break;
        }
    }
    child.kill().unwrap(); // our own child, by its handle
    let _ = child.wait();
    assert_eq!(seen, Some(format!("h08 | {late}")));
    clean(p, e, &hosts).await;
}

/// The fault: the engine of a followed host restarts (its container lives
/// on). The stream says it was read again, and the numbered lines the
/// container writes meanwhile come through once each, none missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_log_survives_a_daemon_restart_without_a_lost_or_repeated_line() {
    let (p, e, port) = ("it-logs-rst", "dev", 18631);
    let hosts = [3];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), p, &[(e, &hosts)], port);
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &cfg, tmp.path());
    assert_eq!(code, 0, "{out}");

    // 400 numbered lines, 20 a second: they outlast the restart.
    let tag = unique("seq");
    let last = 400;
    run_in_background(
        3,
        p,
        e,
        &format!(
            "i=0; while [ $i -lt {last} ]; do i=$((i+1)); echo {tag}-$i > /proc/1/fd/1; sleep 0.05; done"
        ),
    )
    .await;
    let errfile = tmp.path().join("logs.stderr");
    let (mut child, rx) = spawn_logs(
        &cfg,
        tmp.path(),
        &[p, e, "-f", "--grep", &tag],
        std::fs::File::create(&errfile).unwrap().into(),
    );
    let mut numbers = Vec::new();
    let mut take = |limit: Duration, until: usize| {
        let end = std::time::Instant::now() + limit;
        while numbers.last().copied().unwrap_or(0) < until {
            let left = end.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                break;
            };
            let n: usize = line
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a numbered line: {line:?}"));
            assert!(line.starts_with("h03 | "), "{line}");
            numbers.push(n);
        }
    };
    take(Duration::from_secs(20), 20);
    sandbox(&["restart-host", "h03"]);
    take(Duration::from_secs(90), last);
    child.kill().unwrap(); // our own child, by its handle
    let _ = child.wait();
    let err = std::fs::read_to_string(&errfile).unwrap_or_default();
    assert!(
        err.contains("h03: the log stream broke and was read again"),
        "no reconnect note: {err}"
    );
    // From --tail all: every line from 1 to the last, once each, in order.
    let want: Vec<usize> = (1..=last).collect();
    assert_eq!(numbers, want, "stderr: {err}");
    clean(p, e, &hosts).await;
}
