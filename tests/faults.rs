//! The rollout engine under faults, on the real sandbox fleet: daemons that
//! restart or die, shipdeck killed at each phase, links and registries that
//! go away, operators racing each other, signals. After every fault each
//! test asserts on the fleet through the Docker API: every host runs exactly
//! one app container, with the serving name, answering `/health` (none with
//! zero or two); the exit code is honest; `history --json` tells what
//! happened.
//!
//! Hosts: tests that restart, kill or cut the link of a daemon use h08 and
//! run one at a time (`DAEMON`); no other test here uses h08.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Tests that touch a daemon (restart, kill, link) take turns on h08.
static DAEMON: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// HTTP-probe health (200 ms apart, 10 retries) with a start period, and a
/// rollout table.
fn tables(port: u16, start_period: &str, max_unavailable: &str, extra_rollout: &str) -> String {
    format!(
        "[projects.health]\nhttp = \"/health\"\nport = {port}\ndocker = false\ninterval = \"200ms\"\nretries = 10\nstart_period = \"{start_period}\"\n[projects.rollout]\nmax_unavailable = {max_unavailable}\n{extra_rollout}\n"
    )
}

/// Every version needs `delay` seconds to get ready (so batches take a while).
fn slow(path: &Path, port: u16, delay: u32) {
    let text = std::fs::read_to_string(path).unwrap().replace(
        &format!("env = {{ PORT = \"{port}\" }}"),
        &format!(
            "env = {{ PORT = \"{port}\", WEB_MODE = \"slow\", WEB_READY_DELAY = \"{delay}\" }}"
        ),
    );
    std::fs::write(path, text).unwrap();
}

/// A fresh start: the project's containers, locks and ledger gone, a config.
async fn setup(
    p: &str,
    e: &str,
    hosts: &[usize],
    port: u16,
    tables: &str,
) -> (tempfile::TempDir, PathBuf) {
    clean(p, e, hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config_with(tmp.path(), p, &[(e, hosts)], port, tables);
    (tmp, config)
}

/// Run a `--json` rollout command with the lock ttl given (`None`: the default).
fn cmd(args: &[&str], config: &Path, state: &Path, ttl: Option<&str>) -> (i32, Vec<Value>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shipdeck"));
    c.arg("--config")
        .arg(config)
        .args(args)
        .args(["--yes", "--json"])
        .env("XDG_STATE_HOME", state)
        .env_remove("SHIPDECK_LOCK_TTL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = ttl {
        c.env("SHIPDECK_LOCK_TTL", t);
    }
    json_output(&c.output().unwrap())
}

fn finished(events: &[Value]) -> &Value {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "finished")
        .unwrap_or(&Value::Null)
}

/// (action, version, result) of each release in `history --json`.
fn releases(h: &[Value]) -> Vec<(String, String, String)> {
    h.iter()
        .filter(|r| r["kind"] == "release")
        .map(|r| {
            (
                r["action"].as_str().unwrap_or("").to_string(),
                r["version"].as_str().unwrap_or("").to_string(),
                r["result"].as_str().unwrap_or("interrupted").to_string(),
            )
        })
        .collect()
}

/// The ids of the running serving containers.
async fn serving_ids(hosts: &[usize], p: &str, e: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for &n in hosts {
        let run = host_run(n, p, e).await;
        ids.extend(run.running.into_iter().map(|(_, _, id)| id));
    }
    ids
}

/// The restart policy of container `name` on host `n`.
async fn restart_policy(n: usize, name: &str) -> String {
    docker(n)
        .await
        .inspect_container(name, None)
        .await
        .ok()
        .and_then(|c| c.host_config)
        .and_then(|h| h.restart_policy)
        .and_then(|r| r.name)
        .map(|n| n.to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clean_daemon_restart_brings_back_only_the_serving_container() {
    let _turn = DAEMON.lock().await;
    let (p, e, port) = ("it-flt-restart", "prod", 18301);
    let hosts = [7, 8];
    let (tmp, config) = setup(p, e, &hosts, port, &tables(port, "5s", "1", "")).await;
    for v in ["v1", "v2"] {
        let (code, _, out) = cmd(&["deploy", p, e, v], &config, tmp.path(), Some("8"));
        assert_eq!(code, 0, "{out}");
    }
    // The kept v1 has restart policy `no`; the serving one keeps `always`.
    let run = host_run(8, p, e).await;
    let kept = run
        .all
        .iter()
        .find(|(_, v, _)| v == "v1")
        .map(|(n, _, _)| n.clone())
        .expect("v1 kept on h08");
    assert_eq!(restart_policy(8, &kept).await, "no", "{kept}");
    assert_eq!(restart_policy(8, &format!("{p}.{e}")).await, "always");

    sandbox(&["restart-host", "h08"]);
    // Give the daemon a moment to apply restart policies.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_all_serve(&hosts, p, e, port, "v2").await;

    // Rollback works on the restarted host, and a second restart changes nothing.
    let (code, _, out) = cmd(&["rollback", p, e], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    assert_all_serve(&hosts, p, e, port, "v1").await;
    sandbox(&["restart-host", "h08"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_all_serve(&hosts, p, e, port, "v1").await;

    // A kept container from an older shipdeck (policy `always`) came back
    // after a restart: the next rollout stops it before anything else.
    let run = host_run(8, p, e).await;
    let stray = run
        .all
        .iter()
        .find(|(n, _, _)| n != &format!("{p}.{e}"))
        .map(|(n, _, _)| n.clone())
        .expect("a kept container on h08");
    let d = docker(8).await;
    d.update_container(
        &stray,
        bollard::models::ContainerUpdateBody {
            restart_policy: Some(bollard::models::RestartPolicy {
                name: Some(bollard::models::RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None,
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    sandbox(&["restart-host", "h08"]);
    let two = eventually(Duration::from_secs(10), || async {
        (host_run(8, p, e).await.running.len() == 2).then_some(())
    })
    .await;
    assert!(
        two.is_some(),
        "the legacy kept container came back (the old bug)"
    );
    let (code, events, out) = cmd(&["deploy", p, e, "v2"], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    let repaired = events_named(&events, "repaired");
    assert!(
        repaired.iter().any(|r| r["host"] == "h08"),
        "the stray was stopped: {out}"
    );
    assert_all_serve(&hosts, p, e, port, "v2").await;
    assert_eq!(restart_policy(8, &stray).await, "no");
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollback_after_a_failed_and_rolled_back_release_goes_to_the_last_release_that_served() {
    let (p, e, port) = ("it-flt-rbfail", "prod", 18302);
    let hosts = [1, 2, 3];
    for n in hosts {
        unblock(n, p, e).await;
    }
    let (tmp, config) = setup(
        p,
        e,
        &hosts,
        port,
        &tables(port, "8s", "1", "keep_releases = 3"),
    )
    .await;
    for v in ["v1", "v2"] {
        let (code, _, out) = cmd(&["deploy", p, e, v], &config, tmp.path(), Some("8"));
        assert_eq!(code, 0, "{out}");
    }
    // v4-slow passes on h01 and h02; on h03 the name its v2 container is
    // kept under is taken, so keeping it fails: h03 keeps serving v2, and
    // h01 and h02 are rolled back.
    block_kept_name(3, p, e).await;
    let (code, seen, _) = cmd(&["deploy", p, e, "v4-slow"], &config, tmp.path(), Some("8"));
    let fin = finished(&seen);
    assert_eq!(code, 1, "{seen:#?}");
    assert_eq!(fin["outcome"], "rolled_back", "{fin}");
    let msg = fin["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("h03 keeping the old container failed")
            && msg.contains("was restored to v2")
            && !msg.contains("failed health"),
        "a rename error is reported as one, not as failed health: {msg}"
    );
    assert_all_serve(&hosts, p, e, port, "v2").await;
    unblock(3, p, e).await;
    for n in [1, 2] {
        let run = host_run(n, p, e).await;
        assert!(
            run.all
                .iter()
                .any(|(name, v, _)| v == "v4-slow" && name.ends_with(".rolled-back")),
            "h{n:02}: the rolled-back v4-slow is marked: {:?}",
            run.all
        );
    }

    // Rollback now goes to the last release that served (v2, already
    // there), never to the release that just failed.
    let (code, events, out) = cmd(&["rollback", p, e], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        events_named(&events, "planned")[0]["plan"]["version"],
        "v2",
        "{out}"
    );
    assert_all_serve(&hosts, p, e, port, "v2").await;
    // Again: one good release further back (v1), still never v4-slow.
    let (code, events, out) = cmd(&["rollback", p, e], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        events_named(&events, "planned")[0]["plan"]["version"],
        "v1",
        "{out}"
    );
    assert_all_serve(&hosts, p, e, port, "v1").await;

    // From a machine with an empty journal, the fleet's ledger says the same.
    let elsewhere = tmp.path().join("elsewhere");
    let h = history_json(&config, &elsewhere, p);
    assert_eq!(
        releases(&h),
        vec![
            ("deploy".into(), "v1".into(), "succeeded".into()),
            ("deploy".into(), "v2".into(), "succeeded".into()),
            ("deploy".into(), "v4-slow".into(), "rolled_back".into()),
            ("rollback".into(), "v2".into(), "succeeded".into()),
            ("rollback".into(), "v1".into(), "succeeded".into()),
        ],
        "{h:#?}"
    );

    // Pruning keeps the good releases first: with keep_releases 1, the kept
    // container left on each host is a good one, never a rolled-back one.
    let one = std::fs::read_to_string(&config)
        .unwrap()
        .replace("keep_releases = 3", "keep_releases = 1");
    let cfg1 = tmp.path().join("keep1.toml");
    std::fs::write(&cfg1, one).unwrap();
    let (code, _, out) = cmd(&["deploy", p, e, "v2"], &cfg1, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    for n in hosts {
        let run = host_run(n, p, e).await;
        let kept: Vec<_> = run
            .all
            .iter()
            .filter(|(name, _, _)| name != &format!("{p}.{e}"))
            .collect();
        assert_eq!(kept.len(), 1, "h{n:02}: {:?}", run.all);
        assert!(
            !kept[0].0.ends_with(".rolled-back"),
            "h{n:02} kept a rolled-back one: {kept:?}"
        );
    }
    clean(p, e, &hosts).await;
}

/// Take the name host `n`'s serving container would be kept under, with a
/// created container of no project: keeping it fails there (a rename 409).
async fn block_kept_name(n: usize, p: &str, e: &str) {
    let run = host_run(n, p, e).await;
    let (_, version, id) = run.running.first().cloned().expect("a serving container");
    let name = format!("{p}.{e}.{version}.{}", &id[..12]);
    let d = docker(n).await;
    d.create_container(
        Some(bollard::query_parameters::CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        }),
        bollard::models::ContainerCreateBody {
            image: Some(format!("{IMAGE}:v1")),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("blocker {name} on h{n:02}: {e}"));
}

/// Remove what [`block_kept_name`] made (any container named `{p}.{e}.*`
/// without shipdeck's labels).
async fn unblock(n: usize, p: &str, e: &str) {
    let d = docker(n).await;
    let all = d
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .unwrap_or_default();
    for c in all {
        let named = c
            .names
            .as_ref()
            .is_some_and(|ns| ns.iter().any(|x| x.starts_with(&format!("/{p}.{e}."))));
        let labelled = c
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key("shipdeck.project"));
        if named && !labelled {
            let _ = d
                .remove_container(
                    c.id.as_deref().unwrap_or_default(),
                    Some(bollard::query_parameters::RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
    }
}

/// Kill a deploy at the first event `at` matches, after v1 is everywhere.
fn kill_at(
    config: &Path,
    state: &Path,
    args: &[&str],
    ttl: Option<&str>,
    what: &str,
    at: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut run = Running::spawn_env(config, state, args, ttl, &[]);
    run.wait_for(what, Duration::from_secs(90), at);
    run.kill9()
}

/// After a kill: at most `k` hosts without a running container.
async fn at_most_down(hosts: &[usize], p: &str, e: &str, k: usize) {
    let mut down = Vec::new();
    for &n in hosts {
        if host_run(n, p, e).await.running.is_empty() {
            down.push(n);
        }
    }
    assert!(
        down.len() <= k,
        "hosts without a running container after the kill: {down:?}"
    );
}

/// One kill scenario: deploy v1, kill a v2 deploy where `at` says, then
/// `--resume` (v2 everywhere); again, then `rollback` (v1 everywhere).
/// With `proxy`, the registry is reached through it and stalls while the
/// deploy is killed; the resume and rollback then run on the same machine
/// (the kill may come before the lock, so only its journal knows the
/// release). Otherwise they run on another operator's machine, with an
/// empty journal: the fleet's ledger knows.
async fn kill_then_resume_and_rollback(
    p: &str,
    port: u16,
    hosts: &[usize],
    what: &str,
    proxy: Option<&RegistryProxy>,
    at: impl Fn(&Value) -> bool + Copy,
) {
    let e = "prod";
    let (tmp, config) = setup(p, e, hosts, port, &tables(port, "6s", "2", "")).await;
    slow(&config, port, 1);
    if let Some(px) = proxy {
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace(IMAGE, &px.image());
        std::fs::write(&config, text).unwrap();
        px.set(ProxyMode::Pass);
    }
    for then in ["resume", "rollback"] {
        // Each round starts from v1 everywhere.
        let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), Some("8"));
        assert_eq!(code, 0, "{out}");
        if let Some(px) = proxy {
            px.set(ProxyMode::Stall);
        }
        let seen = kill_at(
            &config,
            tmp.path(),
            &["deploy", p, e, "v2"],
            Some("8"),
            what,
            at,
        );
        if let Some(px) = proxy {
            px.set(ProxyMode::Pass);
        }
        at_most_down(hosts, p, e, 2).await;
        let h = history_json(&config, tmp.path(), p);
        let last = h.iter().rev().find(|r| r["kind"] == "release").unwrap();
        assert!(
            last["result"].is_null(),
            "{then}: the killed release is interrupted: {last}"
        );
        assert_eq!(last["version"], "v2");
        // Once the dead holder's lock expires, status calls it interrupted.
        let st = eventually(Duration::from_secs(15), || async {
            let st = shipdeck(&["status", p, e, "--json"], &config, tmp.path());
            let st: Value = serde_json::from_slice(&st.stdout).unwrap_or(Value::Null);
            let env = &st["projects"][0]["environments"][0];
            (env["rollout"]["state"] == "interrupted" && env["interrupted"]["version"] == "v2")
                .then_some(())
        })
        .await;
        assert!(st.is_some(), "{then}: status shows the interrupted release");

        let elsewhere = if proxy.is_some() {
            tmp.path().to_path_buf()
        } else {
            tmp.path().join(format!("other-{then}"))
        };
        let (code, events, out) = if then == "resume" {
            cmd(
                &["deploy", p, e, "--resume"],
                &config,
                &elsewhere,
                Some("8"),
            )
        } else {
            cmd(
                &["rollback", p, e, "--lock-wait", "30"],
                &config,
                &elsewhere,
                Some("8"),
            )
        };
        assert_eq!(
            code, 0,
            "{then} after a kill {what}: {out}\nkilled run: {seen:#?}"
        );
        let want = if then == "resume" { "v2" } else { "v1" };
        assert_eq!(
            events_named(&events, "planned")[0]["plan"]["version"],
            want,
            "{out}"
        );
        assert_all_serve(hosts, p, e, port, want).await;
        let h = history_json(&config, &elsewhere, p);
        let last = h.iter().rev().find(|r| r["kind"] == "release").unwrap();
        assert_eq!(last["result"], "succeeded", "{last}");
        if then == "resume" {
            assert_eq!(last["action"], "deploy");
            assert!(
                last["resumes"].is_string(),
                "the resume names what it finished: {last}"
            );
        } else {
            assert_eq!(last["action"], "rollback");
        }
    }
    clean(p, e, hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_the_pull_then_resume_or_rollback() {
    // The registry stalls, so the pull is in progress when shipdeck dies.
    let proxy = RegistryProxy::start(18390, ProxyMode::Pass).await;
    kill_then_resume_and_rollback(
        "it-flt-kpull",
        18303,
        &[1, 2, 3, 4],
        "the pre-pull",
        Some(&proxy),
        |v| v["event"] == "pull_started",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_the_replace_then_resume_or_rollback() {
    kill_then_resume_and_rollback(
        "it-flt-krepl",
        18304,
        &[5, 6, 7, 1],
        "a replace",
        None,
        |v| v["event"] == "host" && v["phase"] == "starting",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_the_health_wait_then_resume_or_rollback() {
    kill_then_resume_and_rollback(
        "it-flt-khealth",
        18305,
        &[2, 3, 4, 5],
        "a health wait",
        None,
        |v| v["event"] == "host" && v["phase"] == "waiting_health",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resume_after_a_kill_in_the_health_wait_of_a_never_healthy_version_fails_honestly() {
    // The default lock ttl: the resume waits out the dead holder's 30 s.
    let (p, e, port) = ("it-flt-kbad", "prod", 18306);
    let hosts = [6, 7];
    let (tmp, config) = setup(p, e, &hosts, port, &tables(port, "3s", "1", "")).await;
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), None);
    assert_eq!(code, 0, "{out}");
    let seen = kill_at(
        &config,
        tmp.path(),
        &["deploy", p, e, "v3-bad"],
        None,
        "waiting for health",
        |v| v["event"] == "host" && v["phase"] == "waiting_health",
    );
    at_most_down(&hosts, p, e, 1).await;
    let t = Instant::now();
    let (code, events, out) = cmd(&["deploy", p, e, "--resume"], &config, tmp.path(), None);
    eprintln!("resume took {:?}", t.elapsed());
    assert_ne!(
        code, 0,
        "a never-healthy version must not resume to exit 0: {out}\nkilled: {seen:#?}"
    );
    assert!(
        !out.contains("already runs v3-bad"),
        "an unhealthy host is not 'already there': {out}"
    );
    assert_eq!(
        events_named(&events, "planned")[0]["plan"]["version"],
        "v3-bad"
    );
    assert!(
        events_named(&events, "lock_waiting")
            .iter()
            .any(|w| w["expires_in_secs"].is_number()),
        "the wait says who holds the lock and when it expires: {out}"
    );
    assert_all_serve(&hosts, p, e, port, "v1").await;
    let h = history_json(&config, tmp.path(), p);
    let last = h.iter().rev().find(|r| r["kind"] == "release").unwrap();
    assert_ne!(last["result"], "succeeded", "{last}");
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_a_hosts_dockerd_mid_batch() {
    let _turn = DAEMON.lock().await;
    let (p, e, port) = ("it-flt-kdockerd", "prod", 18307);
    let hosts = [6, 7, 8];
    let (tmp, config) = setup(p, e, &hosts, port, &tables(port, "6s", "1", "")).await;
    slow(&config, port, 2);
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    let mut run = Running::spawn_env(&config, tmp.path(), &["deploy", p, e, "v2"], Some("8"), &[]);
    run.wait_for("h08 waiting for health", Duration::from_secs(90), |v| {
        v["event"] == "host" && v["host"] == "h08" && v["phase"] == "waiting_health"
    });
    sandbox(&["stop-host", "h08"]);
    let (code, seen) = run.finish(Duration::from_secs(120));
    sandbox(&["start-host", "h08"]);
    let fin = finished(&seen).clone();
    let versions = assert_one_serving(&hosts, p, e, port).await;
    // The exit code says whether v2 answers everywhere.
    let all_v2 = versions.values().all(|v| v == "v2");
    assert_eq!(
        code == 0,
        all_v2,
        "exit {code} vs fleet {versions:?}: {fin}"
    );
    // Afterwards a rollback converges.
    // (The lock object on h08 could not be removed while its daemon was
    // down; it expires.)
    let (code, _, out) = cmd(
        &["rollback", p, e, "--to", "v1", "--lock-wait", "30"],
        &config,
        tmp.path(),
        Some("8"),
    );
    assert_eq!(code, 0, "{out}");
    assert_all_serve(&hosts, p, e, port, "v1").await;
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hosts_link_down_during_the_pre_pull_refuses_before_any_restart() {
    let _turn = DAEMON.lock().await;
    let (p, e, port) = ("it-flt-link", "prod", 18308);
    let hosts = [6, 7, 8];
    let proxy = RegistryProxy::start(18391, ProxyMode::Pass).await;
    let (tmp, config) = setup(
        p,
        e,
        &hosts,
        port,
        &tables(port, "3s", "1", "pull_stall_timeout = \"4s\""),
    )
    .await;
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(IMAGE, &proxy.image());
    std::fs::write(&config, text).unwrap();
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    let before = serving_ids(&hosts, p, e).await;

    proxy.set(ProxyMode::Stall);
    let mut run = Running::spawn_env(&config, tmp.path(), &["deploy", p, e, "v2"], Some("8"), &[]);
    run.wait_for("the pre-pull", Duration::from_secs(30), |v| {
        v["event"] == "pull_started"
    });
    sandbox(&["link-down", "h08"]);
    proxy.set(ProxyMode::Pass);
    let (code, seen) = run.finish(Duration::from_secs(90));
    sandbox(&["link-up", "h08"]);
    let fin = finished(&seen);
    assert_eq!(code, 2, "a refusal before any restart exits 2: {seen:#?}");
    let msg = fin["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("h08")
            && (msg.contains("nothing was restarted") || msg.contains("nothing was changed")),
        "one message naming the host: {msg}"
    );
    assert!(events_named(&seen, "batch_started").is_empty());
    assert_eq!(
        serving_ids(&hosts, p, e).await,
        before,
        "nothing was restarted"
    );
    assert_all_serve(&hosts, p, e, port, "v1").await;
    let h = history_json(&config, tmp.path(), p);
    assert_eq!(releases(&h).last().unwrap().2, "refused");
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_registry_dying_during_the_pre_pull_refuses_with_one_message() {
    let (p, e, port) = ("it-flt-regdead", "prod", 18309);
    let hosts = [4, 5];
    let proxy = RegistryProxy::start(18392, ProxyMode::Pass).await;
    let (tmp, config) = setup(p, e, &hosts, port, &tables(port, "3s", "1", "")).await;
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(IMAGE, &proxy.image());
    std::fs::write(&config, text).unwrap();
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    let before = serving_ids(&hosts, p, e).await;

    proxy.set(ProxyMode::Stall);
    let mut run = Running::spawn_env(&config, tmp.path(), &["deploy", p, e, "v2"], Some("8"), &[]);
    run.wait_for("the pre-pull", Duration::from_secs(30), |v| {
        v["event"] == "pull_started"
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.set(ProxyMode::Dead);
    let (code, seen) = run.finish(Duration::from_secs(90));
    assert_eq!(code, 2, "{seen:#?}");
    let msg = finished(&seen)["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        msg.contains("failed on 2 host(s)") && msg.contains("h04") && msg.contains("h05"),
        "{msg}"
    );
    assert_eq!(
        msg.matches("h04").count(),
        1,
        "one message, hosts listed once (grouped by error): {msg}"
    );
    assert_eq!(
        serving_ids(&hosts, p, e).await,
        before,
        "nothing was restarted"
    );
    assert_all_serve(&hosts, p, e, port, "v1").await;
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_deploys_at_once_exactly_one_changes_the_fleet() {
    let (p, e, port) = ("it-flt-race", "prod", 18310);
    let hosts = [1, 2, 3];
    let (tmp, config) = setup(p, e, &hosts, port, &tables(port, "5s", "1", "")).await;
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    let (s1, s2) = (tmp.path().join("op1"), tmp.path().join("op2"));
    let (c1, c2) = (config.clone(), config.clone());
    let a = std::thread::spawn(move || cmd(&["deploy", p, e, "v2"], &c1, &s1, Some("8")));
    let b = std::thread::spawn(move || cmd(&["deploy", p, e, "v4-slow"], &c2, &s2, Some("8")));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let codes = [a.0, b.0];
    assert_eq!(
        codes.iter().filter(|c| **c == 0).count(),
        1,
        "exactly one proceeds: {codes:?}\n{}\n---\n{}",
        a.2,
        b.2
    );
    let (winner, loser) = if a.0 == 0 {
        ("v2", &b)
    } else {
        ("v4-slow", &a)
    };
    assert_eq!(loser.0, 2, "the other changed nothing: {}", loser.2);
    assert!(loser.2.contains("is locked by"), "{}", loser.2);
    assert_all_serve(&hosts, p, e, port, winner).await;
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resume_queued_behind_a_running_rollout_acts_on_what_it_left() {
    let (p, e, port) = ("it-flt-qresume", "prod", 18311);
    let hosts = [4, 5, 6];
    let (tmp, config) = setup(p, e, &hosts, port, &tables(port, "6s", "1", "")).await;
    slow(&config, port, 1);
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    let mut a = Running::spawn_env(&config, tmp.path(), &["deploy", p, e, "v2"], Some("8"), &[]);
    a.wait_for("the first host", Duration::from_secs(60), |v| {
        v["event"] == "host" && v["phase"] == "healthy"
    });
    // A third operator, empty journal: the fleet's ledger shows A's release
    // unfinished, so it looks resumable — until the lock says otherwise.
    let elsewhere = tmp.path().join("third");
    let (code, events, out) = cmd(
        &["deploy", p, e, "--resume", "--lock-wait", "90"],
        &config,
        &elsewhere,
        Some("8"),
    );
    let (a_code, a_seen) = a.finish(Duration::from_secs(90));
    assert_eq!(a_code, 0, "{a_seen:#?}");
    assert_eq!(code, 2, "nothing to resume once A finished: {out}");
    assert!(out.contains("nothing to resume"), "{out}");
    assert!(
        events_named(&events, "host").is_empty(),
        "it touched no host: {out}"
    );
    assert_all_serve(&hosts, p, e, port, "v2").await;
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deploy_queued_behind_another_acts_on_the_fleet_that_one_left() {
    let (p, e, port) = ("it-flt-qdeploy", "prod", 18312);
    let hosts = [7, 1, 2];
    let (tmp, config) = setup(p, e, &hosts, port, &tables(port, "6s", "1", "")).await;
    slow(&config, port, 1);
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    let mut a = Running::spawn_env(&config, tmp.path(), &["deploy", p, e, "v2"], Some("8"), &[]);
    a.wait_for("the lock", Duration::from_secs(30), |v| {
        v["event"] == "lock_acquired"
    });
    // Before the lock it sees v1 everywhere; under the lock, v2.
    let other = tmp.path().join("other");
    let (code, events, out) = cmd(
        &["deploy", p, e, "v1", "--lock-wait", "90"],
        &config,
        &other,
        Some("8"),
    );
    let (a_code, _) = a.finish(Duration::from_secs(90));
    assert_eq!(a_code, 0);
    assert_eq!(code, 0, "{out}");
    let skipped = events_named(&events, "host")
        .iter()
        .filter(|h| h["phase"] == "skipped")
        .count();
    assert_eq!(skipped, 0, "no host was 'already on v1' after A: {out}");
    assert_all_serve(&hosts, p, e, port, "v1").await;
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_waits_with_the_default_lock_ttl_and_control_is_acknowledged() {
    let (p, e, port) = ("it-flt-canary", "prod", 18313);
    let hosts = [3, 4, 5];
    let (tmp, config) = setup(
        p,
        e,
        &hosts,
        port,
        &tables(port, "6s", "1", "canary = true"),
    )
    .await;
    let plain = tmp.path().join("plain.toml");
    std::fs::write(
        &plain,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("canary = true", ""),
    )
    .unwrap();
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &plain, tmp.path(), None);
    assert_eq!(code, 0, "{out}");

    // Default ttl (30 s, heartbeat every 10 s): the canary still waits.
    let mut run = Running::spawn_env(&config, tmp.path(), &["deploy", p, e, "v2"], None, &[]);
    run.wait_for("canary pause", Duration::from_secs(60), |v| {
        v["event"] == "paused"
    });
    tokio::time::sleep(Duration::from_secs(8)).await;
    run.drain();
    assert_eq!(
        run.count("batch_started"),
        1,
        "the canary resumed by itself: {:#?}",
        run.seen
    );
    assert_eq!(run.count("resumed"), 0);
    let ls = shipdeck(&["lock", "status", p, e], &config, tmp.path());
    let ls = String::from_utf8_lossy(&ls.stdout).into_owned();
    assert!(ls.contains("paused"), "lock status shows it paused: {ls}");
    let st = shipdeck(&["status", p, e, "--json"], &config, tmp.path());
    let st: Value = serde_json::from_slice(&st.stdout).unwrap_or(Value::Null);
    assert_eq!(
        st["projects"][0]["environments"][0]["rollout"]["phase"], "paused",
        "status tells paused from interrupted: {st}"
    );

    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .args(["--config"])
        .arg(&config)
        .args(["control", p, e, "resume"])
        .env("XDG_STATE_HOME", tmp.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "acknowledged within a few seconds: {:?}",
        t.elapsed()
    );
    assert!(
        said.contains("canary passed") || said.contains("resumed"),
        "{said}"
    );
    let (code, seen) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 0, "{seen:#?}");
    assert_all_serve(&hosts, p, e, port, "v2").await;

    // Pause mid-way: acknowledged with where it stopped; then abort.
    let mut run = Running::spawn_env(&plain, tmp.path(), &["deploy", p, e, "v4-slow"], None, &[]);
    run.wait_for("first host", Duration::from_secs(60), |v| {
        v["event"] == "host" && v["phase"] == "starting"
    });
    let out = shipdeck(&["control", p, e, "pause"], &plain, tmp.path());
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("paused after h0"),
        "says where it paused: {said}"
    );
    let out = shipdeck(&["control", p, e, "abort"], &plain, tmp.path());
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}");
    let (code, seen) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 1);
    assert_eq!(finished(&seen)["outcome"], "aborted");
    assert_all_serve(&hosts, p, e, port, "v2").await;
    let out = shipdeck(&["control", p, e, "pause"], &plain, tmp.path());
    assert_eq!(out.status.code(), Some(2), "no rollout runs now");

    // Unattended, nobody resumes: bounded by canary_timeout, then rolled back.
    let bounded = tmp.path().join("bounded.toml");
    std::fs::write(
        &bounded,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("canary = true", "canary = true\ncanary_timeout = \"3s\""),
    )
    .unwrap();
    let t = Instant::now();
    let (code, events, out) = cmd(&["deploy", p, e, "v4-slow"], &bounded, tmp.path(), None);
    assert_eq!(code, 1, "{out}");
    assert!(t.elapsed() < Duration::from_secs(40), "{:?}", t.elapsed());
    let fin = finished(&events);
    assert_eq!(fin["outcome"], "aborted", "{fin}");
    assert!(
        fin["message"]
            .as_str()
            .unwrap_or("")
            .contains("canary_timeout"),
        "{fin}"
    );
    assert_all_serve(&hosts, p, e, port, "v2").await;
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn undo_in_a_small_environment_keeps_its_own_max_unavailable() {
    let (p, e, port) = ("it-flt-undo", "small", 18314);
    let small = [5, 6, 7];
    clean(p, e, &small).await;
    let tmp = tempfile::tempdir().unwrap();
    // The project also has an 8-host environment: 33% is 3 hosts there, 1 here.
    let config = write_config_with(
        tmp.path(),
        p,
        &[(e, &small), ("big", &[1, 2, 3, 4, 5, 6, 7, 8])],
        port,
        &tables(port, "8s", "\"33%\"", ""),
    );
    unblock(7, p, e).await;
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    // h07 cannot keep its container, after h05 and h06 are on v4-slow.
    block_kept_name(7, p, e).await;
    let sampler = HealthSampler::start_every(&small, port, Duration::from_millis(200));
    let (code, seen, _) = cmd(&["deploy", p, e, "v4-slow"], &config, tmp.path(), Some("8"));
    let (worst, samples) = sampler.finish().await;
    unblock(7, p, e).await;
    assert_eq!(code, 1);
    assert_eq!(finished(&seen)["outcome"], "rolled_back", "{seen:#?}");
    assert!(samples > 20, "{samples}");
    assert!(
        worst <= 1,
        "{worst} of 3 hosts were out at once (max_unavailable 1)"
    );
    assert_all_serve(&small, p, e, port, "v1").await;
    clean(p, e, &small).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_holder_that_lost_the_lock_stops_and_undoes_nothing() {
    let (p, e, port) = ("it-flt-lost", "prod", 18315);
    let hosts = [1, 2, 3];
    let (tmp, config) = setup(p, e, &hosts, port, &tables(port, "6s", "1", "")).await;
    slow(&config, port, 2);
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");
    let mut run = Running::spawn_env(&config, tmp.path(), &["deploy", p, e, "v2"], Some("8"), &[]);
    run.wait_for("h01 healthy", Duration::from_secs(60), |v| {
        v["event"] == "host" && v["host"] == "h01" && v["phase"] == "healthy"
    });
    let out = shipdeck(&["lock", "break", p, e], &config, tmp.path());
    assert!(out.status.success());
    let (code, seen) = run.finish(Duration::from_secs(90));
    assert_eq!(code, 1, "{seen:#?}");
    let fin = finished(&seen);
    assert!(
        fin["message"]
            .as_str()
            .unwrap_or("")
            .contains("lock was lost"),
        "{fin}"
    );
    assert!(
        events_named(&seen, "rolling_back").is_empty(),
        "it undid hosts: {seen:#?}"
    );
    let v = assert_one_serving(&hosts, p, e, port).await;
    assert_eq!(v[&1], "v2", "h01 stays on v2: nothing undone");
    let h = history_json(&config, tmp.path(), p);
    assert!(
        h.iter().any(|r| r["kind"] == "lock_break"),
        "the break is in history: {h:#?}"
    );
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_the_hosts_in_flight_and_releases_the_lock_twice_aborts() {
    let (p, e, port) = ("it-flt-signal", "prod", 18316);
    let hosts = [4, 5, 6];
    let (tmp, config) = setup(p, e, &hosts, port, &tables(port, "6s", "1", "")).await;
    slow(&config, port, 2);
    let (code, _, out) = cmd(&["deploy", p, e, "v1"], &config, tmp.path(), Some("8"));
    assert_eq!(code, 0, "{out}");

    // One SIGTERM: the host in flight finishes, nothing else starts.
    let mut run = Running::spawn_env(&config, tmp.path(), &["deploy", p, e, "v2"], None, &[]);
    run.wait_for("h04 starting", Duration::from_secs(60), |v| {
        v["event"] == "host" && v["host"] == "h04" && v["phase"] == "starting"
    });
    run.signal("TERM");
    let (code, seen) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 1, "{seen:#?}");
    assert_eq!(finished(&seen)["outcome"], "interrupted", "{seen:#?}");
    assert!(
        seen.iter()
            .any(|v| v["event"] == "host" && v["host"] == "h04" && v["phase"] == "healthy"),
        "h04 finished cleanly: {seen:#?}"
    );
    assert!(
        !seen
            .iter()
            .any(|v| v["event"] == "host" && v["host"] == "h05"),
        "h05 untouched"
    );
    let ls = shipdeck(&["lock", "status", p, e], &config, tmp.path());
    assert!(
        String::from_utf8_lossy(&ls.stdout).contains("not locked"),
        "the lock was released"
    );
    assert_one_serving(&hosts, p, e, port).await;
    // No ttl to wait out: the resume goes at once.
    let t = Instant::now();
    let (code, _, out) = cmd(&["deploy", p, e, "--resume"], &config, tmp.path(), None);
    assert_eq!(code, 0, "{out}");
    assert!(t.elapsed() < Duration::from_secs(25), "{:?}", t.elapsed());
    assert_all_serve(&hosts, p, e, port, "v2").await;

    // Two Ctrl-C: abort and roll back what completed.
    let mut run = Running::spawn_env(&config, tmp.path(), &["deploy", p, e, "v4-slow"], None, &[]);
    run.wait_for("h05 starting", Duration::from_secs(60), |v| {
        v["event"] == "host" && v["host"] == "h05" && v["phase"] == "starting"
    });
    run.signal("INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.signal("INT");
    let (code, seen) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 1);
    assert_eq!(finished(&seen)["outcome"], "aborted", "{seen:#?}");
    assert_all_serve(&hosts, p, e, port, "v2").await;
    clean(p, e, &hosts).await;
}
