//! Releases from the keyboard, the way an operator does them: the console in
//! tmux on the sandbox fleet deploys (tag picker, plan preview, typed
//! confirmation for prod), watches the rollout view, rolls back with one
//! key; a bad version fails with its probe output and log on screen; two
//! consoles pause, resume and abort one rollout. Every outcome is checked on
//! the fleet through the Docker API, not only on the screen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::tmux::{Tmux, line_of};
use common::*;

/// Health by the HTTP probe, 200 ms apart, with `start_period`; one host at
/// a time.
fn tables(port: u16, start_period: &str) -> String {
    format!(
        "[projects.health]\nhttp = \"/health\"\nport = {port}\ndocker = false\ninterval = \"200ms\"\nretries = 10\nstart_period = \"{start_period}\"\n[projects.rollout]\nmax_unavailable = 1\n"
    )
}

/// A config for `project` in `env` on `hosts`, with the sandbox registry
/// (for the tag picker) and `env` protected when `protect`. With
/// `ready_delay`, every version needs that many seconds before it answers
/// (`WEB_MODE=slow`), and the health gate's start period is 12 s instead of
/// 2 s, so that a slow starter is not failed on a loaded box.
fn config(
    dir: &Path,
    project: &str,
    env: &str,
    hosts: &[usize],
    port: u16,
    protect: bool,
    ready_delay: Option<u32>,
) -> PathBuf {
    let start_period = if ready_delay.is_some() { "12s" } else { "2s" };
    let path = write_config_with(
        dir,
        project,
        &[(env, hosts)],
        port,
        &tables(port, start_period),
    );
    let mut s = std::fs::read_to_string(&path).unwrap();
    if protect {
        s = s.replace(
            &format!("name = \"{env}\"\n"),
            &format!("name = \"{env}\"\nconfirm = true\n"),
        );
    }
    if let Some(delay) = ready_delay {
        s = s.replace(
            &format!("env = {{ PORT = \"{port}\" }}"),
            &format!(
                "env = {{ PORT = \"{port}\", WEB_MODE = \"slow\", WEB_READY_DELAY = \"{delay}\" }}"
            ),
        );
    }
    s = s.replace(
        "[[projects]]\n",
        &format!(
            "[[registries]]\nname = \"sandbox\"\nurl = \"http://{REGISTRY}\"\n\n[[projects]]\n"
        ),
    );
    s = s.replace(
        &format!("image = \"{IMAGE}\"\n"),
        &format!("image = \"{IMAGE}\"\nregistry = \"sandbox\"\n"),
    );
    std::fs::write(&path, s).unwrap();
    path
}

/// A clean start: v1 deployed headless on `hosts`, then the config with
/// `env` protected (`confirm = true`) that the console runs with.
async fn v1_then_protected(
    project: &str,
    env: &str,
    hosts: &[usize],
    port: u16,
) -> (tempfile::TempDir, PathBuf) {
    clean(project, env, hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let plain = config(tmp.path(), project, env, hosts, port, false, None);
    let (code, _, out) = rollout_json(&["deploy", project, env, "v1"], &plain, tmp.path());
    assert_eq!(code, 0, "{out}");
    let cfg = config(tmp.path(), project, env, hosts, port, true, None);
    (tmp, cfg)
}

/// From the hosts view: D, pick `version` by typing it, see the plan, type
/// the environment's name, and land in the rollout view.
fn deploy_from_keyboard(tui: &Tmux, project: &str, env: &str, version: &str) {
    tui.keys(&["D"]);
    tui.wait_for(
        &["pick a tag or type a version", version],
        Duration::from_secs(20),
    );
    tui.type_text(version);
    tui.keys(&["Enter"]);
    // The plan preview, then the typed confirmation of a protected env.
    tui.wait_for(
        &[
            &format!("deploy {project} {version} → {env}?"),
            "batch 1:",
            "keep serving",
            &format!("type {env} to go on"),
        ],
        Duration::from_secs(20),
    );
    // A wrong name is refused and changes nothing.
    tui.type_text("nope");
    tui.keys(&["Enter"]);
    tui.wait_for(&["does not match"], Duration::from_secs(5));
    for _ in 0..4 {
        tui.keys(&["BSpace"]);
    }
    tui.type_text(env);
    tui.keys(&["Enter"]);
    tui.wait_for(&[&format!("{env} › rollout")], Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_v2_from_the_keyboard_then_one_key_rollback_to_v1() {
    let (p, e, port) = ("it-tui-rel", "prod", 18601);
    let hosts = [3, 4, 5];
    let (tmp, cfg) = v1_then_protected(p, e, &hosts, port).await;

    let tui = Tmux::start(&cfg, tmp.path(), "rel");
    tui.open_env(p, e);
    deploy_from_keyboard(&tui, p, e, "v2");
    let s = tui.wait_for(
        &["✔ SUCCEEDED", "deploy v1 → v2", "healthy 3/3"],
        Duration::from_secs(90),
    );
    assert!(line_of(&s, "h03").contains("healthy"), "{s}");
    assert_all_serve(&hosts, p, e, port, "v2").await;

    // One key: the dialog names the version it goes back to.
    tui.keys(&["R"]);
    tui.wait_for(
        &["back to", "v1", "the last release that served (default)"],
        Duration::from_secs(20),
    );
    tui.keys(&["Enter"]);
    tui.wait_for(
        &[&format!("roll {p}/{e} back to v1?"), "no pull", "type prod"],
        Duration::from_secs(5),
    );
    tui.type_text(e);
    tui.keys(&["Enter"]);
    tui.wait_for(
        &["✔ SUCCEEDED", "rollback v2 → v1"],
        Duration::from_secs(90),
    );
    assert_all_serve(&hosts, p, e, port, "v1").await;

    // The history says so, newest first.
    tui.keys(&["H"]);
    let s = tui.wait_for(
        &["history (3)", "rollback", "rolled back"],
        Duration::from_secs(20),
    );
    assert!(line_of(&s, "v2").contains("rolled back"), "{s}");
    tui.quit();
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_version_fails_on_screen_with_its_probe_and_log_and_the_fleet_stays_on_v1() {
    let (p, e, port) = ("it-tui-bad", "prod", 18602);
    let hosts = [6, 7];
    let (tmp, cfg) = v1_then_protected(p, e, &hosts, port).await;

    let tui = Tmux::start(&cfg, tmp.path(), "bad");
    tui.open_env(p, e);
    deploy_from_keyboard(&tui, p, e, "v3-bad");
    // Without a key press: the failure, the probe's output, the log lines.
    let s = tui.wait_for(
        &[
            "✖ FAILED",
            "why h06 failed",
            "last probe:",
            "HTTP 404",
            "its log (last",
            "v3-bad (bad) listening",
        ],
        Duration::from_secs(90),
    );
    assert!(line_of(&s, "h06").contains("restored"), "{s}");
    assert!(
        !line_of(&s, "h07").contains("healthy"),
        "h07 was never touched: {s}"
    );
    assert_all_serve(&hosts, p, e, port, "v1").await;

    // L from the failed rollout: the failing host's logs, the failed
    // container's last lines first (it was taken down), then the restored
    // v1 container's own log, followed.
    tui.keys(&["L"]);
    let s = tui.wait_for(
        &[
            "› h06 › logs",
            "v3-bad failed here",
            "h06 (v3-bad failed) │",
            "the restored container's log follows",
            "following",
        ],
        Duration::from_secs(20),
    );
    assert!(
        line_of(&s, "h06 (v3-bad failed) │").contains("v3-bad (bad) listening"),
        "{s}"
    );
    let s = tui.wait_for(&["demo/web v1"], Duration::from_secs(20));
    assert!(line_of(&s, "demo/web v1").contains("│h06 "), "{s}");
    assert!(!s.contains("h07"), "only h06's lines: {s}");
    tui.keys(&["Escape"]);
    tui.wait_for(&["✖ FAILED", "why h06 failed"], Duration::from_secs(10));

    tui.keys(&["H"]);
    let s = tui.wait_for(&["history (2)", "v3-bad"], Duration::from_secs(20));
    assert!(line_of(&s, "v3-bad").contains("failed"), "{s}");
    tui.quit();
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consoles_pause_resume_and_abort_one_rollout() {
    let (p, e, port) = ("it-tui-two", "staging", 18603);
    let hosts = [2, 5, 6, 8];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    // Every version needs 8 s before it answers: the rollout (4 batches of
    // one) outlasts the 15 s in which an idle console sees another
    // operator's lock.
    let cfg = config(tmp.path(), p, e, &hosts, port, false, Some(8));
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &cfg, tmp.path());
    assert_eq!(code, 0, "{out}");

    let state_b = tempfile::tempdir().unwrap();
    let a = Tmux::start(&cfg, tmp.path(), "two-a");
    let b = Tmux::start(&cfg, state_b.path(), "two-b");
    a.open_env(p, e);
    b.open_env(p, e);
    // A deploys (no typed confirmation: staging is not protected).
    a.keys(&["D"]);
    a.wait_for(
        &["pick a tag or type a version", "v2"],
        Duration::from_secs(20),
    );
    a.type_text("v2");
    a.keys(&["Enter"]);
    a.wait_for(
        &[&format!("deploy {p} v2 → {e}?"), "enter / y goes on"],
        Duration::from_secs(20),
    );
    a.keys(&["Enter"]);
    a.wait_for(&["batch 1/4"], Duration::from_secs(30));
    // B sees another operator's rollout.
    b.keys(&["o"]);
    b.wait_for(&["in progress by"], Duration::from_secs(25));

    // A pauses; both say so.
    a.keys(&["Space"]);
    a.wait_for(&["PAUSED"], Duration::from_secs(60));
    b.wait_for(&["in progress by", "paused"], Duration::from_secs(20));
    let paused_at = a.screen();

    // B resumes; A runs on.
    b.keys(&["Space"]);
    b.wait_for(&["resum"], Duration::from_secs(20));
    a.wait_for(&["RUNNING"], Duration::from_secs(30));

    // B aborts (a plain confirmation), A's rollout ends aborted.
    b.keys(&["A"]);
    b.wait_for(
        &["abort the rollout of", "enter / y goes on"],
        Duration::from_secs(5),
    );
    b.keys(&["y"]);
    let s = a.wait_for(&["✖"], Duration::from_secs(90));
    assert!(s.contains("ABORTED") || s.contains("ROLLED BACK"), "{s}");
    // B no longer shows it in progress.
    let start = Instant::now();
    loop {
        let sb = b.screen();
        if !sb.contains("in progress by") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "B still shows it running:\n{sb}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The fleet is consistent: every host serves exactly one healthy container.
    let versions = assert_one_serving(&hosts, p, e, port).await;
    assert!(
        versions.values().all(|v| v == "v1" || v == "v2"),
        "{versions:?}\n{paused_at}\n{s}"
    );
    a.quit();
    b.quit();
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quitting_during_a_rollout_asks_first_and_leaves_it_resumable() {
    let (p, e, port) = ("it-tui-quit", "staging", 18604);
    let hosts = [3, 7, 8];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), p, e, &hosts, port, false, Some(4));
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &cfg, tmp.path());
    assert_eq!(code, 0, "{out}");

    let tui = Tmux::start(&cfg, tmp.path(), "quit");
    tui.open_env(p, e);
    tui.keys(&[":"]);
    tui.type_text("deploy v2");
    tui.keys(&["Enter"]);
    tui.wait_for(&[&format!("deploy {p} v2 → {e}?")], Duration::from_secs(20));
    tui.keys(&["y"]);
    tui.wait_for(
        &["batch 1/3", "waiting for health"],
        Duration::from_secs(30),
    );
    // q asks first; n stays.
    tui.keys(&["q"]);
    tui.wait_for(
        &["quit while rollouts run?", "resume"],
        Duration::from_secs(5),
    );
    tui.keys(&["n"]);
    assert!(tui.alive());
    // q, y: no further host starts, the one in flight finishes, then it quits.
    tui.keys(&["q"]);
    tui.wait_for(&["quit while rollouts run?"], Duration::from_secs(5));
    tui.keys(&["y"]);
    let start = Instant::now();
    while tui.alive() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the console did not quit:\n{}",
            tui.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every host serves one healthy container; the release is resumable.
    let versions = assert_one_serving(&hosts, p, e, port).await;
    assert!(
        versions.values().any(|v| v == "v1"),
        "it stopped early: {versions:?}"
    );
    let out = shipdeck(&["status", p, e, "--json"], &cfg, tmp.path());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let env = &v["projects"][0]["environments"][0];
    assert_eq!(env["rollout"]["state"], "interrupted", "{env}");
    let (code, _, out) = rollout_json(&["deploy", p, e, "--resume"], &cfg, tmp.path());
    assert_eq!(code, 0, "{out}");
    assert_all_serve(&hosts, p, e, port, "v2").await;
    clean(p, e, &hosts).await;
}
