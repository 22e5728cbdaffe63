//! The console's logs view on the sandbox, driven in tmux: a line written
//! on one host of eight is found by search under that host's prefix; the
//! hosts view opens one container's log; an engine restarted under a
//! followed log gives a reconnect marker and no line lost or repeated
//! (checked in the file the view saves); a flood the console cannot take
//! is counted line for line (shown + dropped), keeps to the buffer's
//! budget, and keys still answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::tmux::{Tmux, line_of};
use common::*;

/// The tests that restart an engine or flood the fleet do not run beside
/// the one that reads all eight hosts.
static FLEET: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `:CMD` in the palette.
fn palette(tui: &Tmux, cmd: &str) {
    tui.keys(&[":"]);
    tui.type_text(cmd);
    tui.keys(&["Enter"]);
}

/// The number before `word` on the logs view's status line (`12,345 lines`).
fn count(screen: &str, word: &str) -> u64 {
    let status = line_of(screen, "buffer");
    status
        .split(" · ")
        .find_map(|part| {
            let part = part.trim_start_matches('│').trim();
            part.strip_suffix(word)
                .or_else(|| part.split_once(&format!(" {word}")).map(|(n, _)| n))
                .and_then(|n| n.trim().replace(',', "").parse().ok())
        })
        .unwrap_or(0)
}

/// A log row of h06 or h07 with its timestamp (`│12:00:01.123 h06 │ …`).
fn stamped(screen: &str) -> bool {
    screen.lines().any(|l| {
        (l.contains(" h06 │ ") || l.contains(" h07 │ "))
            && l.chars().nth(3) == Some(':')
            && l.chars().nth(9) == Some('.')
    })
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_on_one_host_of_eight_is_found_by_search_under_its_prefix() {
    let _fleet = FLEET.lock().await;
    let (p, e, port) = ("it-tlogs-all", "dev", 18640);
    let hosts = [1, 2, 3, 4, 5, 6, 7, 8];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), p, &[(e, &hosts)], port);
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &cfg, tmp.path());
    assert_eq!(code, 0, "{out}");

    let tui = Tmux::start(&cfg, tmp.path(), "all");
    tui.open_env(p, e);
    // `:logs`: every host of the environment in one stream.
    palette(&tui, "logs");
    let prefixes: Vec<String> = hosts.iter().map(|h| format!("h{h:02} │ ")).collect();
    let title = format!("{p} › {e} › logs · 8 hosts");
    let mut needles: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    needles.extend([title.as_str(), "following"]);
    tui.wait_for(&needles, Duration::from_secs(30));

    let marker = unique("needle-h05");
    write_to_log(5, p, e, &marker, false).await;
    tui.wait_for(&[&marker], Duration::from_secs(20));
    tui.keys(&["f"]);
    tui.type_text(&marker);
    tui.keys(&["Enter"]);
    let s = tui.wait_for(
        &[&format!("search /{marker}/ 1/1")],
        Duration::from_secs(10),
    );
    let found = line_of(&s, &format!("│ {marker}"));
    assert!(found.contains(&format!("h05 │ {marker}")), "{s}");
    // Once, under h05 only.
    assert_eq!(s.matches(&format!("│ {marker}")).count(), 1, "{s}");
    // `n` stays on the only hit.
    tui.keys(&["n"]);
    tui.wait_for(&[&format!("search /{marker}/ 1/1")], Duration::from_secs(5));
    tui.quit();
    // The same through the headless command.
    let found = shipdeck(&["logs", p, e, "--grep", &marker], &cfg, tmp.path());
    assert_eq!(found.status.code(), Some(0), "{found:?}");
    assert_eq!(
        String::from_utf8_lossy(&found.stdout)
            .lines()
            .collect::<Vec<_>>(),
        vec![format!("h05 | {marker}")],
        "{found:?}"
    );
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_view_opens_one_containers_log_and_esc_closes_it() {
    let (p, e, port) = ("it-tlogs-one", "dev", 18641);
    let hosts = [2, 3];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), p, &[(e, &hosts)], port);
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &cfg, tmp.path());
    assert_eq!(code, 0, "{out}");
    let on_h02 = unique("on-h02");
    let on_h03 = unique("on-h03");
    write_to_log(2, p, e, &on_h02, false).await;
    write_to_log(3, p, e, &on_h03, true).await;

    let tui = Tmux::start(&cfg, tmp.path(), "one");
    tui.open_env(p, e);
    tui.keys(&["j", "L"]);
    let s = tui.wait_for(
        &[&format!("{p} › {e} › h03 › logs · h03"), &on_h03],
        Duration::from_secs(20),
    );
    // h03's container only; stderr marked with `!`.
    assert!(
        line_of(&s, &on_h03).contains(&format!("h03 ! {on_h03}")),
        "{s}"
    );
    assert!(!s.contains(&on_h02), "{s}");
    assert!(!s.contains("h02 │"), "{s}");
    // The timestamps toggle (the screen is read until it is redrawn, bounded).
    tui.keys(&["c"]);
    let stamped = |l: &str| l.chars().nth(3) == Some(':') && l.chars().nth(9) == Some('.');
    let start = Instant::now();
    let mut line = String::new();
    while start.elapsed() < Duration::from_secs(5) {
        line = line_of(&tui.screen(), &on_h03).to_string();
        if stamped(&line) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(stamped(&line), "no timestamp: {line}");
    tui.keys(&["Escape"]);
    tui.wait_for(&[&format!("{e} › hosts")], Duration::from_secs(10));
    tui.quit();
    clean(p, e, &hosts).await;
}

/// The fault: the engine of the host whose log is followed is killed and
/// started again (its container lives on, writing numbered lines). The view marks the
/// reconnect; the file it saves has every line once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_restarted_under_a_followed_log_loses_and_repeats_no_line() {
    let _fleet = FLEET.lock().await;
    let (p, e, port) = ("it-tlogs-rst", "dev", 18642);
    let hosts = [4];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), p, &[(e, &hosts)], port);
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &cfg, tmp.path());
    assert_eq!(code, 0, "{out}");

    let tui = Tmux::start(&cfg, tmp.path(), "rst");
    tui.open_env(p, e);
    tui.keys(&["L"]);
    tui.wait_for(
        &["h04 › logs", "following", "listening on"],
        Duration::from_secs(20),
    );
    let tag = unique("seq");
    let last = 300;
    run_in_background(
        4,
        p,
        e,
        &format!(
            "i=0; while [ $i -lt {last} ]; do i=$((i+1)); echo {tag}-$i > /proc/1/fd/1; sleep 0.05; done"
        ),
    )
    .await;
    tui.wait_for(&[&format!("{tag}-20")], Duration::from_secs(20));
    // Killed (SIGKILL), down for a moment, started again; the container
    // lives on (live-restore) and keeps writing.
    sandbox(&["stop-host", "h04"]);
    std::thread::sleep(Duration::from_secs(2));
    sandbox(&["start-host", "h04"]);
    tui.wait_for(&["1 reconnect(s)"], Duration::from_secs(90));
    tui.wait_for(&[&format!("{tag}-{last}")], Duration::from_secs(60));
    let saved = tmp.path().join("saved.log");
    palette(&tui, &format!("save {}", saved.display()));
    tui.wait_for(&["lines written to"], Duration::from_secs(10));
    let text = std::fs::read_to_string(&saved).unwrap();
    let numbers: Vec<usize> = text
        .lines()
        .filter(|l| l.contains(&format!("{tag}-")))
        .map(|l| {
            assert!(l.contains(" h04 | "), "{l}");
            l.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap()
        })
        .collect();
    assert_eq!(numbers, (1..=last).collect::<Vec<_>>(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(" # ") && l.contains("h04 reconnected after")),
        "the marker is saved too: {text}"
    );
    // On screen: the numbered lines filtered out (`!` inverts), the
    // marker stays (markers pass every filter).
    tui.keys(&["/"]);
    tui.type_text(&format!("!{tag}"));
    tui.keys(&["Enter"]);
    let s = tui.wait_for(
        &["h04 reconnected after", "none repeated"],
        Duration::from_secs(10),
    );
    assert!(!s.contains(&format!("{tag}-1")), "{s}");
    tui.quit();
    clean(p, e, &hosts).await;
}

/// A flood of 300,000 lines from two hosts into a 2 MiB buffer: every line
/// is either in the count received or in the count dropped (on screen), the
/// buffer keeps to its budget (the oldest lines leave, counted), the
/// console's memory does not grow with the flood, and a key is answered
/// while it lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_counted_line_for_line_within_the_budget_and_keys_answer() {
    let _fleet = FLEET.lock().await;
    let (p, e, port) = ("it-tlogs-flood", "dev", 18643);
    let hosts = [6, 7];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), p, &[(e, &hosts)], port);
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &cfg, tmp.path());
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replacen("[settings]\n", "[settings]\nlog_buffer = 2\n", 1),
    )
    .unwrap();

    let tui = Tmux::start(&cfg, tmp.path(), "flood");
    tui.open_env(p, e);
    palette(&tui, "logs");
    let s = tui.wait_for(
        &["h06 │", "h07 │", "following", "of 2.0 MiB"],
        Duration::from_secs(20),
    );
    let before = count(&s, "lines");
    let pid = tui.pid();
    let rss_before = rss_kib(pid);
    let per_host = 150_000;
    for h in hosts {
        run_in_background(h, p, e, &format!("seq 1 {per_host} > /proc/1/fd/1")).await;
    }
    let want = before + 2 * per_host;
    let start = Instant::now();
    let mut rss_peak = rss_before;
    let mut answered = None;
    let (shown, dropped, s) = loop {
        std::thread::sleep(Duration::from_millis(300));
        rss_peak = rss_peak.max(rss_kib(pid));
        let s = tui.screen();
        let (shown, dropped) = (count(&s, "lines"), count(&s, "dropped"));
        // A key in the middle of the flood: the timestamps toggle, seen
        // on screen within 5 s.
        if answered.is_none() && shown > before + 20_000 {
            let pressed = Instant::now();
            tui.keys(&["c"]);
            while !stamped(&tui.screen()) {
                assert!(
                    pressed.elapsed() < Duration::from_secs(5),
                    "c was not answered during the flood:\n{}",
                    tui.screen()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            answered = Some(pressed.elapsed());
        }
        if shown + dropped >= want {
            break (shown, dropped, s);
        }
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "{shown} + {dropped} of {want} lines within 150 s:\n{s}"
        );
    };
    assert!(answered.is_some(), "the flood ended before a key was tried");
    eprintln!(
        "flood: {shown} shown, {dropped} dropped of {want}; RSS {rss_before} → peak {rss_peak} KiB; key answered in {answered:?}"
    );
    assert_eq!(shown + dropped, want, "every line counted once:\n{s}");
    assert!(
        s.contains("older left"),
        "a 2 MiB buffer cannot hold it:\n{s}"
    );
    let status = line_of(&s, "buffer");
    let used: f64 = status
        .split("buffer ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(used <= 2.0, "{status}");
    // The buffer's 2 MiB plus what is in flight (bounded channels); not
    // the flood's ~2 MB of text times its copies.
    assert!(
        rss_peak <= rss_before + 24 * 1024,
        "RSS grew from {rss_before} to {rss_peak} KiB"
    );
    tui.quit();
    clean(p, e, &hosts).await;
}
