//! Rollout hooks against real engines and a small HTTP receiver on
//! loopback started by the test: every hook point in order with its
//! payload, a command hook's environment, no secret in any payload or
//! environment (a canary value is grepped for), a failing `pre_host` hook
//! on one host under the default failure policy and under `pause`, a
//! failing `pre_rollout` hook (webhook, and a command past its timeout)
//! that changes nothing, and notification hooks that fail with and
//! without `required`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Call {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    json: Value,
}

impl Call {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// When the receiver answers 500: a path, and optionally only for one host.
#[derive(Debug, Clone, Default)]
struct Fail {
    path: Option<String>,
    host: Option<String>,
}

/// An HTTP/1.1 receiver on 127.0.0.1 (a thread, blocking I/O, one
/// connection at a time): records each request, answers 200, or 500 as
/// `fail` says.
struct Receiver {
    port: u16,
    calls: Arc<Mutex<Vec<Call>>>,
    fail: Arc<Mutex<Fail>>,
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let fail: Arc<Mutex<Fail>> = Arc::default();
        let (c, f) = (calls.clone(), fail.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let Some(call) = read_request(&mut conn) else {
                    continue;
                };
                let fail = f.lock().unwrap().clone();
                let failing = fail.path.as_deref() == Some(call.path.as_str())
                    && fail.host.as_deref().is_none_or(|h| call.json["host"] == h);
                c.lock().unwrap().push(call);
                let reply: &[u8] = if failing {
                    b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 13\r\nconnection: close\r\n\r\ndrain refused"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                let _ = conn.write_all(reply);
            }
        });
        Self { port, calls, fail }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn fail(&self, path: Option<&str>, host: Option<&str>) {
        *self.fail.lock().unwrap() = Fail {
            path: path.map(str::to_string),
            host: host.map(str::to_string),
        };
    }
}

fn read_request(conn: &mut std::net::TcpStream) -> Option<Call> {
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line
        .split_whitespace()
        .nth(1)?
        .trim_start_matches('/')
        .to_string();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    let body = String::from_utf8_lossy(&body).into_owned();
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    Some(Call {
        path,
        headers,
        body,
        json,
    })
}

/// The hooks' secrets: a container secret read from shipdeck's own
/// environment (`env:`), and a webhook token from a file.
struct Canary {
    env_value: String,
    token: String,
    token_file: PathBuf,
}

impl Canary {
    fn new(dir: &Path) -> Self {
        let n = unique("canary");
        let token = format!("Bearer TOKEN-{n}");
        let token_file = dir.join("token");
        std::fs::write(&token_file, &token).unwrap();
        Self {
            env_value: format!("CANARY-{n}"),
            token,
            token_file,
        }
    }

    /// Whether `s` holds either secret (or the unique part they share).
    fn found_in(&self, s: &str) -> bool {
        s.contains(&self.env_value)
            || s.contains(&self.token)
            || s.contains(self.env_value.trim_start_matches("CANARY-"))
    }
}

const CANARY_VAR: &str = "SHIPDECK_HOOK_TEST_CANARY";

/// An inventory for `project` on `hosts` with `hooks` (TOML) and the
/// canary as a secret of the container.
fn config(
    dir: &Path,
    project: &str,
    hosts: &[usize],
    port: u16,
    rollout: &str,
    hooks: &str,
) -> PathBuf {
    let tables = format!(
        "secret_env = {{ DB_PASSWORD = \"env:{CANARY_VAR}\" }}\n[projects.health]\nhttp = \"/health\"\nport = {port}\n[projects.rollout]\nmax_unavailable = 1\n{rollout}\n{hooks}"
    );
    // secret_env belongs to [projects.container]: write_config_with puts
    // `tables` right after that table's env line.
    write_config_with(dir, project, &[("prod", hosts)], port, &tables)
}

fn webhook(on: &str, url: &str, extra: &str) -> String {
    format!("[[projects.hooks]]\non = \"{on}\"\nurl = \"{url}\"\n{extra}\n")
}

/// `shipdeck ARGS --yes --json` with the canary in its environment: exit
/// code, events, all output.
fn deploy(
    args: &[&str],
    config: &Path,
    state: &Path,
    canary: &Canary,
) -> (i32, Vec<Value>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .arg("--config")
        .arg(config)
        .args(args)
        .args(["--yes", "--json"])
        .env("XDG_STATE_HOME", state)
        .env(CANARY_VAR, &canary.env_value)
        .output()
        .expect("run shipdeck");
    json_output(&out)
}

/// A test's own project, state directory, canary and receiver.
struct Setup {
    project: String,
    dir: tempfile::TempDir,
    state: PathBuf,
    canary: Canary,
    rx: Receiver,
}

fn setup(prefix: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    Setup {
        project: unique(prefix),
        state: dir.path().join("state"),
        canary: Canary::new(dir.path()),
        rx: Receiver::start(),
        dir,
    }
}

/// The journal's records of kind `kind`.
fn journal(state: &Path, kind: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let dir = state.join("shipdeck");
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if !p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("journal")
        {
            continue;
        }
        for l in std::fs::read_to_string(&p).unwrap().lines() {
            if let Ok(v) = serde_json::from_str::<Value>(l)
                && v["kind"] == kind
            {
                out.push(v);
            }
        }
    }
    out
}

/// Container ids and versions of the project on each host.
async fn ids(hosts: &[usize], project: &str) -> Vec<(usize, Vec<(String, String, String)>)> {
    let mut out = Vec::new();
    for &n in hosts {
        let run = host_run(n, project, "prod").await;
        out.push((n, run.running.clone()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_calls_every_hook_in_order_with_its_payload_and_no_secret() {
    let Setup {
        project,
        dir,
        state,
        canary,
        rx,
    } = setup("hooks");
    let hosts = [5, 6, 7];
    let port = 18701;
    let env_dump = dir.path().join("cmd-env");
    let hooks = [
        webhook(
            "pre_rollout",
            &rx.url("pre_rollout"),
            &format!(
                "headers = {{ X-Team = \"ops\" }}\nsecret_headers = {{ Authorization = \"file:{}\" }}",
                canary.token_file.display()
            ),
        ),
        webhook("pre_host", &rx.url("pre_host"), "timeout = \"5s\""),
        webhook("post_host", &rx.url("post_host"), ""),
        webhook("post_batch", &rx.url("post_batch"), ""),
        webhook("post_rollout", &rx.url("post_rollout"), ""),
        webhook("on_failure", &rx.url("on_failure"), ""),
        format!(
            "[[projects.hooks]]\non = \"post_rollout\"\ncommand = [\"/bin/sh\", \"-c\", \"env > \\\"$0\\\"; cat > \\\"$0.json\\\"\", \"{}\"]\n",
            env_dump.display()
        ),
    ]
    .concat();
    clean(&project, "prod", &hosts).await;
    // v1 first, without hooks: a first deploy starts every host at once
    // (none serves, so none costs a slot); v2 then goes host by host.
    let plain = config(dir.path(), &project, &hosts, port, "", "");
    let (code, _, out) = deploy(&["deploy", &project, "prod", "v1"], &plain, &state, &canary);
    assert_eq!(code, 0, "{out}");
    let cfg = config(dir.path(), &project, &hosts, port, "", &hooks);
    let (code, events, out) = deploy(&["deploy", &project, "prod", "v2"], &cfg, &state, &canary);
    assert_eq!(code, 0, "{out}");
    assert_all_serve(&hosts, &project, "prod", port, "v2").await;

    let calls = rx.take();
    let order: Vec<String> = calls
        .iter()
        .map(|c| match c.json["host"].as_str() {
            Some(h) => format!("{} {h}", c.path),
            None => match c.json["batch"].as_u64() {
                Some(b) => format!("{} {b}", c.path),
                None => c.path.clone(),
            },
        })
        .collect();
    assert_eq!(
        order,
        [
            "pre_rollout",
            "pre_host h05",
            "post_host h05",
            "post_batch 1",
            "pre_host h06",
            "post_host h06",
            "post_batch 2",
            "pre_host h07",
            "post_host h07",
            "post_batch 3",
            "post_rollout",
        ],
        "the receiver saw each call in order (on_failure not called on success)"
    );
    let release = calls[0].json["release"]
        .as_str()
        .expect("release")
        .to_string();
    for c in &calls {
        let j = &c.json;
        assert_eq!(j["event"], c.path.as_str(), "{}", c.body);
        assert_eq!(j["release"], release.as_str(), "{}", c.body);
        assert_eq!(j["project"], project.as_str());
        assert_eq!(j["env"], "prod");
        assert_eq!(j["action"], "deploy");
        assert_eq!(j["version"], "v2");
        assert_eq!(j["image"], format!("{IMAGE}:v2"));
        assert_eq!(j["hosts"], serde_json::json!(["h05", "h06", "h07"]));
        assert_eq!(j["batches"], 3);
        let text = j["text"].as_str().unwrap_or("");
        assert!(
            text.contains(&project) && text.contains("v2"),
            "a Slack-compatible text: {text}"
        );
        assert_eq!(c.header("content-type"), Some("application/json"));
    }
    assert_eq!(
        calls[0].header("authorization"),
        Some(canary.token.as_str())
    );
    assert_eq!(calls[0].header("x-team"), Some("ops"));
    assert!(
        calls[1..]
            .iter()
            .all(|c| c.header("authorization").is_none())
    );
    let pre_h06 = &calls[4].json;
    assert_eq!(pre_h06["host_address"], host_addr(6));
    assert_eq!(pre_h06["batch"], 2);
    assert_eq!(pre_h06["batch_hosts"], serde_json::json!(["h06"]));
    assert_eq!(calls[5].json["result"], "healthy");
    assert_eq!(calls[10].json["outcome"], "succeeded");

    // The command hook: the facts as variables and JSON on stdin, nothing
    // of shipdeck's environment besides PATH and the like.
    let dump = std::fs::read_to_string(&env_dump).expect("the command hook ran");
    for want in [
        "SHIPDECK_EVENT=post_rollout".to_string(),
        format!("SHIPDECK_PROJECT={project}"),
        "SHIPDECK_OUTCOME=succeeded".to_string(),
        format!("SHIPDECK_RELEASE={release}"),
        "SHIPDECK_HOSTS=h05,h06,h07".to_string(),
    ] {
        assert!(dump.contains(&want), "{want} in the command's env: {dump}");
    }
    assert!(
        !dump.contains(CANARY_VAR) && !dump.contains("XDG_STATE_HOME"),
        "the command starts from an empty environment: {dump}"
    );
    let stdin: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.json", env_dump.display())).unwrap(),
    )
    .expect("the payload on stdin");
    assert_eq!(stdin["event"], "post_rollout");

    // No secret in any payload, the command's environment or its stdin;
    // the container did get it (the canary is real).
    for c in &calls {
        assert!(
            !canary.found_in(&c.body),
            "a secret in a payload: {}",
            c.body
        );
    }
    assert!(!canary.found_in(&dump), "a secret in the command's env");
    let d = docker(5).await;
    let (_, _, id) = &host_run(5, &project, "prod").await.running[0];
    let env = d
        .inspect_container(id, None)
        .await
        .unwrap()
        .config
        .and_then(|c| c.env)
        .unwrap_or_default();
    assert!(
        env.iter()
            .any(|e| e == &format!("DB_PASSWORD={}", canary.env_value)),
        "the container has the secret"
    );
    assert!(!canary.found_in(&out), "a secret in shipdeck's output");

    // Events and the journal: every hook, each ok.
    let hook_events = events_named(&events, "hook");
    assert_eq!(hook_events.len(), 12, "11 webhooks and 1 command: {out}");
    assert!(hook_events.iter().all(|e| e["ok"] == true), "{out}");
    assert_eq!(
        hook_events
            .iter()
            .filter(|e| e["on"] == "pre_host")
            .map(|e| e["host"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["h05", "h06", "h07"]
    );
    let recorded = journal(&state, "hook");
    assert_eq!(
        recorded.len(),
        12,
        "only the v2 release had hooks: {recorded:?}"
    );
    assert!(recorded.iter().all(|r| r["release"] == release.as_str()));
    let journal_text = std::fs::read_dir(state.join("shipdeck"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(!canary.found_in(&journal_text), "a secret in the state dir");

    clean(&project, "prod", &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_pre_host_hook_leaves_that_host_on_the_old_version() {
    let Setup {
        project,
        dir,
        state,
        canary,
        rx,
    } = setup("hookhost");
    let hosts = [2, 3, 4];
    let port = 18702;
    let hooks = [
        webhook("pre_host", &rx.url("pre_host"), ""),
        webhook("post_host", &rx.url("post_host"), ""),
        webhook("post_rollout", &rx.url("post_rollout"), ""),
        webhook("on_failure", &rx.url("on_failure"), ""),
    ]
    .concat();
    clean(&project, "prod", &hosts).await;

    // 1. The default failure policy (rollback, max_failure_ratio 0): h03's
    //    drain fails; h03 is untouched, h02 (done before it) goes back to
    //    v1, h04 is never started.
    let cfg = config(dir.path(), &project, &hosts, port, "", &hooks);
    let (code, _, out) = deploy(&["deploy", &project, "prod", "v1"], &cfg, &state, &canary);
    assert_eq!(code, 0, "{out}");
    let before = ids(&hosts, &project).await;
    rx.take();
    rx.fail(Some("pre_host"), Some("h03"));
    let (code, events, out) = deploy(&["deploy", &project, "prod", "v2"], &cfg, &state, &canary);
    assert_eq!(code, 1, "a failed host fails the release: {out}");
    let failed: Vec<&Value> = events_named(&events, "host")
        .into_iter()
        .filter(|e| e["host"] == "h03" && e["phase"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{out}");
    let detail = failed[0]["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("pre_host")
            && detail.contains("HTTP 500")
            && detail.contains("drain refused"),
        "{detail}"
    );
    assert!(
        !events_named(&events, "host")
            .iter()
            .any(|e| e["host"] == "h03" && e["phase"] == "stopping"),
        "h03 was never stopped: {out}"
    );
    assert_all_serve(&hosts, &project, "prod", port, "v1").await;
    let after = ids(&hosts, &project).await;
    assert_eq!(after[1], before[1], "h03 runs the very container it ran");
    assert_eq!(after[2], before[2], "h04 was never started");
    let fin = events_named(&events, "finished");
    assert_eq!(fin[0]["outcome"], "rolled_back", "{out}");
    let calls = rx.take();
    let seen: Vec<String> = calls
        .iter()
        .map(|c| format!("{} {}", c.path, c.json["host"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(
        seen,
        [
            "pre_host h02",
            "post_host h02",
            "pre_host h03",
            "post_host h03",
            // h02 goes back to v1: drained for the way back too.
            "pre_host h02",
            "post_host h02",
            "post_rollout -",
            "on_failure -",
        ]
    );
    assert_eq!(calls[1].json["result"], "healthy");
    assert_eq!(calls[3].json["result"], "failed");
    assert_eq!(calls[5].json["result"], "rolled back");
    assert_eq!(calls[7].json["outcome"], "rolled_back");
    assert!(
        calls[7].json["error"]
            .as_str()
            .unwrap_or("")
            .contains("h03"),
        "{}",
        calls[7].body
    );

    // 2. failure_action = "pause", max_failure_ratio = 0.5: the others go
    //    on to v2, h03 stays on v1 in its own container.
    let cfg = config(
        dir.path(),
        &project,
        &hosts,
        port,
        "failure_action = \"pause\"\nmax_failure_ratio = 0.5",
        &hooks,
    );
    let before = ids(&hosts, &project).await;
    let (code, _, out) = deploy(&["deploy", &project, "prod", "v2"], &cfg, &state, &canary);
    assert_eq!(code, 1, "v2 does not run everywhere: {out}");
    let v = assert_one_serving(&hosts, &project, "prod", port).await;
    assert_eq!(v[&2], "v2");
    assert_eq!(v[&3], "v1");
    assert_eq!(v[&4], "v2");
    assert_eq!(ids(&hosts, &project).await[1], before[1], "h03 untouched");

    clean(&project, "prod", &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_rollout_refusals_change_nothing_and_notifications_fail_only_when_required() {
    let Setup {
        project,
        dir,
        state,
        canary,
        rx,
    } = setup("hookgate");
    let hosts = [8];
    let port = 18703;
    clean(&project, "prod", &hosts).await;
    let plain = config(dir.path(), &project, &hosts, port, "", "");
    let (code, _, out) = deploy(&["deploy", &project, "prod", "v1"], &plain, &state, &canary);
    assert_eq!(code, 0, "{out}");
    let before = ids(&hosts, &project).await;

    // A webhook gate that answers 500.
    rx.fail(Some("gate"), None);
    let cfg = config(
        dir.path(),
        &project,
        &hosts,
        port,
        "",
        &[
            webhook("pre_rollout", &rx.url("gate"), ""),
            webhook("pre_host", &rx.url("pre_host"), ""),
            webhook("on_failure", &rx.url("on_failure"), ""),
        ]
        .concat(),
    );
    let (code, _, out) = deploy(&["deploy", &project, "prod", "v2"], &cfg, &state, &canary);
    assert_eq!(code, 2, "a failing pre_rollout hook refuses: {out}");
    assert!(
        out.contains("pre_rollout")
            && out.contains("HTTP 500")
            && out.contains("nothing was changed"),
        "{out}"
    );
    let seen: Vec<String> = rx.take().into_iter().map(|c| c.path).collect();
    assert_eq!(seen, ["gate"], "nothing after the gate");
    assert_eq!(ids(&hosts, &project).await, before, "nothing changed");
    let finished = journal(&state, "finished");
    let last = finished.last().expect("journaled");
    assert_eq!(last["result"], "refused");
    assert!(
        last["message"]
            .as_str()
            .unwrap_or("")
            .contains("pre_rollout")
    );

    // A command gate past its timeout: killed, refused.
    let cfg = config(
        dir.path(),
        &project,
        &hosts,
        port,
        "",
        "[[projects.hooks]]\non = \"pre_rollout\"\ncommand = [\"/bin/sleep\", \"30\"]\ntimeout = \"300ms\"\n",
    );
    let t0 = std::time::Instant::now();
    let (code, _, out) = deploy(&["deploy", &project, "prod", "v2"], &cfg, &state, &canary);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("no answer within its timeout (300ms)"),
        "{out}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(25),
        "the command was not waited for"
    );
    assert_eq!(ids(&hosts, &project).await, before, "nothing changed");

    // A notification that fails, not required: reported, the release
    // succeeds. Then required: the release fails (v2 stays: nothing is
    // undone for a notification).
    rx.fail(Some("notify"), None);
    let notify = |required: bool| {
        config(
            dir.path(),
            &project,
            &hosts,
            port,
            "",
            &webhook(
                "post_rollout",
                &rx.url("notify"),
                &format!("required = {required}"),
            ),
        )
    };
    let (code, events, out) = deploy(
        &["deploy", &project, "prod", "v2"],
        &notify(false),
        &state,
        &canary,
    );
    assert_eq!(
        code, 0,
        "a failing notification does not fail the release: {out}"
    );
    let h = events_named(&events, "hook");
    assert_eq!(h.len(), 1, "{out}");
    assert_eq!(h[0]["ok"], false);
    assert_eq!(h[0]["required"], false);
    assert_all_serve(&hosts, &project, "prod", port, "v2").await;

    let (code, events, out) = deploy(
        &["deploy", &project, "prod", "v1"],
        &notify(true),
        &state,
        &canary,
    );
    assert_eq!(
        code, 1,
        "a required notification that fails fails the release: {out}"
    );
    let fin = events_named(&events, "finished");
    assert_eq!(fin[0]["outcome"], "failed");
    assert!(
        fin[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("post_rollout hook"),
        "{out}"
    );
    assert_all_serve(&hosts, &project, "prod", port, "v1").await;

    clean(&project, "prod", &hosts).await;
}
