//! Live fleet watching against the real sandbox: changes arrive by `docker
//! events` (liveness pings are set to a minute, so nothing here can come from
//! polling); killing one host's dockerd turns that host Unreachable while the
//! others stay live; it reconnects when the daemon returns.
//!
//! This file is its own test binary on purpose: `cargo test` runs test
//! binaries one after another, so no other test uses a host while it is down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use shipdeck::domain::{Fleet, FleetUpdate, HostState, Reachability};
use shipdeck::engine::{WatchConfig, spawn_fleet_watchers};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const PROJECT: &str = "it-outage";
const PORT: u16 = 18082;
const VICTIM: usize = 8;

fn sandbox(args: &[&str]) {
    let out = Command::new(repo_root().join("scripts/sandbox"))
        .args(args)
        .output()
        .expect("run scripts/sandbox");
    assert!(
        out.status.success(),
        "scripts/sandbox {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Brings the victim's daemon back even if an assertion fails half-way.
struct Revive;
impl Drop for Revive {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/sandbox"))
            .args(["start-host", &host_name(VICTIM)])
            .output();
    }
}

/// Apply updates from `rx` to `fleet` until `pred` holds, for at most `limit`.
async fn wait_until(
    rx: &mut mpsc::Receiver<FleetUpdate>,
    fleet: &mut Fleet,
    limit: Duration,
    what: &str,
    pred: impl Fn(&Fleet) -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !pred(fleet) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(u)) => {
                fleet.apply(u);
            }
            Ok(None) => panic!("watchers stopped while waiting for: {what}"),
            Err(_) => panic!("not within {limit:?}: {what}; fleet = {fleet:#?}"),
        }
    }
}

fn host(f: &Fleet, n: usize) -> &HostState {
    &f.hosts[&host_name(n)]
}

fn has_container(f: &Fleet, n: usize, name: &str) -> bool {
    host(f, n).containers.values().any(|c| c.name == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_host_is_reported_and_reconnects() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write_config(tmp.path(), PROJECT, &[("prod", &[6, 7, VICTIM])], PORT);
    let config = Arc::new(shipdeck::config::load(&path).expect("test config loads"));
    let (h6, h7, h8) = (docker(6).await, docker(7).await, docker(VICTIM).await);
    for d in [&h6, &h7, &h8] {
        remove_project(d, PROJECT).await;
    }
    run_labelled(&h8, "it-outage-h08", "v1", PROJECT, "prod", PORT).await;

    let mut fleet = Fleet {
        hosts: config
            .hosts
            .iter()
            .map(|h| {
                (
                    h.name.clone(),
                    HostState::new(&h.name, &h.endpoint.to_string()),
                )
            })
            .collect(),
    };
    let (tx, mut rx) = mpsc::channel(256);
    let cancel = CancellationToken::new();
    let wc = WatchConfig {
        timeout: Duration::from_secs(2),
        backoff_min: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        // A minute: every change below must come from the event stream.
        liveness_interval: Duration::from_secs(60),
    };
    let _watchers = spawn_fleet_watchers(&config, wc, tx, cancel.clone());

    wait_until(
        &mut rx,
        &mut fleet,
        Duration::from_secs(15),
        "all hosts connected",
        |f| {
            f.hosts.values().all(|h| h.reach.is_reachable())
                && has_container(f, VICTIM, "it-outage-h08")
        },
    )
    .await;

    // A change on a live host arrives by events.
    run_labelled(&h6, "it-outage-h06", "v1", PROJECT, "prod", PORT).await;
    wait_until(
        &mut rx,
        &mut fleet,
        Duration::from_secs(5),
        "h06 container seen",
        |f| has_container(f, 6, "it-outage-h06"),
    )
    .await;

    // Kill the victim's daemon.
    let _revive = Revive;
    sandbox(&["stop-host", &host_name(VICTIM)]);
    wait_until(
        &mut rx,
        &mut fleet,
        Duration::from_secs(10),
        "victim unreachable",
        |f| matches!(host(f, VICTIM).reach, Reachability::Unreachable { .. }),
    )
    .await;
    assert!(host(&fleet, 6).reach.is_reachable());
    assert!(host(&fleet, 7).reach.is_reachable());

    // The others stay live during the outage.
    run_labelled(&h7, "it-outage-h07", "v1", PROJECT, "prod", PORT).await;
    wait_until(
        &mut rx,
        &mut fleet,
        Duration::from_secs(5),
        "h07 container seen during outage",
        |f| has_container(f, 7, "it-outage-h07"),
    )
    .await;

    // The headless view agrees, with exit code 3.
    let out = Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .args(["status", "--json", "--config"])
        .arg(&path)
        .env("XDG_STATE_HOME", tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let victim = v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == host_name(VICTIM))
        .unwrap();
    assert_eq!(victim["reach"]["state"], "unreachable", "{victim}");
    assert!(
        victim["reach"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{victim}"
    );

    // Bring it back: the watcher reconnects and the container (kept running by
    // --live-restore) is listed again.
    sandbox(&["start-host", &host_name(VICTIM)]);
    wait_until(
        &mut rx,
        &mut fleet,
        Duration::from_secs(30),
        "victim reconnected",
        |f| host(f, VICTIM).reach.is_reachable() && has_container(f, VICTIM, "it-outage-h08"),
    )
    .await;

    cancel.cancel();
    let h8 = docker(VICTIM).await;
    for d in [&h6, &h7, &h8] {
        remove_project(d, PROJECT).await;
    }
}
