//! Rollouts against the real sandbox fleet and registry (`scripts/sandbox up`):
//! deploy, containment of a bad version, start periods, rollback without
//! pulls, the fleet lock, crash safety, unreachable hosts and a dead registry.
//! While rollouts run, a sampler probes every host's health endpoint and
//! asserts that never more than `max_unavailable` hosts fail at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

const ALL: [usize; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// Health by the HTTP probe (200 ms apart, 10 retries: about 2 s of grace after
/// the start period) — the image's own 1 s Docker HEALTHCHECK is slow to
/// react and flaky on a loaded 2-core machine; one test below uses it too.
fn tables(port: u16, start_period: &str, max_unavailable: usize, extra_rollout: &str) -> String {
    format!(
        "[projects.health]\nhttp = \"/health\"\nport = {port}\ndocker = false\ninterval = \"200ms\"\nretries = 10\nstart_period = \"{start_period}\"\n[projects.rollout]\nmax_unavailable = {max_unavailable}\n{extra_rollout}\n"
    )
}

/// Whether host `n` answers 200 on /health at `port`.
async fn healthy(n: usize, port: u16) -> bool {
    shipdeck::ensure_crypto_provider();
    reqwest::get(format!("http://{}:{port}/health", host_addr(n)))
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// A clean start for one test: its containers and locks gone, a config with
/// `tables`, and v1 deployed everywhere.
async fn on_v1(
    p: &str,
    e: &str,
    hosts: &[usize],
    port: u16,
    tables: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    clean(p, e, hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config_with(tmp.path(), p, &[(e, hosts)], port, tables);
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &config, tmp.path());
    assert_eq!(code, 0, "{out}");
    (tmp, config)
}

/// `{name: (id, version, running)}` of the serving container per host.
async fn serving(
    hosts: &[usize],
    project: &str,
    env: &str,
) -> HashMap<usize, (String, String, bool)> {
    let mut out = HashMap::new();
    for n in hosts {
        let base = format!("/{project}.{env}");
        if let Some(c) = on_host(*n, project, env)
            .await
            .into_iter()
            .find(|c| c.names.as_ref().is_some_and(|ns| ns.contains(&base)))
        {
            let labels = c.labels.clone().unwrap_or_default();
            out.insert(
                *n,
                (
                    c.id.clone().unwrap_or_default(),
                    labels.get("shipdeck.version").cloned().unwrap_or_default(),
                    c.state.map(|s| s.to_string()) == Some("running".into()),
                ),
            );
        }
    }
    out
}

async fn assert_all_on(hosts: &[usize], project: &str, env: &str, version: &str) {
    let s = serving(hosts, project, env).await;
    for n in hosts {
        let (_, v, running) = s
            .get(n)
            .unwrap_or_else(|| panic!("h{n:02} has no {project}.{env} container: {s:?}"));
        assert!(
            *running && v == version,
            "h{n:02}: {v} running={running}, want {version}"
        );
    }
}

fn history(config: &Path, state: &Path, project: &str) -> Vec<Value> {
    let out = shipdeck(&["history", project, "--json"], config, state);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn v1_to_v2_keeps_v1_and_rollback_needs_no_pull() {
    let (p, e, port) = ("it-roll-a", "prod", 18101);
    let (tmp, config) = on_v1(p, e, &ALL, port, &tables(port, "5s", 2, "")).await;

    let sampler = HealthSampler::start(&ALL, port);
    let (code, events, out) = rollout_json(&["deploy", p, e, "v2"], &config, tmp.path());
    let (worst, samples) = sampler.finish().await;
    assert_eq!(code, 0, "{out}");
    assert!(samples > 5, "the sampler ran ({samples} samples)");
    assert!(
        worst <= 2,
        "{worst} hosts failed health at once; max_unavailable is 2"
    );
    assert_eq!(events_named(&events, "batch_started").len(), 4);
    let digest = events_named(&events, "pulls_done")[0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    for n in ALL {
        let cs = on_host(n, p, e).await;
        let cur = cs
            .iter()
            .find(|c| {
                c.names
                    .as_ref()
                    .is_some_and(|ns| ns.contains(&format!("/{p}.{e}")))
            })
            .unwrap_or_else(|| panic!("h{n:02}: no serving container"));
        let l = cur.labels.clone().unwrap();
        assert_eq!(l["shipdeck.version"], "v2");
        assert_eq!(l["shipdeck.digest"], digest);
        assert!(l["shipdeck.release"].starts_with('r'), "{l:?}");
        assert!(l["shipdeck.deployed_by"].contains('@'));
        assert!(l.contains_key("shipdeck.deployed_at"));
        assert!(healthy(n, port).await, "h{n:02} answers /health");
        let kept: Vec<_> = cs
            .iter()
            .filter(|c| c.labels.as_ref().unwrap()["shipdeck.version"] == "v1")
            .collect();
        assert_eq!(kept.len(), 1, "h{n:02}: v1 kept");
        assert_eq!(
            kept[0].state.map(|s| s.to_string()).as_deref(),
            Some("exited")
        );
        // The app itself says it runs v2 with this environment's variables.
        shipdeck::ensure_crypto_provider();
        let body = reqwest::get(format!("http://{}:{port}/", host_addr(n)))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            body.contains("version=v2") && body.contains(&format!("ENVT={e} PROJ={p}")),
            "{body}"
        );
    }

    let since = chrono::Utc::now().timestamp() - 1;
    let sampler = HealthSampler::start(&ALL, port);
    let (code, _, out) = rollout_json(&["rollback", p, e], &config, tmp.path());
    let (worst, _) = sampler.finish().await;
    assert_eq!(code, 0, "{out}");
    assert!(
        worst <= 2,
        "{worst} hosts failed health at once during rollback"
    );
    assert_all_on(&ALL, p, e, "v1").await;
    assert_eq!(
        pulls_since(&ALL, since).await,
        0,
        "rollback pulled an image"
    );

    let h = history(&config, tmp.path(), p);
    let summary: Vec<(String, String, String)> = h
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["version"].as_str().unwrap().to_string(),
                r["result"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("deploy".into(), "v1".into(), "succeeded".into()),
            ("deploy".into(), "v2".into(), "succeeded".into()),
            ("rollback".into(), "v1".into(), "succeeded".into()),
        ]
    );
    assert_eq!(
        h[1]["digest"],
        digest.as_str(),
        "the journal records the digest"
    );
    clean(p, e, &ALL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_version_is_contained_in_the_first_batch() {
    let (p, e, port) = ("it-roll-b", "prod", 18102);
    let (tmp, config) = on_v1(p, e, &ALL, port, &tables(port, "0s", 2, "")).await;
    let before = serving(&ALL, p, e).await;

    let sampler = HealthSampler::start(&ALL, port);
    let (code, events, out) = rollout_json(&["deploy", p, e, "v3-bad"], &config, tmp.path());
    let (worst, _) = sampler.finish().await;
    assert_ne!(code, 0, "{out}");
    assert!(worst <= 2, "{worst} hosts failed health at once");
    let batches = events_named(&events, "batch_started");
    assert_eq!(batches.len(), 1, "no batch after the failing one: {out}");
    let batch1: Vec<String> = batches[0]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    for ev in events_named(&events, "host") {
        assert!(
            batch1.contains(&ev["host"].as_str().unwrap().to_string()),
            "touched {ev}"
        );
    }
    assert_all_on(&ALL, p, e, "v1").await;
    let after = serving(&ALL, p, e).await;
    for n in ALL {
        if !batch1.contains(&host_name(n)) {
            assert_eq!(
                before[&n].0, after[&n].0,
                "h{n:02} beyond batch 1 was touched"
            );
        }
    }
    let finished = events_named(&events, "finished")[0];
    assert_eq!(finished["outcome"], "failed", "{finished}");
    let h = history(&config, tmp.path(), p);
    assert_eq!(h.last().unwrap()["result"], "failed");
    clean(p, e, &ALL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_version_needs_its_start_period() {
    let (p, e, port) = ("it-roll-c", "stage", 18103);
    let hosts = [1, 2];
    let (tmp, strict) = on_v1(p, e, &hosts, port, &tables(port, "0s", 1, "")).await;

    // Without a start period, 3 s to readiness is a failure: back to v1.
    let (code, _, out) = rollout_json(&["deploy", p, e, "v4-slow"], &strict, tmp.path());
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("HTTP probe"), "{out}");
    assert_all_on(&hosts, p, e, "v1").await;

    // With one, the same version passes.
    let dir = tmp.path().join("patient");
    std::fs::create_dir_all(&dir).unwrap();
    // ...and the image's Docker HEALTHCHECK is a gate as well here.
    let t = tables(port, "8s", 1, "").replace("docker = false", "docker = true");
    let patient = write_config_with(&dir, p, &[(e, &hosts)], port, &t);
    let (code, _, out) = rollout_json(&["deploy", p, e, "v4-slow"], &patient, tmp.path());
    assert_eq!(code, 0, "{out}");
    assert_all_on(&hosts, p, e, "v4-slow").await;
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_deploys_exactly_one_proceeds() {
    let (p, e, port) = ("it-roll-d", "prod", 18104);
    let hosts = [3, 4, 5];
    let (tmp, config) = on_v1(p, e, &hosts, port, &tables(port, "0s", 1, "")).await;

    let spawn = |state: &Path| {
        Command::new(env!("CARGO_BIN_EXE_shipdeck"))
            .arg("--config")
            .arg(&config)
            .args(["deploy", p, e, "v2", "--yes"])
            .env("XDG_STATE_HOME", state)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Two operators, two state dirs: only the fleet can arbitrate.
    let (s1, s2) = (tmp.path().join("op1"), tmp.path().join("op2"));
    let (a, b) = (spawn(&s1), spawn(&s2));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    let texts = [
        format!(
            "{}{}",
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&a.stderr)
        ),
        format!(
            "{}{}",
            String::from_utf8_lossy(&b.stdout),
            String::from_utf8_lossy(&b.stderr)
        ),
    ];
    assert_eq!(
        codes.iter().filter(|c| **c == Some(0)).count(),
        1,
        "exactly one proceeds: {codes:?}\n{}\n---\n{}",
        texts[0],
        texts[1]
    );
    let loser = if codes[0] == Some(0) {
        &texts[1]
    } else {
        &texts[0]
    };
    assert!(loser.contains("is locked by"), "{loser}");
    assert!(
        loser.contains("lock break"),
        "says how to break it: {loser}"
    );
    assert_all_on(&hosts, p, e, "v2").await;
    clean(p, e, &hosts).await;
}

/// Start a deploy, SIGKILL it while batch `kill_in` is in flight.
fn kill_mid_rollout(config: &Path, state: &Path, args: &[&str], kill_in: u64) {
    let mut run = Running::spawn(config, state, args, "5");
    let batches = std::cell::Cell::new(0u64);
    run.wait_for(
        &format!("batch {kill_in} waiting for health"),
        Duration::from_secs(120),
        |v| {
            if v["event"] == "batch_started" {
                batches.set(batches.get() + 1);
            }
            v["event"] == "host" && v["phase"] == "waiting_health" && batches.get() >= kill_in
        },
    );
    run.child.kill().unwrap(); // SIGKILL
    let _ = run.child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_rollout_then_resume_or_rollback_converges() {
    let (p, e, port) = ("it-roll-e", "prod", 18105);
    clean(p, e, &ALL).await;
    let tmp = tempfile::tempdir().unwrap();
    // Every version needs 1 s to become ready, so batches take a while.
    let t = tables(port, "6s", 2, "");
    let config = write_config_with(tmp.path(), p, &[(e, &ALL)], port, &t);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("env = {{ PORT = \"{port}\" }}"),
        &format!("env = {{ PORT = \"{port}\", WEB_MODE = \"slow\", WEB_READY_DELAY = \"1\" }}"),
    );
    std::fs::write(&config, text).unwrap();
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &config, tmp.path());
    assert_eq!(code, 0, "{out}");

    // Killed while batch 2 waits for health.
    kill_mid_rollout(&config, tmp.path(), &["deploy", p, e, "v2"], 2);
    let s = serving(&ALL, p, e).await;
    let down = ALL
        .iter()
        .filter(|n| !s.get(n).is_some_and(|x| x.2))
        .count();
    assert!(
        down <= 2,
        "{down} hosts without a running app container after the kill: {s:?}"
    );
    let h = history(&config, tmp.path(), p);
    assert!(
        h.last().unwrap()["result"].is_null(),
        "journal shows it interrupted: {h:?}"
    );
    // While the dead holder's lock lives, status says "running"; once it
    // expires (5 s here), "interrupted".
    let st = eventually(Duration::from_secs(15), || async {
        let st = shipdeck(&["status", p, e, "--json"], &config, tmp.path());
        let st: Value = serde_json::from_slice(&st.stdout).ok()?;
        let env = &st["projects"][0]["environments"][0];
        (env["rollout"]["state"] == "interrupted" && env["interrupted"]["version"] == "v2")
            .then_some(())
    })
    .await;
    assert!(st.is_some(), "status shows the interrupted release");

    // --resume finishes it (after the dead holder's lock expires) — here from
    // another operator's machine with an empty journal: the fleet's labels
    // say which version was going out.
    let elsewhere = tmp.path().join("other-operator");
    let (code, events, out) = rollout_json(&["deploy", p, e, "--resume"], &config, &elsewhere);
    assert_eq!(
        events_named(&events, "planned")[0]["plan"]["version"],
        "v2",
        "{out}"
    );
    assert_eq!(code, 0, "{out}");
    assert!(!events_named(&events, "host").is_empty());
    assert_all_on(&ALL, p, e, "v2").await;

    // Again, killed half-way to v4-slow; rollback returns to v2.
    kill_mid_rollout(&config, tmp.path(), &["deploy", p, e, "v4-slow"], 2);
    let (code, events, out) = rollout_json(
        &["rollback", p, e, "--lock-wait", "20"],
        &config,
        tmp.path(),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        events_named(&events, "planned")[0]["plan"]["version"],
        "v2",
        "{out}"
    );
    assert_all_on(&ALL, p, e, "v2").await;
    clean(p, e, &ALL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreachable_host_and_dead_registry_change_nothing() {
    let (p, e, port) = ("it-roll-f", "prod", 18106);
    let hosts = [6, 7];
    let (tmp, config) = on_v1(p, e, &hosts, port, &tables(port, "0s", 1, "")).await;
    let before = serving(&hosts, p, e).await;
    let base = std::fs::read_to_string(&config).unwrap();

    // A third host whose engine does not answer.
    let with_dead_host = base
        .replace(
            "[[projects]]",
            "[[hosts]]\nname = \"h99\"\nendpoint = \"tcp://127.0.0.1:1\"\n\n[[projects]]",
        )
        .replace("\"h06\", \"h07\"]", "\"h06\", \"h07\", \"h99\"]");
    let cfg = tmp.path().join("dead-host.toml");
    std::fs::write(&cfg, &with_dead_host).unwrap();
    let (code, _, out) = rollout_json(&["deploy", p, e, "v2"], &cfg, tmp.path());
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("h99") && out.contains("unreachable") && out.contains("nothing was changed"),
        "{out}"
    );
    assert_eq!(serving(&hosts, p, e).await, before, "nothing restarted");

    // skip-host with max_unavailable 1: h99 is down already (its app does
    // not answer either), so replacing another host would take two of three
    // out: refused, nothing changed.
    let skip = with_dead_host.replace(
        "max_unavailable = 1",
        "max_unavailable = 1\non_pull_failure = \"skip-host\"",
    );
    let cfg = tmp.path().join("skip.toml");
    std::fs::write(&cfg, &skip).unwrap();
    let (code, _, out) = rollout_json(&["deploy", p, e, "v2"], &cfg, tmp.path());
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("down already (h99)") && out.contains("max_unavailable 1"),
        "{out}"
    );
    assert_eq!(serving(&hosts, p, e).await, before, "nothing restarted");

    // With room for it, the others are deployed; the exit code still says
    // "not everywhere".
    let skip = skip.replace("max_unavailable = 1", "max_unavailable = 2");
    let cfg = tmp.path().join("skip2.toml");
    std::fs::write(&cfg, skip).unwrap();
    let (code, events, out) = rollout_json(&["deploy", p, e, "v2"], &cfg, tmp.path());
    assert_eq!(code, 1, "{out}");
    assert_eq!(events_named(&events, "host_skipped")[0]["host"], "h99");
    assert!(out.contains("left out: h99"), "{out}");
    assert_all_on(&hosts, p, e, "v2").await;
    let before = serving(&hosts, p, e).await;

    // A registry that does not answer: the pull fails before any restart.
    let dead_registry = base.replace("10.213.0.1:5000/demo/web", "10.213.0.1:5999/demo/web");
    let cfg = tmp.path().join("dead-registry.toml");
    std::fs::write(&cfg, dead_registry).unwrap();
    let (code, events, out) = rollout_json(&["deploy", p, e, "v3"], &cfg, tmp.path());
    assert_ne!(code, 0, "{out}");
    assert_eq!(events_named(&events, "host_pull_failed").len(), 2, "{out}");
    assert!(events_named(&events, "batch_started").is_empty(), "{out}");
    assert!(
        out.contains("10.213.0.1:5999") && out.contains("nothing was restarted"),
        "{out}"
    );
    assert_eq!(serving(&hosts, p, e).await, before, "nothing restarted");
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canary_waits_for_resume_and_an_operator_can_pause_and_abort() {
    let (p, e, port) = ("it-roll-g", "prod", 18107);
    let hosts = [2, 3, 4, 5];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let slow = |path: &Path| {
        let text = std::fs::read_to_string(path).unwrap().replace(
            &format!("env = {{ PORT = \"{port}\" }}"),
            &format!("env = {{ PORT = \"{port}\", WEB_MODE = \"slow\", WEB_READY_DELAY = \"1\" }}"),
        );
        std::fs::write(path, text).unwrap();
    };
    let plain = write_config_with(
        tmp.path(),
        p,
        &[(e, &hosts)],
        port,
        &tables(port, "6s", 1, ""),
    );
    slow(&plain);
    let dir = tmp.path().join("canary");
    std::fs::create_dir_all(&dir).unwrap();
    let canary = write_config_with(
        &dir,
        p,
        &[(e, &hosts)],
        port,
        &tables(port, "6s", 1, "canary = true"),
    );
    slow(&canary);
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &plain, tmp.path());
    assert_eq!(code, 0, "{out}");

    // Canary: one host, then it waits for an operator.
    let mut run = Running::spawn(&canary, tmp.path(), &["deploy", p, e, "v2"], "2");
    let planned = run.wait_for("plan", Duration::from_secs(20), |v| v["event"] == "planned");
    assert_eq!(planned["plan"]["batches"][0].as_array().unwrap().len(), 1);
    run.wait_for("canary pause", Duration::from_secs(30), |v| {
        v["event"] == "paused"
    });
    std::thread::sleep(Duration::from_secs(2));
    run.seen.extend(run.rx.try_iter());
    assert_eq!(
        run.count("batch_started"),
        1,
        "still waiting after the canary: {:#?}",
        run.seen
    );
    let out = shipdeck(&["control", p, e, "resume"], &canary, tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, seen) = run.finish(Duration::from_secs(60));
    assert_eq!(code, 0, "{seen:#?}");
    assert!(seen.iter().any(|v| v["event"] == "resumed"));
    assert_all_on(&hosts, p, e, "v2").await;

    // Pause between batches, then abort: completed hosts go back to v2.
    let mut run = Running::spawn(&plain, tmp.path(), &["deploy", p, e, "v1"], "2");
    run.wait_for("batch 1", Duration::from_secs(20), |v| {
        v["event"] == "batch_started"
    });
    let out = shipdeck(&["control", p, e, "pause"], &plain, tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run.wait_for("operator pause", Duration::from_secs(30), |v| {
        v["event"] == "paused"
    });
    let batches = run.count("batch_started");
    assert!(batches < 4, "paused before the end");
    std::thread::sleep(Duration::from_secs(2));
    run.seen.extend(run.rx.try_iter());
    assert_eq!(
        run.count("batch_started"),
        batches,
        "no batch starts while paused"
    );
    let out = shipdeck(&["control", p, e, "abort"], &plain, tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, seen) = run.finish(Duration::from_secs(60));
    assert_ne!(code, 0);
    let fin = seen.iter().find(|v| v["event"] == "finished").unwrap();
    assert_eq!(fin["outcome"], "aborted", "{fin}");
    assert_all_on(&hosts, p, e, "v2").await;
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_registry_works_for_deploys_with_its_login() {
    let (p, e, port) = ("it-roll-priv", "prod", 18108);
    let hosts = [3, 4];
    clean(p, e, &hosts).await;
    let repo = format!("{AUTH_REGISTRY}/{}/web", unique("it-priv"));
    push_as(1, "v1", &repo, "v1").await;
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config_with(
        tmp.path(),
        p,
        &[(e, &hosts)],
        port,
        &tables(port, "3s", 1, ""),
    );
    let base = std::fs::read_to_string(&config)
        .unwrap()
        .replace(IMAGE, &repo);
    let pw = sandbox_dir().join("registry-auth/password");
    let with_login = base.replace(
        "[[projects]]",
        &format!(
            "[[registries]]\nname = \"auth\"\nurl = \"http://{AUTH_REGISTRY}\"\nusername = \"shipdeck\"\npassword = \"file:{}\"\n\n[[projects]]",
            pw.display()
        ),
    )
    .replace(&format!("image = \"{repo}\""), &format!("image = \"{repo}\"\nregistry = \"auth\""));

    // Without the login the registry says 401: refused before any restart.
    std::fs::write(&config, &base).unwrap();
    let (code, _, out) = rollout_json(&["deploy", p, e, "v1"], &config, tmp.path());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("nothing was restarted"), "{out}");
    assert!(on_host(3, p, e).await.is_empty(), "nothing was created");

    // With the project's registry login, the pull works.
    let cfg = tmp.path().join("login.toml");
    std::fs::write(&cfg, &with_login).unwrap();
    let (code, events, out) = rollout_json(&["deploy", p, e, "v1"], &cfg, tmp.path());
    assert_eq!(code, 0, "{out}");
    let digest = events_named(&events, "pulls_done")[0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_all_on(&hosts, p, e, "v1").await;
    for n in hosts {
        let c = docker(n)
            .await
            .inspect_container(&format!("{p}.{e}"), None)
            .await
            .unwrap();
        let image = c.config.and_then(|c| c.image).unwrap_or_default();
        assert_eq!(
            image,
            format!("{repo}@{digest}"),
            "h{n:02} runs exactly the verified digest"
        );
    }
    assert!(
        !out.contains(&auth_password()),
        "the password is never printed"
    );
    clean(p, e, &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tag_that_moved_is_deployed_again_not_skipped() {
    let (p, e, port) = ("it-roll-moved", "prod", 18109);
    let hosts = [5, 6];
    clean(p, e, &hosts).await;
    let repo = format!("{REGISTRY}/{}/web", unique("it-moved"));
    let first = push_as(1, "v1", &repo, "stable").await;
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config_with(
        tmp.path(),
        p,
        &[(e, &hosts)],
        port,
        &tables(port, "3s", 1, ""),
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(IMAGE, &repo);
    std::fs::write(&config, text).unwrap();
    let (code, _, out) = rollout_json(&["deploy", p, e, "stable"], &config, tmp.path());
    assert_eq!(code, 0, "{out}");

    // The same tag now names another image.
    let second = push_as(1, "v2", &repo, "stable").await;
    assert_ne!(first, second);
    let (code, events, out) = rollout_json(&["deploy", p, e, "stable"], &config, tmp.path());
    assert_eq!(code, 0, "{out}");
    let phases: Vec<&str> = events_named(&events, "host")
        .iter()
        .filter_map(|h| h["phase"].as_str())
        .collect();
    assert!(
        !phases.contains(&"skipped"),
        "a host on the old digest was skipped: {out}"
    );
    for n in hosts {
        let c = docker(n)
            .await
            .inspect_container(&format!("{p}.{e}"), None)
            .await
            .unwrap();
        let cfg = c.config.unwrap();
        assert_eq!(cfg.image.unwrap_or_default(), format!("{repo}@{second}"));
        assert_eq!(
            cfg.labels
                .unwrap_or_default()
                .get("shipdeck.digest")
                .cloned(),
            Some(second.clone())
        );
    }
    // And a third deploy of the same tag and digest is a no-op.
    let (code, events, out) = rollout_json(&["deploy", p, e, "stable"], &config, tmp.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        events_named(&events, "host")
            .iter()
            .all(|h| h["phase"] == "skipped"),
        "{out}"
    );
    clean(p, e, &hosts).await;
}
