//! Shared helpers for tests that run against the sandbox fleet
//! (`scripts/sandbox up`). Each test uses its own project name and port so
//! tests can run in parallel on the same hosts without touching each other.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
    StartContainerOptions,
};
use futures::StreamExt;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

pub mod fixture;
pub mod tmux;

/// The sandbox's registry as the hosts see it.
pub const REGISTRY: &str = "10.213.0.1:5000";
pub const IMAGE: &str = "10.213.0.1:5000/demo/web";

/// The sandbox state directory.
pub fn sandbox_dir() -> PathBuf {
    std::env::var_os("SHIPDECK_SANDBOX_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/shipdeck-sandbox"))
}

/// `tcp://10.213.0.(10+n):2375` for host `hNN` (`:2376`, TLS only, for
/// the TLS hosts).
pub fn tcp_endpoint(n: usize) -> String {
    if is_tls_host(n) {
        format!("tcp://10.213.0.{}:2376", 10 + n)
    } else {
        format!("tcp://10.213.0.{}:2375", 10 + n)
    }
}

/// The sandbox hosts that answer only TLS with a client certificate
/// (`scripts/sandbox` starts them whatever N is).
pub const TLS_HOSTS: [usize; 2] = [41, 42];

pub fn is_tls_host(n: usize) -> bool {
    TLS_HOSTS.contains(&n)
}

/// A file of the sandbox's TLS material (`ca.pem`, `client.pem`, …).
pub fn tls_file(name: &str) -> PathBuf {
    sandbox_dir().join("tls").join(name)
}

/// The `tls = { … }` table of a TLS host with the sandbox's CA and client.
pub fn tls_table(ca: &str, cert: &str) -> String {
    let key = cert.replace(".pem", "-key.pem");
    format!(
        "tls = {{ ca = \"{}\", cert = \"{}\", key = \"{}\" }}",
        tls_file(ca).display(),
        tls_file(cert).display(),
        tls_file(&key).display()
    )
}

/// The host's own address (where `--network host` containers listen).
pub fn host_addr(n: usize) -> String {
    format!("10.213.0.{}", 10 + n)
}

pub fn host_name(n: usize) -> String {
    format!("h{n:02}")
}

/// The repository root (scripts/ lives there).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A client for sandbox host `n`; fails the test with a clear message when the
/// sandbox is not up (a skipped integration test is a failure, not a pass).
/// TLS hosts are reached through their unix socket: the test's view of
/// the host does not go through the TLS client it checks.
pub async fn docker(n: usize) -> Docker {
    let d = if is_tls_host(n) {
        let sock = sandbox_dir().join(host_name(n)).join("docker.sock");
        Docker::connect_with_unix(&sock.to_string_lossy(), 10, bollard::API_DEFAULT_VERSION)
            .expect("client")
    } else {
        Docker::connect_with_http(&tcp_endpoint(n), 10, bollard::API_DEFAULT_VERSION)
            .expect("client")
    };
    match tokio::time::timeout(Duration::from_secs(10), d.negotiate_version()).await {
        Ok(Ok(d)) => d,
        other => panic!(
            "sandbox host h{n:02} ({}) does not answer: {other:?}. Run `scripts/sandbox up` first.",
            tcp_endpoint(n)
        ),
    }
}

/// Pull `demo/web:TAG` from the sandbox registry onto a host.
pub async fn pull(d: &Docker, tag: &str) {
    let mut s = d.create_image(
        Some(CreateImageOptions {
            from_image: Some(IMAGE.to_string()),
            tag: Some(tag.to_string()),
            ..Default::default()
        }),
        None,
        None,
    );
    let fut = async {
        while let Some(item) = s.next().await {
            item.expect("pull");
        }
    };
    tokio::time::timeout(Duration::from_secs(120), fut)
        .await
        .expect("pull timed out");
}

/// Start a container the way shipdeck would label it, but out-of-band.
pub async fn run_labelled(
    d: &Docker,
    name: &str,
    tag: &str,
    project: &str,
    env: &str,
    port: u16,
) -> String {
    pull(d, tag).await;
    let labels = HashMap::from([
        ("shipdeck.project".to_string(), project.to_string()),
        ("shipdeck.env".to_string(), env.to_string()),
        ("shipdeck.version".to_string(), tag.to_string()),
        ("shipdeck.release".to_string(), format!("test-{name}")),
    ]);
    let body = ContainerCreateBody {
        image: Some(format!("{IMAGE}:{tag}")),
        env: Some(vec![
            format!("PORT={port}"),
            format!("ENVT={env}"),
            format!("PROJ={project}"),
        ]),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some("host".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = d
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.to_string()),
                ..Default::default()
            }),
            body,
        )
        .await
        .expect("create container");
    d.start_container(&created.id, None::<StartContainerOptions>)
        .await
        .expect("start container");
    created.id
}

/// Remove every container of `project` on host `n` (force).
pub async fn remove_project(d: &Docker, project: &str) {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("shipdeck.project={project}")],
    )]);
    let list = d
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap_or_default();
    for c in list {
        if let Some(id) = c.id {
            let _ = d
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
    }
}

/// Write an inventory with one project whose environments map to sandbox host
/// numbers. Host 1 is reached over its unix socket, the others over TCP.
pub fn write_config(dir: &Path, project: &str, envs: &[(&str, &[usize])], port: u16) -> PathBuf {
    let health = format!("[projects.health]\nhttp = \"/health\"\nport = {port}\n");
    write_config_with(dir, project, envs, port, &health)
}

/// Like `write_config`, with `tables` (TOML sub-tables of the project such as
/// `[projects.health]` and `[projects.rollout]`) instead of the default health check.
pub fn write_config_with(
    dir: &Path,
    project: &str,
    envs: &[(&str, &[usize])],
    port: u16,
    tables: &str,
) -> PathBuf {
    // The image's 1 s Docker HEALTHCHECK is an `exec` per container per
    // second: on one 2-core machine running many hosts it is the main load.
    // Keep it only where a test gates on it (`docker = true`).
    let image_check = !tables.contains("docker = false");
    let mut hosts: Vec<usize> = envs.iter().flat_map(|(_, h)| h.iter().copied()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let mut s = String::from("[settings]\ndocker_timeout_secs = 3\n\n");
    for (e, _) in envs {
        s.push_str(&format!("[[environments]]\nname = \"{e}\"\n\n"));
    }
    s.push_str(&hosts_toml(&hosts));
    s.push_str(&format!(
        "[[projects]]\nname = \"{project}\"\nimage = \"{IMAGE}\"\n[projects.container]\nenv = {{ PORT = \"{port}\" }}\nimage_healthcheck = {image_check}\n{tables}\n[projects.hosts]\n"
    ));
    for (e, hs) in envs {
        s.push_str(&env_hosts_line(e, hs));
    }
    let path = dir.join("shipdeck.toml");
    std::fs::write(&path, s).expect("write config");
    path
}

/// A name no other test (or earlier run) uses: the registry and the
/// engines' caches outlive test runs.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Like [`unique`], short enough for the console's project column (at
/// most 20 characters): `PREFIX` + the pid + the nanoseconds' last digits.
pub fn short_unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000)
        .unwrap_or(0);
    format!("{prefix}{}{nanos:06}", std::process::id())
}

/// Environment variables that keep every user config out: home, XDG dirs
/// and the Docker CLI's store all in `root`.
pub fn isolated_env(root: &std::path::Path) -> Vec<(&'static str, String)> {
    let dir = |d: &str| {
        let p = root.join(d);
        std::fs::create_dir_all(&p).unwrap();
        p.display().to_string()
    };
    vec![
        ("HOME", dir("home")),
        ("XDG_CONFIG_HOME", dir("config")),
        ("XDG_STATE_HOME", dir("state")),
        ("DOCKER_CONFIG", dir("docker")),
    ]
}

/// Removes the projects' containers from host `n` however the test ends
/// (they hold host ports a later run needs).
pub struct CleanupProjects(pub usize, pub Vec<String>);

impl Drop for CleanupProjects {
    fn drop(&mut self) {
        let (n, projects) = (self.0, std::mem::take(&mut self.1));
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let d = docker(n).await;
                for p in &projects {
                    remove_project(&d, p).await;
                }
            });
        })
        .join();
    }
}

/// `[[hosts]]` tables for sandbox hosts `hosts` (h01 through its unix socket).
pub fn hosts_toml(hosts: &[usize]) -> String {
    let mut s = String::new();
    for n in hosts {
        let endpoint = if *n == 1 {
            format!("unix://{}/h01/docker.sock", sandbox_dir().display())
        } else {
            tcp_endpoint(*n)
        };
        let tls = if is_tls_host(*n) {
            format!("{}\n", tls_table("ca.pem", "client.pem"))
        } else {
            String::new()
        };
        s.push_str(&format!(
            "[[hosts]]\nname = \"{}\"\nendpoint = \"{endpoint}\"\naddress = \"{}\"\n{tls}\n",
            host_name(*n),
            host_addr(*n)
        ));
    }
    s
}

/// `ENV = ["hNN", …]` for a `[projects.hosts]` table.
pub fn env_hosts_line(env: &str, hosts: &[usize]) -> String {
    let names: Vec<String> = hosts
        .iter()
        .map(|n| format!("\"{}\"", host_name(*n)))
        .collect();
    format!("{env} = [{}]\n", names.join(", "))
}

/// Poll `check` every 100 ms until it returns Some, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Run the shipdeck binary with its state (journal, log) in `state_dir`.
pub fn shipdeck(args: &[&str], config: &Path, state_dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("XDG_STATE_HOME", state_dir)
        .env("SHIPDECK_LOCK_TTL", "5")
        .output()
        .expect("run shipdeck")
}

/// Run shipdeck: its exit code and all it printed (stdout, then stderr).
pub fn shipdeck_text(args: &[&str], config: &Path, state_dir: &Path) -> (i32, String) {
    let out = shipdeck(args, config, state_dir);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Run a `--json` rollout command: exit code and its events.
pub fn rollout_json(
    args: &[&str],
    config: &Path,
    state_dir: &Path,
) -> (i32, Vec<serde_json::Value>, String) {
    let mut all = args.to_vec();
    all.extend(["--yes", "--json"]);
    json_output(&shipdeck(&all, config, state_dir))
}

/// A `--json` command's exit code, its events (one JSON object a line of
/// stdout), and all it printed.
pub fn json_output(out: &std::process::Output) -> (i32, Vec<serde_json::Value>, String) {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let events = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.code().unwrap_or(-1),
        events,
        format!("{text}{stderr}"),
    )
}

/// Events named `name`.
pub fn events_named<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

/// Remove a project's containers, its lock objects and its release ledger
/// on hosts `hosts` (the ledger would carry an earlier run's releases).
pub async fn clean(project: &str, env: &str, hosts: &[usize]) {
    for n in hosts {
        let d = docker(*n).await;
        remove_project(&d, project).await;
        for name in [
            format!("shipdeck-lock.{project}.{env}"),
            format!("shipdeck-ledger.{project}.{env}"),
        ] {
            let _ = d
                .remove_container(
                    &name,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
    }
}

/// What runs for `project`/`env` on host `n`: the container named
/// `{project}.{env}` (shipdeck's serving container) and every container of it.
pub async fn on_host(n: usize, project: &str, env: &str) -> Vec<bollard::models::ContainerSummary> {
    let d = docker(n).await;
    let filters = HashMap::from([(
        "label".to_string(),
        vec![
            format!("shipdeck.project={project}"),
            format!("shipdeck.env={env}"),
        ],
    )]);
    d.list_containers(Some(ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    }))
    .await
    .expect("list")
}

/// Samples every host's health endpoint every 100 ms in the background and
/// remembers the most hosts that failed at the same instant.
pub struct HealthSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: tokio::task::JoinHandle<(usize, usize)>,
}

impl HealthSampler {
    pub fn start(hosts: &[usize], port: u16) -> Self {
        Self::start_every(hosts, port, Duration::from_millis(100))
    }

    /// Sample every `every` instead of every 100 ms.
    pub fn start_every(hosts: &[usize], port: u16, every: Duration) -> Self {
        shipdeck::ensure_crypto_provider();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let urls: Vec<String> = hosts
            .iter()
            .map(|n| format!("http://{}:{port}/health", host_addr(*n)))
            .collect();
        let flag = stop.clone();
        let handle = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_millis(800))
                .build()
                .expect("client");
            let mut worst = 0;
            let mut rounds = 0;
            // Bounded: at most 10 minutes of sampling.
            while !flag.load(std::sync::atomic::Ordering::Relaxed) && rounds < 6000 {
                let checks = urls.iter().map(|u| {
                    let client = client.clone();
                    async move {
                        client
                            .get(u)
                            .send()
                            .await
                            .map(|r| r.status().is_success())
                            .unwrap_or(false)
                    }
                });
                let down = futures::future::join_all(checks)
                    .await
                    .into_iter()
                    .filter(|ok| !ok)
                    .count();
                worst = worst.max(down);
                rounds += 1;
                tokio::time::sleep(every).await;
            }
            (worst, rounds)
        });
        Self { stop, handle }
    }

    /// Stop sampling: (most hosts down at once, samples taken).
    pub async fn finish(self) -> (usize, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.await.expect("sampler")
    }
}

/// Image pulls each host's engine recorded since `since` (Unix seconds).
pub async fn pulls_since(hosts: &[usize], since: i64) -> usize {
    let mut total = 0;
    for n in hosts {
        let d = docker(*n).await;
        let filters = HashMap::from([
            ("type".to_string(), vec!["image".to_string()]),
            ("event".to_string(), vec!["pull".to_string()]),
        ]);
        let until = chrono::Utc::now().timestamp() + 1;
        let mut s = d.events(Some(bollard::query_parameters::EventsOptions {
            since: Some(since.to_string()),
            until: Some(until.to_string()),
            filters: Some(filters),
        }));
        let count = async {
            let mut c = 0;
            while let Some(Ok(_)) = s.next().await {
                c += 1;
            }
            c
        };
        total += tokio::time::timeout(Duration::from_secs(10), count)
            .await
            .expect("events with until end by themselves");
    }
    total
}

/// A rollout running in the background; its JSON events arrive on a channel.
pub struct Running {
    pub child: std::process::Child,
    pub rx: std::sync::mpsc::Receiver<Value>,
    pub seen: Vec<Value>,
}

impl Running {
    /// `lock_ttl`: SHIPDECK_LOCK_TTL of the process (seconds).
    pub fn spawn(config: &Path, state: &Path, args: &[&str], lock_ttl: &str) -> Self {
        Self::spawn_env(config, state, args, Some(lock_ttl), &[])
    }

    /// Wait (bounded) for an event matching `pred`.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("no {what} within {limit:?}; seen: {:#?}", self.seen),
            }
        }
    }

    pub fn count(&self, event: &str) -> usize {
        self.seen.iter().filter(|v| v["event"] == event).count()
    }

    /// Drain the remaining events and the exit code (bounded).
    pub fn finish(mut self, limit: Duration) -> (i32, Vec<Value>) {
        let deadline = Instant::now() + limit;
        while let Ok(v) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(v);
        }
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st.code().unwrap_or(-1), self.seen);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("rollout did not end within {limit:?}: {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Running {
    /// `Running::spawn` with extra environment variables.
    pub fn spawn_env(
        config: &Path,
        state: &Path,
        args: &[&str],
        lock_ttl: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipdeck"));
        cmd.arg("--config")
            .arg(config)
            .args(args)
            .args(["--yes", "--json"])
            .env("XDG_STATE_HOME", state)
            .env_remove("SHIPDECK_LOCK_TTL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(t) = lock_ttl {
            cmd.env("SHIPDECK_LOCK_TTL", t);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Self {
            child,
            rx,
            seen: Vec::new(),
        }
    }

    /// Take what arrived so far without waiting.
    pub fn drain(&mut self) {
        self.seen.extend(self.rx.try_iter());
    }

    /// SIGKILL it and wait for it to be gone.
    pub fn kill9(mut self) -> Vec<Value> {
        self.child.kill().unwrap();
        let _ = self.child.wait();
        self.drain();
        self.seen
    }

    /// Send a signal (`libc`-free: through `kill(1)`).
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "kill -{sig} failed");
    }
}

/// Run `scripts/sandbox ARGS…` (bounded by the script's own waits); panics
/// with its output when it fails.
pub fn sandbox(args: &[&str]) {
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

/// What one host runs for `project`/`env`, read from its engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRun {
    /// Running app containers: (name, version, id).
    pub running: Vec<(String, String, String)>,
    /// Every app container: (name, version, state).
    pub all: Vec<(String, String, String)>,
}

/// Every app container of `project`/`env` on host `n`.
pub async fn host_run(n: usize, project: &str, env: &str) -> HostRun {
    let list = on_host(n, project, env).await;
    let mut run = HostRun {
        running: Vec::new(),
        all: Vec::new(),
    };
    for c in list {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first().cloned())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string();
        let version = c
            .labels
            .as_ref()
            .and_then(|l| l.get("shipdeck.version").cloned())
            .unwrap_or_default();
        let state = c.state.map(|s| s.to_string()).unwrap_or_default();
        if state == "running" || state == "restarting" {
            run.running.push((
                name.clone(),
                version.clone(),
                c.id.clone().unwrap_or_default(),
            ));
        }
        run.all.push((name, version, state));
    }
    run
}

/// The promise every fault test checks on the fleet: each host runs exactly
/// one app container of the project/env, named `{project}.{env}`, and it
/// answers `/health`. Returns each host's version.
pub async fn assert_one_serving(
    hosts: &[usize],
    project: &str,
    env: &str,
    port: u16,
) -> HashMap<usize, String> {
    shipdeck::ensure_crypto_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let mut out = HashMap::new();
    for &n in hosts {
        let run = host_run(n, project, env).await;
        assert_eq!(
            run.running.len(),
            1,
            "h{n:02} must run exactly one {project}.{env} container: {:?}",
            run.all
        );
        let (name, version, _) = &run.running[0];
        assert_eq!(
            name,
            &format!("{project}.{env}"),
            "h{n:02}: the running container has the serving name: {:?}",
            run.all
        );
        let url = format!("http://{}:{port}/health", host_addr(n));
        let ok = eventually(Duration::from_secs(5), || async {
            client
                .get(&url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        })
        .await;
        assert!(ok.is_some(), "h{n:02} ({version}) does not answer {url}");
        out.insert(n, version.clone());
    }
    out
}

/// Like [`assert_one_serving`], and every host on `version`.
pub async fn assert_all_serve(hosts: &[usize], project: &str, env: &str, port: u16, version: &str) {
    let v = assert_one_serving(hosts, project, env, port).await;
    for (n, got) in &v {
        assert_eq!(got, version, "h{n:02} serves {got}, want {version}: {v:?}");
    }
}

/// Force-remove an image from host `n` (a later create of it fails).
pub async fn remove_image(n: usize, image: &str) {
    let d = docker(n).await;
    d.remove_image(
        image,
        Some(bollard::query_parameters::RemoveImageOptions {
            force: true,
            ..Default::default()
        }),
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("remove image {image} on h{n:02}: {e}"));
}

/// `history --json` of a project: one JSON object per line.
pub fn history_json(config: &Path, state: &Path, project: &str) -> Vec<Value> {
    let out = shipdeck(&["history", project, "--json"], config, state);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// What the registry proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward to the sandbox registry.
    Pass,
    /// Accept and forward nothing (a registry that hangs).
    Stall,
    /// Refuse new connections and reset the open ones (a registry that died).
    Dead,
}

/// A TCP proxy in front of the sandbox registry, on `10.213.0.1:PORT`
/// (the daemons trust any registry on the sandbox network), whose mode the
/// test switches: a registry that stalls or dies in the middle of a pull.
pub struct RegistryProxy {
    pub port: u16,
    mode: tokio::sync::watch::Sender<ProxyMode>,
    task: tokio::task::JoinHandle<()>,
}

impl RegistryProxy {
    pub async fn start(port: u16, mode: ProxyMode) -> Self {
        let listener = tokio::net::TcpListener::bind(("10.213.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("proxy on 10.213.0.1:{port}: {e}"));
        let (tx, rx) = tokio::sync::watch::channel(mode);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            let mut rx_main = rx.clone();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        if *rx_main.borrow() == ProxyMode::Dead {
                            continue; // dropped: connection closed
                        }
                        let mut rx = rx.clone();
                        conns.spawn(async move {
                            // Wait while stalled; die with the proxy.
                            loop {
                                let m = *rx.borrow_and_update();
                                match m {
                                    ProxyMode::Pass => break,
                                    ProxyMode::Dead => return,
                                    ProxyMode::Stall => {
                                        if rx.changed().await.is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                            let Ok(mut outbound) =
                                tokio::net::TcpStream::connect(REGISTRY).await
                            else {
                                return;
                            };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                _ = rx.wait_for(|m| *m == ProxyMode::Dead) => {}
                            }
                        });
                    }
                    r = rx_main.changed() => {
                        if r.is_err() {
                            return;
                        }
                        if *rx_main.borrow() == ProxyMode::Dead {
                            conns.abort_all();
                            // Stop listening: new connections are refused.
                            return;
                        }
                    }
                }
            }
        });
        Self {
            port,
            mode: tx,
            task,
        }
    }

    /// The image repository through this proxy.
    pub fn image(&self) -> String {
        format!("10.213.0.1:{}/demo/web", self.port)
    }

    pub fn set(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for RegistryProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sandbox's htpasswd registry (user `shipdeck`, password in a file).
pub const AUTH_REGISTRY: &str = "10.213.0.1:5001";

/// The password of the sandbox's htpasswd registry.
pub fn auth_password() -> String {
    std::fs::read_to_string(sandbox_dir().join("registry-auth/password"))
        .expect("the sandbox's registry password file")
        .trim()
        .to_string()
}

/// Tag `demo/web:FROM` as `TO_REPO:TAG` on host `n` and push it (with the
/// htpasswd login when `TO_REPO` is on the auth registry). Returns the
/// pushed digest as the engine reports it.
pub async fn push_as(n: usize, from_tag: &str, to_repo: &str, tag: &str) -> String {
    let d = docker(n).await;
    pull(&d, from_tag).await;
    d.tag_image(
        &format!("{IMAGE}:{from_tag}"),
        Some(bollard::query_parameters::TagImageOptions {
            repo: Some(to_repo.to_string()),
            tag: Some(tag.to_string()),
        }),
    )
    .await
    .expect("tag");
    let creds = to_repo
        .starts_with(AUTH_REGISTRY)
        .then(|| bollard::auth::DockerCredentials {
            username: Some("shipdeck".into()),
            password: Some(auth_password()),
            serveraddress: Some(AUTH_REGISTRY.into()),
            ..Default::default()
        });
    let mut s = d.push_image(
        to_repo,
        Some(bollard::query_parameters::PushImageOptions {
            tag: Some(tag.to_string()),
            ..Default::default()
        }),
        creds,
    );
    let mut digest = String::new();
    let fut = async {
        while let Some(item) = s.next().await {
            let info = item.expect("push");
            if let Some(e) = info.error_detail.and_then(|e| e.message) {
                panic!("push {to_repo}:{tag}: {e}");
            }
            if let Some(st) = info.status
                && let Some(dg) = st.split_whitespace().skip_while(|w| *w != "digest:").nth(1)
            {
                digest = dg.to_string();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), fut)
        .await
        .expect("push timed out");
    digest
}

// Writing into a container's log, as its own process 1 would.

/// A client for host `n` and the id of its running container of
/// `project`/`env`.
pub async fn serving(n: usize, project: &str, env: &str) -> (bollard::Docker, String) {
    let ctr = on_host(n, project, env)
        .await
        .into_iter()
        .find(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "running"))
        .unwrap_or_else(|| panic!("no running container of {project}/{env} on h{n:02}"));
    (docker(n).await, ctr.id.unwrap())
}

/// Write `line` to the stdout (or stderr) of the serving container of
/// `project`/`env` on host `n`, as its own process 1 would: it lands in the
/// container's log.
pub async fn write_to_log(n: usize, project: &str, env: &str, line: &str, stderr: bool) {
    let (d, id) = serving(n, project, env).await;
    let fd = if stderr { 2 } else { 1 };
    let exec = d
        .create_exec(
            &id,
            CreateExecOptions::<String> {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    format!("echo {line} > /proc/1/fd/{fd}"),
                ]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    if let StartExecResults::Attached { mut output, .. } =
        d.start_exec(&exec.id, None).await.unwrap()
    {
        let drain = async { while output.next().await.is_some() {} };
        tokio::time::timeout(Duration::from_secs(20), drain)
            .await
            .expect("the exec ended");
    }
}

/// Run `script` in the serving container of `project`/`env` on host `n`
/// without waiting for it (a detached exec).
pub async fn run_in_background(n: usize, project: &str, env: &str, script: &str) {
    let (d, id) = serving(n, project, env).await;
    let exec = d
        .create_exec(
            &id,
            CreateExecOptions::<String> {
                cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    d.start_exec(
        &exec.id,
        Some(bollard::exec::StartExecOptions {
            detach: true,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
}
