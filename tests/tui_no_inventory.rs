//! The console without an inventory file, in tmux, as a person would start
//! it: `DOCKER_HOST=unix:///…/h01/docker.sock shipdeck` in an empty
//! directory, with no user config anywhere. It shows, read-only, the
//! projects, environments and versions of the labelled containers on that
//! engine, says how to write an inventory, and refuses every change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::tmux::{Tmux, line_of};
use common::*;

/// Two projects of this run, and what both names start with.
fn projects() -> (String, String, String) {
    let tag = short_unique("ni");
    (format!("{tag}a"), format!("{tag}b"), tag)
}

/// The (name, id, state) of every container of `project` on host `n`.
async fn containers_of(n: usize, project: &str) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for env in ["dev", "prod", "staging"] {
        for c in on_host(n, project, env).await {
            out.insert((
                c.names.and_then(|n| n.first().cloned()).unwrap_or_default(),
                c.id.unwrap_or_default(),
                c.state.map(|s| s.to_string()).unwrap_or_default(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_opens_read_only_on_docker_host_without_an_inventory() {
    let (a, b, tag) = projects();
    let h1 = docker(1).await;
    let _cleanup = CleanupProjects(1, vec![a.clone(), b.clone()]);
    run_labelled(&h1, &format!("{a}.dev"), "v1", &a, "dev", 18701).await;
    run_labelled(&h1, &format!("{a}.prod"), "v2", &a, "prod", 18702).await;
    run_labelled(&h1, &format!("{b}.staging"), "v1", &b, "staging", 18703).await;
    let before_a = containers_of(1, &a).await;
    assert_eq!(before_a.len(), 2, "{before_a:?}");
    // The engine names itself; the console's one host is named after it.
    let engine_name = h1.info().await.unwrap().name.unwrap();

    let root = tempfile::tempdir().unwrap();
    let cwd = root.path().join("empty");
    std::fs::create_dir_all(&cwd).unwrap();
    let socket = format!("unix://{}/h01/docker.sock", sandbox_dir().display());
    let mut env = isolated_env(root.path());
    env.push(("DOCKER_HOST", socket.clone()));
    let tui = Tmux::start_bare(&cwd, "noinv", &env);

    // The banner: no inventory, which engine, how to write one.
    let screen = tui.wait_for(
        &[
            "No inventory",
            &format!("read-only view of {socket} (DOCKER_HOST)"),
            "READ-ONLY (no inventory)",
        ],
        Duration::from_secs(20),
    );
    assert!(screen.contains("shipdeck.toml"), "{screen}");
    assert!(screen.contains("config/example.toml"), "{screen}");

    // This run's projects, with every environment's version. Other tests'
    // containers share h01: filter down to this run's two.
    tui.keys(&["/"]);
    tui.type_text(&tag);
    tui.keys(&["Enter"]);
    // The versions come with the engine's watcher, a moment after the first frame.
    let screen = tui.wait_for(
        &[
            &a,
            &b,
            "projects (2)",
            "engines 1/1 up",
            "prod v2",
            "staging v1",
        ],
        Duration::from_secs(10),
    );
    let row_a = line_of(&screen, &a);
    assert!(row_a.contains("dev v1"), "{screen}");
    assert!(row_a.contains("prod v2"), "{screen}");
    assert!(!row_a.contains("staging"), "{screen}");
    let row_b = line_of(&screen, &b);
    assert!(row_b.contains("staging v1"), "{screen}");
    assert!(row_a.contains("10.213.0.1:5000/demo/web"), "{screen}");

    // Deploy and rollback are refused, with the reason and what to do.
    tui.keys(&["Enter"]);
    tui.wait_for(&[&format!("{a} › environments")], Duration::from_secs(10));
    tui.keys(&["D"]);
    let screen = tui.wait_for(
        &["read-only console (no inventory): deploy is off"],
        Duration::from_secs(5),
    );
    assert!(screen.contains("write ./shipdeck.toml"), "{screen}");
    tui.keys(&["R"]);
    tui.wait_for(
        &["read-only console (no inventory): rollback is off"],
        Duration::from_secs(5),
    );

    // The environment's host: the engine, and the version it runs.
    tui.keys(&[":"]);
    tui.type_text(&format!("env {a}/prod"));
    tui.keys(&["Enter"]);
    let screen = tui.wait_for(&["prod › hosts", &engine_name], Duration::from_secs(10));
    // The table's row (the banner names the socket, which may hold the name too).
    let host_row = screen
        .lines()
        .find(|l| l.starts_with('│') && l.contains(&engine_name))
        .unwrap_or("");
    assert!(host_row.contains("v2"), "{screen}");
    assert!(host_row.contains("running"), "{screen}");
    // A change on a host is refused there too.
    tui.keys(&["D"]);
    tui.wait_for(
        &["read-only console (no inventory): deploy is off"],
        Duration::from_secs(5),
    );
    tui.quit();

    // Nothing changed on the engine: the same containers, still running.
    let after_a = containers_of(1, &a).await;
    assert_eq!(after_a, before_a, "the read-only console changed the fleet");
    assert!(
        after_a.iter().all(|(_, _, s)| s == "running"),
        "{after_a:?}"
    );
}

/// A command that needs an inventory, without one: exit 2, and what to do.
#[test]
fn a_headless_command_without_an_inventory_says_how_to_write_one() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path().join("empty");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
    cmd.arg("status")
        .current_dir(&cwd)
        .env_remove("SHIPDECK_CONFIG")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    for (k, v) in isolated_env(root.path()) {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no inventory"), "{stderr}");
    assert!(stderr.contains("./shipdeck.toml"), "{stderr}");
    assert!(stderr.contains("config/example.toml"), "{stderr}");
    assert!(stderr.contains("--config"), "{stderr}");
    let user_file = root.path().join("config/shipdeck/config.toml");
    assert!(
        stderr.contains(&user_file.display().to_string()),
        "{stderr}"
    );
}
