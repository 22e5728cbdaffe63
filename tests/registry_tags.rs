//! `shipdeck tags` and `registry::RegistryClient` against real registries:
//! the sandbox's anonymous one (10.213.0.1:5000), its htpasswd one
//! (10.213.0.1:5001, Basic), and a `docker-registry` started here with token
//! auth (Bearer) whose token service is a small server in this file that signs
//! real RS256 JWTs with an `openssl`-made key the registry trusts.
//! Needs `scripts/sandbox up`, `openssl` and `/usr/bin/docker-registry`.
//! Every test uses its own repository names; every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{IMAGE, REGISTRY, unique};
use serde_json::Value;
use shipdeck::config::{self, Registry, SecretRef};
use shipdeck::registry::RegistryClient;

const AUTH_REGISTRY: &str = "10.213.0.1:5001";
const DOCKER: &str = "/usr/bin/docker";
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json";

// ---------------------------------------------------------------- helpers

/// Runs `cmd` with `stdin` (bytes or a file), killing it after `limit`.
fn run_bounded(
    cmd: &mut Command,
    stdin: Option<Stdio>,
    input: &[u8],
    limit: Duration,
) -> std::process::Output {
    let has_stdin = stdin.is_some() || !input.is_empty();
    cmd.stdin(stdin.unwrap_or_else(|| {
        if has_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    }))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if !input.is_empty() {
        let mut w = child.stdin.take().expect("stdin");
        w.write_all(input).expect("write stdin");
    }
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// An inventory with `registries` (TOML) and one project.
fn write_inventory(
    dir: &Path,
    registries: &str,
    project: &str,
    image: &str,
    registry: Option<&str>,
) -> PathBuf {
    let reg = registry
        .map(|r| format!("registry = \"{r}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "[[environments]]\nname = \"dev\"\n\n{registries}\n[[projects]]\nname = \"{project}\"\nimage = \"{image}\"\n{reg}"
    );
    let path = dir.join(format!("{project}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON on stdout ({e}): stdout={} stderr={}",
                self.stdout, self.stderr
            )
        })
    }
    /// Neither stream contains `secret` (without printing either: they might).
    fn assert_hides(&self, secret: &str, what: &str) {
        assert!(!secret.is_empty());
        assert!(!self.stdout.contains(secret), "stdout contains the {what}");
        assert!(!self.stderr.contains(secret), "stderr contains the {what}");
    }
}

fn tags(config: &Path, state: &Path, args: &[&str]) -> Run {
    let mut all = vec!["tags"];
    all.extend(args);
    let out = common::shipdeck(&all, config, state);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `tags` with every log target at trace level into a fresh state dir:
/// the run and its log file.
fn tags_traced(config: &Path, args: &[&str]) -> (Run, String) {
    let state = tempfile::tempdir().unwrap();
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_shipdeck"))
            .arg("--config")
            .arg(config)
            .arg("tags")
            .args(args)
            .env("XDG_STATE_HOME", state.path())
            .env("SHIPDECK_LOG", "trace"),
        None,
        b"",
        Duration::from_secs(120),
    );
    let log =
        std::fs::read_to_string(state.path().join("shipdeck/shipdeck.log")).unwrap_or_default();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (run, log)
}

fn http() -> reqwest::Client {
    shipdeck::ensure_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Docker-Content-Digest of a manifest by a plain HEAD, independent of shipdeck.
async fn head_digest(base: &str, repo: &str, reference: &str) -> String {
    let resp = http()
        .head(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("Accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "HEAD {repo}:{reference}");
    resp.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string()
}

fn entry<'a>(doc: &'a Value, tag: &str) -> &'a Value {
    doc.as_array()
        .and_then(|a| a.iter().find(|t| t["tag"] == tag))
        .unwrap_or_else(|| panic!("tag {tag} missing in {doc}"))
}

fn is_sha256(v: &Value) -> bool {
    v.as_str().is_some_and(|d| {
        d.strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
    })
}

/// Creation times in the document never increase; unknown ones come last.
fn assert_newest_first(doc: &Value) {
    let times: Vec<Option<chrono::DateTime<chrono::Utc>>> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["created"].as_str().map(|s| s.parse().unwrap()))
        .collect();
    for w in times.windows(2) {
        match (w[0], w[1]) {
            (Some(a), Some(b)) => assert!(a >= b, "not newest first: {doc}"),
            (None, Some(_)) => panic!("unknown date before a known one: {doc}"),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- 1. anonymous

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_registry_lists_demo_web_with_digests_and_creation_times() {
    let tmp = tempfile::tempdir().unwrap();
    let regs = format!("[[registries]]\nname = \"sandbox\"\nurl = \"http://{REGISTRY}\"\n");
    let cfg = write_inventory(tmp.path(), &regs, "demo", IMAGE, Some("sandbox"));

    let run = tags(&cfg, tmp.path(), &["demo", "--json"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let doc = run.json();
    let base = format!("http://{REGISTRY}");
    let now = chrono::Utc::now();
    for tag in ["v1", "v2", "v3-bad", "v4-slow"] {
        let e = entry(&doc, tag);
        assert!(is_sha256(&e["digest"]), "{e}");
        assert_eq!(
            e["digest"],
            head_digest(&base, "demo/web", tag).await.as_str(),
            "{tag}"
        );
        let created: chrono::DateTime<chrono::Utc> = e["created"]
            .as_str()
            .unwrap_or_else(|| panic!("no created: {e}"))
            .parse()
            .unwrap();
        assert!(created <= now);
        assert!(e["age_secs"].as_i64().unwrap() >= 0, "{e}");
        assert!(e["size"].as_u64().unwrap() > 0, "{e}");
    }
    assert_newest_first(&doc);

    // The table: a header, and v1 with the first 12 hex digits of its digest.
    let run = tags(&cfg, tmp.path(), &["demo"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("TAG")
            && first.contains("DIGEST")
            && first.contains("CREATED (UTC)")
            && first.contains("AGE"),
        "{}",
        run.stdout
    );
    let v1_digest = entry(&doc, "v1")["digest"].as_str().unwrap();
    let v1 = run
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some("v1"))
        .unwrap_or_else(|| panic!("no v1 row: {}", run.stdout));
    assert!(
        v1.contains(&v1_digest["sha256:".len().."sha256:".len() + 12]),
        "{v1}"
    );

    // The library: one tag per page (Link pagination followed), same answer;
    // manifest_digest by HEAD, None for an unknown tag.
    let config = config::load(&cfg).unwrap();
    let client = RegistryClient::for_project(&config, config.project("demo").unwrap())
        .unwrap()
        .with_page_size(1);
    assert_eq!(client.repository(), "demo/web");
    let listed = client.tags().await.unwrap();
    for tag in ["v1", "v2", "v3-bad", "v4-slow"] {
        let t = listed.iter().find(|t| t.tag == tag).unwrap();
        assert_eq!(t.digest.as_deref(), entry(&doc, tag)["digest"].as_str());
    }
    assert_eq!(listed.len(), doc.as_array().unwrap().len());
    assert_eq!(
        client.manifest_digest("v1").await.unwrap().as_deref(),
        Some(v1_digest)
    );
    assert_eq!(
        client.manifest_digest(v1_digest).await.unwrap().as_deref(),
        Some(v1_digest)
    );
    assert_eq!(
        client.manifest_digest("no-such-tag-here").await.unwrap(),
        None
    );
    assert!(client.manifest_digest("../v1").await.is_err());
}

// ---------------------------------------------------------------- 2. basic auth

/// Removes a pushed tag from h01's engine at the end of a test.
struct LocalTag(String);

impl Drop for LocalTag {
    fn drop(&mut self) {
        // No panics here (this may run while unwinding): spawn, wait ≤ 30 s.
        let Ok(mut child) = Command::new(DOCKER)
            .args([&docker_host(), "rmi", &self.0])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn docker_host() -> String {
    format!(
        "--host=unix://{}/h01/docker.sock",
        common::sandbox_dir().display()
    )
}

/// `docker` on sandbox host h01 with its own client config dir.
fn docker(config_dir: &Path, args: &[&str], stdin: Option<Stdio>) -> std::process::Output {
    let out = run_bounded(
        Command::new(DOCKER)
            .env("DOCKER_CONFIG", config_dir)
            .arg(docker_host())
            .args(args),
        stdin,
        b"",
        Duration::from_secs(180),
    );
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.first().unwrap_or(&""),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_registry_basic_auth_right_wrong_and_missing_credentials() {
    let env = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_string());
    let user = env("SHIPDECK_SANDBOX_AUTH_USER", "shipdeck");
    let password_file = PathBuf::from(env(
        "SHIPDECK_SANDBOX_AUTH_PASSWORD_FILE",
        &format!("{}/registry-auth/password", common::sandbox_dir().display()),
    ));
    // Read only through a file: reference, and only to check it never shows.
    let right = SecretRef::File(password_file.clone())
        .resolve()
        .expect("the sandbox's auth password file");

    // Push demo/web:v1 there as a repository of this test's own.
    let tmp = tempfile::tempdir().unwrap();
    let docker_cfg = tmp.path().join("docker");
    std::fs::create_dir_all(&docker_cfg).unwrap();
    let repo = unique("it-tags-basic");
    let target = format!("{AUTH_REGISTRY}/{repo}:t1");
    docker(&docker_cfg, &["pull", &format!("{IMAGE}:v1")], None);
    docker(&docker_cfg, &["tag", &format!("{IMAGE}:v1"), &target], None);
    let _cleanup = LocalTag(target.clone());
    let login = docker(
        &docker_cfg,
        &[
            "login",
            AUTH_REGISTRY,
            "--username",
            &user,
            "--password-stdin",
        ],
        Some(Stdio::from(std::fs::File::open(&password_file).unwrap())),
    );
    assert!(!String::from_utf8_lossy(&login.stdout).contains(right.expose()));
    let push = docker(&docker_cfg, &["push", &target], None);
    let push_out = String::from_utf8_lossy(&push.stdout);
    let pushed = push_out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in docker push output: {push_out}"))
        .to_string();

    let image = format!("{AUTH_REGISTRY}/{repo}");
    let wrong_file = tmp.path().join("wrong-password");
    let wrong = format!("wrong-{}", unique("pw"));
    std::fs::write(&wrong_file, format!("{wrong}\n")).unwrap();

    // Right credentials: t1 with the pushed digest and v1's creation time.
    let regs = format!(
        "[[registries]]\nname = \"authreg\"\nurl = \"http://{AUTH_REGISTRY}\"\nusername = \"{user}\"\npassword = \"file:{}\"\n",
        password_file.display()
    );
    let cfg = write_inventory(tmp.path(), &regs, "basic", &image, Some("authreg"));
    let run = tags(&cfg, tmp.path(), &["basic", "--json"]);
    run.assert_hides(right.expose(), "password");
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let doc = run.json();
    assert_eq!(doc.as_array().unwrap().len(), 1, "{doc}");
    let t1 = entry(&doc, "t1");
    assert_eq!(t1["digest"], pushed.as_str());
    let sandbox = Registry {
        name: "sandbox".into(),
        url: format!("http://{REGISTRY}"),
        username: None,
        password: None,
    };
    let v1 = RegistryClient::new(&sandbox, "demo/web")
        .unwrap()
        .tags()
        .await
        .unwrap();
    let v1_created = v1
        .iter()
        .find(|t| t.tag == "v1")
        .and_then(|t| t.created)
        .unwrap();
    assert_eq!(
        t1["created"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        v1_created
    );
    let table = tags(&cfg, tmp.path(), &["basic"]);
    assert_eq!(table.code, 0);
    table.assert_hides(right.expose(), "password");
    // Not in a trace-level log either (reqwest and hyper included), neither
    // the password nor its base64 form in a Basic header.
    let (run, log) = tags_traced(&cfg, &["basic"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        log.contains("registry request"),
        "the log was written at trace level"
    );
    assert!(
        !log.contains(right.expose()),
        "the log contains the password"
    );
    let basic = b64(format!("{user}:{}", right.expose()).as_bytes(), false);
    assert!(
        !log.contains(&basic),
        "the log contains the Basic credentials"
    );

    // The library with the same login: manifest_digest confirms the push.
    let config = config::load(&cfg).unwrap();
    let client = RegistryClient::for_project(&config, config.project("basic").unwrap()).unwrap();
    assert_eq!(
        client.manifest_digest("t1").await.unwrap().as_deref(),
        Some(pushed.as_str())
    );
    assert_eq!(client.manifest_digest("t2").await.unwrap(), None);
    assert!(!format!("{client:?}").contains(right.expose()));

    // Wrong password: exit 1; registry, URL, user, 401 and the reference named;
    // neither password anywhere.
    let regs = format!(
        "[[registries]]\nname = \"authreg\"\nurl = \"http://{AUTH_REGISTRY}\"\nusername = \"{user}\"\npassword = \"file:{}\"\n",
        wrong_file.display()
    );
    let cfg = write_inventory(tmp.path(), &regs, "wrongpw", &image, Some("authreg"));
    let run = tags(&cfg, tmp.path(), &["wrongpw"]);
    run.assert_hides(right.expose(), "right password");
    run.assert_hides(&wrong, "wrong password");
    assert_eq!(run.code, 1, "stdout: {} stderr: {}", run.stdout, run.stderr);
    for needle in [
        "registry 'authreg'".to_string(),
        format!("http://{AUTH_REGISTRY}"),
        format!("user '{user}'"),
        "401".to_string(),
        "refused the credentials".to_string(),
        format!("file:{}", wrong_file.display()),
    ] {
        assert!(
            run.stderr.contains(&needle),
            "{needle:?} missing in: {}",
            run.stderr
        );
    }
    let run = tags(&cfg, tmp.path(), &["wrongpw", "--json"]);
    assert_eq!(run.code, 1);
    run.assert_hides(&wrong, "wrong password");

    // No credentials: "wants a login" and how to configure it.
    let regs = format!("[[registries]]\nname = \"authreg\"\nurl = \"http://{AUTH_REGISTRY}\"\n");
    let cfg = write_inventory(tmp.path(), &regs, "nologin", &image, Some("authreg"));
    let run = tags(&cfg, tmp.path(), &["nologin"]);
    assert_eq!(run.code, 1, "stdout: {} stderr: {}", run.stdout, run.stderr);
    for needle in [
        "registry 'authreg'",
        "wants a login",
        "401",
        "username",
        "password = \"file:",
        "env:NAME",
    ] {
        assert!(
            run.stderr.contains(needle),
            "{needle:?} missing in: {}",
            run.stderr
        );
    }
    run.assert_hides(right.expose(), "password");

    // Best effort: leave no manifest behind on the auth registry.
    let _ = http()
        .delete(format!(
            "http://{AUTH_REGISTRY}/v2/{repo}/manifests/{pushed}"
        ))
        .basic_auth(&user, Some(right.expose()))
        .send()
        .await;
}

// ---------------------------------------------------------------- 3. 404, 4. unreachable

#[test]
fn unknown_repository_is_not_found_with_the_project_named() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = unique("it-tags-missing");
    let regs = format!("[[registries]]\nname = \"sandbox\"\nurl = \"http://{REGISTRY}\"\n");
    let cfg = write_inventory(
        tmp.path(),
        &regs,
        "ghost",
        &format!("{REGISTRY}/{repo}/web"),
        Some("sandbox"),
    );
    let run = tags(&cfg, tmp.path(), &["ghost", "--json"]);
    assert_eq!(run.code, 1, "stdout: {} stderr: {}", run.stdout, run.stderr);
    let expected = format!(
        "repository '{repo}/web' not found on registry 'sandbox' (http://{REGISTRY}): check `image` of project 'ghost'"
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    // With --json the error is also one JSON object on stdout.
    let doc: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("json error");
    assert_eq!(
        doc["error"].as_str(),
        Some(expected.as_str()),
        "{}",
        run.stdout
    );

    // An unknown project is bad input: exit 2, the known ones listed.
    let run = tags(&cfg, tmp.path(), &["nope"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no project \"nope\"") && run.stderr.contains("ghost"),
        "{}",
        run.stderr
    );
}

#[test]
fn unreachable_registry_and_https_guess_for_a_plain_http_one() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens on 5999.
    let regs = "[[registries]]\nname = \"dead\"\nurl = \"http://10.213.0.1:5999\"\n";
    let cfg = write_inventory(
        tmp.path(),
        regs,
        "dead",
        "10.213.0.1:5999/demo/web",
        Some("dead"),
    );
    let started = Instant::now();
    let run = tags(&cfg, tmp.path(), &["dead"]);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(run.code, 1, "stdout: {} stderr: {}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("cannot reach registry 'dead' at http://10.213.0.1:5999: ")
            && run.stderr.contains("is it running and is the url right?"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.to_lowercase().contains("refused"),
        "root cause missing: {}",
        run.stderr
    );

    // No [[registries]] entry: https:// is guessed from the image; the plain
    // HTTP sandbox registry fails the TLS handshake, and the message says
    // what to add.
    let cfg = write_inventory(tmp.path(), "", "guess", IMAGE, None);
    let run = tags(&cfg, tmp.path(), &["guess"]);
    assert_eq!(run.code, 1, "stdout: {} stderr: {}", run.stdout, run.stderr);
    for needle in [
        format!("cannot reach registry '{REGISTRY}' at https://{REGISTRY}"),
        "TLS".to_string(),
        "[[registries]]".to_string(),
        format!("url = \"http://{REGISTRY}\""),
        "project 'guess'".to_string(),
    ] {
        assert!(
            run.stderr.contains(&needle),
            "{needle:?} missing in: {}",
            run.stderr
        );
    }
}

// ---------------------------------------------------------------- 5. bearer

/// base64 (standard alphabet with padding, or URL-safe without).
fn b64(data: &[u8], url: bool) -> String {
    let abc: &[u8] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(abc[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if !url {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = s.bytes().filter_map(val).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let out = run_bounded(
        Command::new("openssl").args(args),
        None,
        input,
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `sha256:<hex>` of `data`, by openssl (independent of shipdeck's hashing).
fn sha256(data: &[u8]) -> String {
    let hex = openssl(&["dgst", "-sha256", "-r"], data);
    let hex = String::from_utf8_lossy(&hex);
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

/// A signing key and its self-signed certificate (DER, base64) for the `x5c` header.
struct Signer {
    key: PathBuf,
    cert_pem: PathBuf,
    x5c: String,
}

impl Signer {
    fn new(dir: &Path, name: &str) -> Self {
        let key = dir.join(format!("{name}.key"));
        let cert_pem = dir.join(format!("{name}.pem"));
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert_pem.to_str().unwrap(),
            ],
            b"",
        );
        let der = openssl(
            &["x509", "-in", cert_pem.to_str().unwrap(), "-outform", "DER"],
            b"",
        );
        Self {
            key,
            cert_pem,
            x5c: b64(&der, false),
        }
    }

    /// A registry token (RS256 JWT) granting `actions` on `repo`.
    fn token(&self, subject: &str, repo: &str, actions: &[&str]) -> String {
        let now = chrono::Utc::now().timestamp();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "iat": now - 5, "nbf": now - 5, "exp": now + 300, "jti": unique("jti"),
            "access": [{"type": "repository", "name": repo, "actions": actions}],
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes(), true),
            b64(claims.to_string().as_bytes(), true)
        );
        let sig = openssl(
            &["dgst", "-sha256", "-sign", self.key.to_str().unwrap()],
            input.as_bytes(),
        );
        format!("{input}.{}", b64(&sig, true))
    }
}

const ISSUER: &str = "shipdeck-test-issuer";
const SERVICE: &str = "shipdeck-test-registry";
const TOKEN_USER: &str = "tester";

/// One request the token service saw.
#[derive(Debug, Clone)]
struct TokenRequest {
    user: Option<String>,
    service: Option<String>,
    scope: Option<String>,
    granted: bool,
}

/// A token service on 127.0.0.1: grants pull tokens for any requested
/// repository scope to `tester` with the right password, 401 otherwise.
struct TokenService {
    realm: String,
    seen: Arc<Mutex<Vec<TokenRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TokenService {
    async fn start(signer: Arc<Signer>, password: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (signer, password, log) = (signer.clone(), password.clone(), log.clone());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(10),
                        serve_token(sock, signer, password, log),
                    )
                    .await;
                });
            }
        });
        Self { realm, seen, task }
    }

    fn seen(&self) -> Vec<TokenRequest> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_token(
    mut sock: tokio::net::TcpStream,
    signer: Arc<Signer>,
    password: String,
    log: Arc<Mutex<Vec<TokenRequest>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let url = reqwest::Url::parse(&format!("http://token{target}")).unwrap();
    let param = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let (service, scope) = (param("service"), param("scope"));
    let login = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("authorization") {
            return None;
        }
        let encoded = value.trim().strip_prefix("Basic ")?;
        let decoded = String::from_utf8(b64_decode(encoded)).ok()?;
        decoded
            .split_once(':')
            .map(|(u, p)| (u.to_string(), p.to_string()))
    });
    let user = login.as_ref().map(|(u, _)| u.clone());
    let granted = login
        .as_ref()
        .is_some_and(|(u, p)| u == TOKEN_USER && *p == password);
    // Only pull on repository scopes is ever granted (what `tags` needs).
    let repo = scope
        .as_deref()
        .and_then(|s| s.strip_prefix("repository:"))
        .and_then(|s| s.rsplit_once(':'))
        .map(|(name, _)| name.to_string());
    log.lock().unwrap().push(TokenRequest {
        user: user.clone(),
        service,
        scope,
        granted,
    });
    let (status, body) = if granted {
        let (signer, subject, repo) = (
            signer.clone(),
            user.clone().unwrap_or_default(),
            repo.unwrap_or_default(),
        );
        let token = tokio::task::spawn_blocking(move || signer.token(&subject, &repo, &["pull"]))
            .await
            .unwrap();
        (
            "200 OK",
            serde_json::json!({"token": token, "expires_in": 300}).to_string(),
        )
    } else {
        (
            "401 Unauthorized",
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad login"}]}"#.to_string(),
        )
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// A `docker-registry` child process, killed (by its PID) when dropped.
struct RegistryProcess {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RegistryProcess {
    async fn start(dir: &Path, realm: &str, rootcerts: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let yml = dir.join("registry.yml");
        std::fs::write(
            &yml,
            format!(
                "version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nauth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: shipdeck-test-not-secret\n",
                storage.display(),
                rootcerts.display()
            ),
        )
        .unwrap();
        let log = dir.join("registry.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&yml)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start /usr/bin/docker-registry");
        let mut reg = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        // Up when /v2/ answers 401 with a Bearer challenge naming our realm.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = reg.child.try_wait() {
                panic!("docker-registry exited ({status}): {}", reg.log_text());
            }
            if let Ok(r) = http().get(format!("{}/v2/", reg.base)).send().await
                && r.status() == 401
            {
                let challenge = r.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .to_string();
                assert!(
                    challenge.starts_with("Bearer ") && challenge.contains(realm),
                    "{challenge}"
                );
                return reg;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry not up within 20 s: {}",
                reg.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Uploads a blob with a push token; returns its digest.
    async fn put_blob(&self, token: &str, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let c = http();
        let r = c
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            202,
            "start upload: {}",
            r.text().await.unwrap_or_default()
        );
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let mut url = reqwest::Url::parse(&self.base)
            .unwrap()
            .join(&location)
            .unwrap();
        url.query_pairs_mut().append_pair("digest", &digest);
        let r = c
            .put(url)
            .bearer_auth(token)
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            201,
            "finish upload: {}",
            r.text().await.unwrap_or_default()
        );
        digest
    }

    /// Puts a manifest under `tag`; returns its digest (sha256 of `body`).
    async fn put_manifest(
        &self,
        token: &str,
        repo: &str,
        tag: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let r = http()
            .put(format!("{}/v2/{repo}/manifests/{tag}", self.base))
            .bearer_auth(token)
            .header("Content-Type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            201,
            "put manifest {tag}: {}",
            r.text().await.unwrap_or_default()
        );
        let digest = sha256(body);
        assert_eq!(
            r.headers()["docker-content-digest"].to_str().unwrap(),
            digest
        );
        digest
    }
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn oci_manifest(config: &str, config_len: usize, layer: &str, layer_len: usize) -> Vec<u8> {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_len}],
    })
    .to_string()
    .into_bytes()
}

fn image_config(created: &str, layer_diff: &str) -> Vec<u8> {
    serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": created, "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_diff]},
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_flow_against_a_real_token_auth_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let signer = Arc::new(Signer::new(tmp.path(), "shipdeck-test-token"));
    let password = unique("token-pw");
    let password_file = tmp.path().join("token-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let tokens = TokenService::start(signer.clone(), password.clone()).await;
    let registry = RegistryProcess::start(tmp.path(), &tokens.realm, &signer.cert_pem).await;
    let repo = format!("{}/web", unique("it-tags-bearer"));

    // The registry really checks tokens: none, or one signed by a key it does
    // not trust, gets 401.
    let list = format!("{}/v2/{repo}/tags/list", registry.base);
    assert_eq!(http().get(&list).send().await.unwrap().status(), 401);
    let stranger = Signer::new(tmp.path(), "stranger");
    let forged = stranger.token(TOKEN_USER, &repo, &["pull", "push"]);
    assert_eq!(
        http()
            .get(&list)
            .bearer_auth(&forged)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Seed: two OCI images (different creation times, one layer) and an OCI
    // index whose linux/amd64 entry is b1 but whose first entry is b2.
    let push = signer.token("seeder", &repo, &["pull", "push"]);
    let layer = unique("layer-bytes").into_bytes();
    let layer_digest = registry.put_blob(&push, &repo, &layer).await;
    let config1 = image_config("2024-01-02T03:04:05Z", &layer_digest);
    let config2 = image_config("2024-06-07T08:09:10.5Z", &layer_digest);
    let c1 = registry.put_blob(&push, &repo, &config1).await;
    let c2 = registry.put_blob(&push, &repo, &config2).await;
    let m1 = oci_manifest(&c1, config1.len(), &layer_digest, layer.len());
    let m2 = oci_manifest(&c2, config2.len(), &layer_digest, layer.len());
    let d1 = registry
        .put_manifest(&push, &repo, "b1", OCI_MANIFEST, &m1)
        .await;
    let d2 = registry
        .put_manifest(&push, &repo, "b2", OCI_MANIFEST, &m2)
        .await;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d2, "size": m2.len(), "platform": {"architecture": "arm64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": d1, "size": m1.len(), "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    })
    .to_string()
    .into_bytes();
    let di = registry
        .put_manifest(&push, &repo, "idx", OCI_INDEX, &index)
        .await;
    assert!(tokens.seen().is_empty(), "seeding minted its own token");

    // Right credentials: one token request (Basic to the token service with
    // service + pull scope), reused for the listing, manifests and configs.
    let regs = format!(
        "[[registries]]\nname = \"tokenreg\"\nurl = \"{}\"\nusername = \"{TOKEN_USER}\"\npassword = \"file:{}\"\n",
        registry.base,
        password_file.display()
    );
    let image = format!("{}/{repo}", registry.base.trim_start_matches("http://"));
    let cfg = write_inventory(tmp.path(), &regs, "bearer", &image, Some("tokenreg"));
    let run = tags(&cfg, tmp.path(), &["bearer", "--json"]);
    run.assert_hides(&password, "password");
    assert_eq!(
        run.code,
        0,
        "stderr: {}\nregistry log: {}",
        run.stderr,
        registry.log_text()
    );
    let doc = run.json();
    let order: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["b2", "b1", "idx"], "{doc}");
    assert_eq!(entry(&doc, "b1")["digest"], d1.as_str());
    assert_eq!(entry(&doc, "b2")["digest"], d2.as_str());
    assert_eq!(entry(&doc, "idx")["digest"], di.as_str());
    assert_eq!(entry(&doc, "b1")["created"], "2024-01-02T03:04:05Z");
    assert_eq!(entry(&doc, "b2")["created"], "2024-06-07T08:09:10.500Z");
    assert_eq!(
        entry(&doc, "idx")["created"],
        "2024-01-02T03:04:05Z",
        "the amd64 entry, not the first"
    );
    assert_eq!(entry(&doc, "b1")["size"], config1.len() + layer.len());
    let seen = tokens.seen();
    assert_eq!(seen.len(), 1, "one token for the whole listing: {seen:?}");
    assert_eq!(seen[0].user.as_deref(), Some(TOKEN_USER));
    assert_eq!(seen[0].service.as_deref(), Some(SERVICE));
    assert_eq!(
        seen[0].scope.as_deref(),
        Some(format!("repository:{repo}:pull").as_str())
    );
    assert!(seen[0].granted);
    // A trace-level log holds neither the password nor the token.
    let (run, log) = tags_traced(&cfg, &["bearer"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        log.contains("token request"),
        "the log was written at trace level"
    );
    assert!(!log.contains(&password), "the log contains the password");
    assert!(!log.contains("eyJ"), "the log contains a JWT");

    // The library over the same flow.
    let config = config::load(&cfg).unwrap();
    let client = RegistryClient::for_project(&config, config.project("bearer").unwrap()).unwrap();
    assert_eq!(
        client.manifest_digest("b2").await.unwrap().as_deref(),
        Some(d2.as_str())
    );
    assert_eq!(
        client.manifest_digest("idx").await.unwrap().as_deref(),
        Some(di.as_str())
    );
    assert_eq!(client.manifest_digest("b3").await.unwrap(), None);
    assert_eq!(tokens.seen().len(), 3, "the new client fetched one token");

    // Wrong password: the token service refuses; exit 1, nothing leaks.
    let wrong_file = tmp.path().join("wrong");
    let wrong = unique("wrong-pw");
    std::fs::write(&wrong_file, &wrong).unwrap();
    let regs = format!(
        "[[registries]]\nname = \"tokenreg\"\nurl = \"{}\"\nusername = \"{TOKEN_USER}\"\npassword = \"file:{}\"\n",
        registry.base,
        wrong_file.display()
    );
    let cfg = write_inventory(tmp.path(), &regs, "bearerwrong", &image, Some("tokenreg"));
    let run = tags(&cfg, tmp.path(), &["bearerwrong"]);
    run.assert_hides(&wrong, "wrong password");
    run.assert_hides(&password, "password");
    assert_eq!(run.code, 1, "stdout: {} stderr: {}", run.stdout, run.stderr);
    for needle in [
        "registry 'tokenreg'".to_string(),
        registry.base.clone(),
        format!(
            "refused the credentials of user '{TOKEN_USER}' (401 Unauthorized, token service {}",
            tokens.realm
        ),
        format!("file:{}", wrong_file.display()),
    ] {
        assert!(
            run.stderr.contains(&needle),
            "{needle:?} missing in: {}",
            run.stderr
        );
    }
    assert!(!tokens.seen().last().unwrap().granted);

    // No credentials: the anonymous token request is refused → wants a login.
    let regs = format!(
        "[[registries]]\nname = \"tokenreg\"\nurl = \"{}\"\n",
        registry.base
    );
    let cfg = write_inventory(tmp.path(), &regs, "bearernone", &image, Some("tokenreg"));
    let run = tags(&cfg, tmp.path(), &["bearernone"]);
    assert_eq!(run.code, 1, "stdout: {} stderr: {}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("registry 'tokenreg'") && run.stderr.contains("wants a login"),
        "{}",
        run.stderr
    );
    assert_eq!(tokens.seen().last().unwrap().user, None);
}
