//! Builds from templates, pushes, tags, promotion — against the real sandbox
//! (`scripts/sandbox up`): the build host is h01's engine, the registries are
//! the sandbox's plain one (10.213.0.1:5000) and its htpasswd one (:5001).
//! Each test has its own project, image repository and port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::StopContainerOptions;
use common::*;

const BASE_IMAGE: &str = "10.213.0.1:5000/sdk/busybox:base";
const AUTH_REGISTRY: &str = "10.213.0.1:5001";

fn templates_dir() -> PathBuf {
    repo_root().join("config/templates")
}

/// Copies `src` into `dst` (file modes kept: the app's `server` is executable).
fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read fixture") {
        let e = e.expect("entry");
        let to = dst.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).expect("copy");
        }
    }
}

/// The sample app in `dir/hello`, plus files its `.dockerignore` leaves out.
fn sample(dir: &Path) -> PathBuf {
    let ctx = dir.join("hello");
    copy_dir(&repo_root().join("tests/fixtures/build/hello"), &ctx);
    std::fs::write(ctx.join("app/www/debug.log"), "a log line\n").expect("write");
    std::fs::create_dir_all(ctx.join("app/www/private")).expect("mkdir");
    std::fs::write(ctx.join("app/www/private/token.txt"), "not for images\n").expect("write");
    ctx
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=shipdeck-test",
            "-c",
            "user.email=test@shipdeck.invalid",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// An inventory with one buildable project. `registry` is the body of its
/// `[[registries]]` table (name "reg"); `build` extra lines of `[projects.build]`.
fn config(
    dir: &Path,
    project: &str,
    image: &str,
    registry: &str,
    build: &str,
    port: u16,
    envs: &[(&str, &[usize], Option<&str>)],
) -> PathBuf {
    let mut s = format!(
        "[settings]\ndocker_timeout_secs = 5\ntemplates = \"{}\"\n\n",
        templates_dir().display()
    );
    for (e, _, from) in envs {
        s.push_str(&format!("[[environments]]\nname = \"{e}\"\n"));
        if let Some(f) = from {
            s.push_str(&format!("require_promotion_from = \"{f}\"\n"));
        }
        s.push('\n');
    }
    let mut hosts: Vec<usize> = envs
        .iter()
        .flat_map(|(_, h, _)| h.iter().copied())
        .collect();
    hosts.push(1);
    hosts.sort_unstable();
    hosts.dedup();
    s.push_str(&hosts_toml(&hosts));
    s.push_str(&format!("[[registries]]\nname = \"reg\"\n{registry}\n\n"));
    s.push_str(&format!(
        "[[projects]]\nname = \"{project}\"\nimage = \"{image}\"\nregistry = \"reg\"\n\
         [projects.build]\nhost = \"h01\"\n{build}\n\
         [projects.container]\nenv = {{ PORT = \"{port}\" }}\nimage_healthcheck = false\n\
         [projects.health]\nhttp = \"/health\"\nport = {port}\ndocker = false\ninterval = \"200ms\"\n\
         [projects.hosts]\n"
    ));
    for (e, hs, _) in envs {
        s.push_str(&env_hosts_line(e, hs));
    }
    let path = dir.join("shipdeck.toml");
    std::fs::write(&path, s).expect("write config");
    path
}

fn hello_build(ctx: &Path, port: u16) -> String {
    format!(
        "context = \"{}\"\ntemplate = \"static-binary\"\nvars = {{ BASE_IMAGE = \"{BASE_IMAGE}\", APP_DIR = \"app\", BINARY = \"server\", PORT = \"{port}\" }}",
        ctx.display()
    )
}

const PLAIN_REGISTRY: &str = "url = \"http://10.213.0.1:5000\"";

/// Runs shipdeck with `--json`: exit code, JSON lines of stdout, all output as text.
fn json_run(args: &[&str], config: &Path, state: &Path) -> (i32, Vec<serde_json::Value>, String) {
    json_run_logged(args, config, state, "info")
}

/// `json_run` with the log file at `level` (`trace` logs every HTTP exchange).
fn json_run_logged(
    args: &[&str],
    config: &Path,
    state: &Path,
    level: &str,
) -> (i32, Vec<serde_json::Value>, String) {
    let mut all = args.to_vec();
    all.push("--json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .arg("--config")
        .arg(config)
        .args(&all)
        .env("XDG_STATE_HOME", state)
        .env("SHIPDECK_LOG", level)
        .output()
        .expect("run shipdeck");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let events = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        events,
        format!("{stdout}\n--- stderr\n{stderr}"),
    )
}

fn one<'a>(events: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    let found = events_named(events, name);
    assert_eq!(found.len(), 1, "one `{name}` event expected in {events:#?}");
    found[0]
}

/// The registry's digest of `repo:tag` (HEAD manifest), `None` on 404.
async fn registry_digest(
    registry: &str,
    repo: &str,
    tag: &str,
    login: Option<(&str, &str)>,
) -> Option<String> {
    shipdeck::ensure_crypto_provider();
    let mut req = reqwest::Client::new()
        .head(format!("http://{registry}/v2/{repo}/manifests/{tag}"))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
        )
        .timeout(Duration::from_secs(10));
    if let Some((u, p)) = login {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.expect("registry answers");
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    assert!(
        resp.status().is_success(),
        "HEAD manifest: {}",
        resp.status()
    );
    resp.headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn http_get(addr: &str, port: u16, path: &str) -> (u16, String) {
    shipdeck::ensure_crypto_provider();
    let r = reqwest::Client::new()
        .get(format!("http://{addr}:{port}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("GET");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// (Config.Image, digest label) of `name` on host `n`.
async fn running(n: usize, name: &str) -> (String, String, bool) {
    let c = docker(n)
        .await
        .inspect_container(name, None)
        .await
        .unwrap_or_else(|e| panic!("{name} on h{n:02}: {e}"));
    let cfg = c.config.unwrap_or_default();
    let labels = cfg.labels.unwrap_or_default();
    (
        cfg.image.unwrap_or_default(),
        labels.get("shipdeck.digest").cloned().unwrap_or_default(),
        c.state.and_then(|s| s.running).unwrap_or(false),
    )
}

/// `SHA-YYYYMMDDTHHMMSSZ`, or `SHA-dirty-…` when `dirty`.
fn is_git_version(v: &str, dirty: bool) -> bool {
    let Some((sha, ts)) = v.split_once('-') else {
        return false;
    };
    let ts = match (dirty, ts.strip_prefix("dirty-")) {
        (true, Some(rest)) => rest,
        (false, None) => ts,
        _ => return false,
    };
    sha.len() >= 7
        && sha.chars().all(|c| c.is_ascii_hexdigit())
        && ts.len() == 16
        && ts.ends_with('Z')
        && ts.as_bytes()[8] == b'T'
}

/// Build → push → tags → deploy to dev → promote to test: one digest, two ENVTs.
/// A gated environment refuses a direct deploy; a degraded source refuses promotion.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn build_push_tags_deploy_and_promote_one_digest() {
    let (p, port) = ("it-build-a", 18201);
    let repo = "it/build-a";
    let image = format!("{REGISTRY}/{repo}");
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let ctx = sample(tmp.path());
    git(&ctx, &["init", "-q"]);
    git(&ctx, &["add", "-A"]);
    git(&ctx, &["commit", "-q", "-m", "sample"]);
    let cfg = config(
        tmp.path(),
        p,
        &image,
        PLAIN_REGISTRY,
        &hello_build(&ctx, port),
        port,
        &[
            ("dev", &[2], None),
            ("test", &[3, 4], Some("dev")),
            ("staging", &[5], Some("test")),
        ],
    );
    for (e, hs) in [("dev", &[2][..]), ("test", &[3, 4]), ("staging", &[5])] {
        clean(p, e, hs).await;
    }

    // The Dockerfile the build uses.
    let out = shipdeck(&["template", p], &cfg, &state);
    let df = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(df.contains(&format!("FROM {BASE_IMAGE}")), "{df}");
    assert!(df.contains("ENTRYPOINT [\"/app/server\"]"), "{df}");

    // Build and push; the version comes from git.
    let (code, ev, all) = json_run(&["build", p, "--push"], &cfg, &state);
    assert_eq!(code, 0, "{all}");
    let started = one(&ev, "started");
    let version = started["version"].as_str().expect("version").to_string();
    assert!(
        is_git_version(&version, false),
        "git sha + UTC timestamp: {version}"
    );
    assert!(
        !events_named(&ev, "step").is_empty(),
        "steps streamed: {all}"
    );
    // .git, README.md, app/www/debug.log and app/www/private.
    assert_eq!(
        started["ignored"], 4,
        "left out by .dockerignore: {started}"
    );
    let digest = one(&ev, "pushed")["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(one(&ev, "finished")["outcome"], "succeeded");
    assert_eq!(
        registry_digest(REGISTRY, repo, &version, None)
            .await
            .as_deref(),
        Some(digest.as_str()),
        "the registry holds the pushed digest"
    );
    // The whole log is kept; the journal has the digest.
    let log = state.join(format!("shipdeck/builds/{p}/{version}.log"));
    let log_text = std::fs::read_to_string(&log).expect("build log");
    assert!(
        log_text.contains("Step 1/") && log_text.contains(&digest),
        "{log_text}"
    );
    let journal = std::fs::read_to_string(state.join("shipdeck/journal.jsonl")).expect("journal");
    let built: Vec<serde_json::Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|r: &serde_json::Value| r["kind"] == "built")
        .collect();
    assert_eq!(built.len(), 1, "{journal}");
    assert_eq!(built[0]["version"], version.as_str());
    assert_eq!(built[0]["digest"], digest.as_str());
    assert_eq!(built[0]["pushed"], true);

    // `tags` lists it with the same digest.
    let out = shipdeck(&["tags", p, "--json"], &cfg, &state);
    assert!(out.status.success(), "{out:?}");
    let tags: serde_json::Value = serde_json::from_slice(&out.stdout).expect("tags json");
    let listed = tags
        .as_array()
        .expect("array")
        .iter()
        .find(|t| t["tag"] == version.as_str())
        .unwrap_or_else(|| panic!("{version} not in {tags}"));
    assert_eq!(listed["digest"], digest.as_str());

    // Uncommitted changes in the context show in the version (built, not pushed).
    std::fs::write(ctx.join("app/www/draft.txt"), "not committed\n").expect("write");
    let (code, ev, all) = json_run(&["build", p], &cfg, &state);
    assert_eq!(code, 0, "{all}");
    let dirty = one(&ev, "started")["version"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(is_git_version(&dirty, true), "-dirty version: {dirty}");
    std::fs::remove_file(ctx.join("app/www/draft.txt")).expect("rm");

    // test takes only promotions from dev: a direct deploy is refused.
    let (code, _, all) = json_run(&["deploy", p, "test", &version, "--yes"], &cfg, &state);
    assert_eq!(code, 2, "{all}");
    assert!(
        all.contains("requires promotion from \\\"dev\\\"")
            || all.contains("requires promotion from \"dev\""),
        "{all}"
    );
    assert!(
        on_host(3, p, "test").await.is_empty(),
        "nothing deployed to test"
    );

    let (code, _, all) = json_run(&["deploy", p, "dev", &version, "--yes"], &cfg, &state);
    assert_eq!(code, 0, "{all}");
    let (code, ev, all) = json_run(&["promote", p, "dev", "test", "--yes"], &cfg, &state);
    assert_eq!(code, 0, "{all}");
    assert_eq!(one(&ev, "promotion")["digest"], digest.as_str());
    assert_eq!(one(&ev, "finished")["outcome"], "succeeded", "{all}");

    // One digest, two environments told apart only by ENVT.
    let (_, dev_digest, up) = running(2, &format!("{p}.dev")).await;
    assert!(up);
    assert_eq!(dev_digest, digest);
    for n in [3, 4] {
        let (img, d, up) = running(n, &format!("{p}.test")).await;
        assert!(up, "h0{n}");
        assert_eq!(d, digest, "h0{n}");
        assert_eq!(
            img,
            format!("{image}@{digest}"),
            "promotion pulls by digest"
        );
    }
    let (code, body) = http_get(&host_addr(2), port, "/").await;
    assert_eq!(code, 200);
    assert!(
        body.contains(&format!("version={version} ENVT=dev PROJ={p}")),
        "{body}"
    );
    for n in [3, 4] {
        let (code, body) = http_get(&host_addr(n), port, "/").await;
        assert_eq!(code, 200);
        assert!(
            body.contains(&format!("version={version} ENVT=test PROJ={p}")),
            "{body}"
        );
    }
    // .dockerignore kept these out of the image; the rest is there.
    assert_eq!(http_get(&host_addr(2), port, "/about.txt").await.0, 200);
    assert_eq!(http_get(&host_addr(2), port, "/debug.log").await.0, 404);
    assert_eq!(
        http_get(&host_addr(2), port, "/private/token.txt").await.0,
        404
    );

    // staging takes only what runs healthy in test: another version is refused
    // (test runs VERSION), and so is a rollback to a version staging never ran.
    let (code, _, all) = json_run(
        &["deploy", p, "staging", "v-not-in-test", "--yes"],
        &cfg,
        &state,
    );
    assert_eq!(code, 2, "{all}");
    assert!(all.contains(&format!("test runs {version}")), "{all}");
    let (code, _, all) = json_run(
        &["rollback", p, "staging", "--to", &version, "--yes"],
        &cfg,
        &state,
    );
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("never ran here"), "{all}");
    assert!(
        on_host(5, p, "staging").await.is_empty(),
        "nothing deployed"
    );
    // A direct deploy of what runs in test is a promotion: pinned to its digest.
    let (code, _, all) = json_run(&["deploy", p, "staging", &version, "--yes"], &cfg, &state);
    assert_eq!(code, 0, "{all}");
    let (img, d, up) = running(5, &format!("{p}.staging")).await;
    assert!(up);
    assert_eq!((img, d), (format!("{image}@{digest}"), digest.clone()));
    let staging_id = on_host(5, p, "staging").await[0].id.clone();

    // A source with a stopped host is not promotable; nothing changes.
    docker(4)
        .await
        .stop_container(&format!("{p}.test"), None::<StopContainerOptions>)
        .await
        .expect("stop");
    let (code, _, all) = json_run(&["promote", p, "test", "staging", "--yes"], &cfg, &state);
    assert_eq!(code, 2, "{all}");
    assert!(
        all.contains("not promotable") && all.contains("h04"),
        "{all}"
    );
    assert_eq!(
        on_host(5, p, "staging").await[0].id,
        staging_id,
        "staging untouched"
    );
    // And a promotion that skips the required source is refused up front.
    let (code, _, all) = json_run(&["promote", p, "dev", "staging", "--yes"], &cfg, &state);
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("promote it-build-a test staging"), "{all}");

    for (e, hs) in [("dev", &[2][..]), ("test", &[3, 4]), ("staging", &[5])] {
        clean(p, e, hs).await;
    }
}

/// Layers of an image on h01, oldest first.
async fn layers(image: &str) -> Vec<String> {
    docker(1)
        .await
        .inspect_image(image)
        .await
        .unwrap_or_else(|e| panic!("inspect {image}: {e}"))
        .root_fs
        .and_then(|r| r.layers)
        .unwrap_or_default()
}

/// Whether the build step whose instruction starts with `instr` used the cache.
fn step_cached(events: &[serde_json::Value], instr: &str) -> bool {
    let at = events
        .iter()
        .position(|e| {
            e["event"] == "step"
                && e["instruction"]
                    .as_str()
                    .is_some_and(|i| i.starts_with(instr))
        })
        .unwrap_or_else(|| panic!("no step {instr}"));
    events[at + 1..]
        .iter()
        .take_while(|e| e["event"] == "output")
        .any(|e| {
            e["line"]
                .as_str()
                .is_some_and(|l| l.contains("Using cache"))
        })
}

/// A second build with one app file changed: every base layer comes from the
/// cache (the engine's layer list says so), the app layers are new, and so is
/// the digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_build_reuses_base_layers_and_gets_a_new_digest() {
    let p = "it-build-b";
    let repo = "it/build-b";
    let image = format!("{REGISTRY}/{repo}");
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let ctx = sample(tmp.path());
    let cfg = config(
        tmp.path(),
        p,
        &image,
        PLAIN_REGISTRY,
        &hello_build(&ctx, 18202),
        18202,
        &[("dev", &[2], None)],
    );
    let tag1 = unique("b1");
    let tag2 = unique("b2");
    let tag3 = unique("b3");
    let (code, ev1, all) = json_run(&["build", p, "--version", &tag1, "--push"], &cfg, &state);
    assert_eq!(code, 0, "{all}");
    // Unique content: the engine's cache outlives test runs.
    let changed = format!(
        "changed app file {}\n",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    std::fs::write(ctx.join("app/www/about.txt"), changed).expect("write");
    let (code, ev2, all) = json_run(&["build", p, "--version", &tag2, "--push"], &cfg, &state);
    assert_eq!(code, 0, "{all}");
    let d1 = one(&ev1, "pushed")["digest"]
        .as_str()
        .expect("d1")
        .to_string();
    let d2 = one(&ev2, "pushed")["digest"]
        .as_str()
        .expect("d2")
        .to_string();
    assert_ne!(d1, d2, "a new digest");

    let base = layers(BASE_IMAGE).await;
    let l1 = layers(&format!("{image}:{tag1}")).await;
    let l2 = layers(&format!("{image}:{tag2}")).await;
    assert!(!base.is_empty());
    // The base image's layers and the template's base layer (RUN mkdir) are
    // the same layers in both images; what comes after the cache bust is not.
    let shared = base.len() + 1;
    assert!(l1.len() > shared && l2.len() > shared, "{l1:?} {l2:?}");
    assert_eq!(l1[..base.len()], base[..], "built on the base image");
    assert_eq!(l1[..shared], l2[..shared], "base layers reused");
    assert_ne!(l1[shared..], l2[shared..], "app layers rebuilt");
    // The builder said so too: base step cached, app steps not.
    assert!(step_cached(&ev2, "RUN mkdir"), "base layer from the cache");
    assert!(
        !step_cached(&ev2, "COPY app/"),
        "changed app file copied again"
    );
    assert!(
        !step_cached(&ev2, "RUN printf"),
        "cache bust rebuilds the app layer"
    );

    // Control: nothing changed. The COPY comes from the cache (its files are
    // the same); the RUN after the cache-bust ARG is rebuilt all the same.
    let (code, ev3, all) = json_run(&["build", p, "--version", &tag3], &cfg, &state);
    assert_eq!(code, 0, "{all}");
    assert!(step_cached(&ev3, "RUN mkdir"), "base layer from the cache");
    assert!(
        step_cached(&ev3, "COPY app/"),
        "unchanged files: COPY cached"
    );
    assert!(!step_cached(&ev3, "RUN printf"), "cache bust: rebuilt");
    let l3 = layers(&format!("{image}:{tag3}")).await;
    assert_eq!(
        l3[..shared + 1],
        l2[..shared + 1],
        "same COPY layer as build 2"
    );
    assert_ne!(l3.last(), l2.last(), "a new application layer");
}

/// A Dockerfile that fails: exit 1, the failing step and its output shown,
/// nothing pushed, journaled as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_dockerfile_fails_at_its_step_and_pushes_nothing() {
    let p = "it-build-c";
    let repo = "it/build-c";
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let build = format!(
        "context = \"{}\"\ndockerfile = \"Dockerfile\"",
        repo_root().join("tests/fixtures/build/broken").display()
    );
    let cfg = config(
        tmp.path(),
        p,
        &format!("{REGISTRY}/{repo}"),
        PLAIN_REGISTRY,
        &build,
        18203,
        &[("dev", &[2], None)],
    );
    let tag = unique("c");
    let (code, ev, all) = json_run(&["build", p, "--version", &tag, "--push"], &cfg, &state);
    assert_eq!(code, 1, "{all}");
    let failed = one(&ev, "failed");
    assert_eq!(failed["stage"], "build");
    let step = failed["step"].as_str().expect("step");
    assert!(
        step.starts_with("3/") && step.contains("about to fail"),
        "{step}"
    );
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("non-zero code")),
        "{failed}"
    );
    let output = failed["output"].to_string();
    assert!(
        output.contains("about to fail: missing-dependency"),
        "{output}"
    );
    assert!(output.contains("/no/such/dir"), "{output}");
    assert!(
        events_named(&ev, "push_started").is_empty(),
        "no push after a failed build"
    );
    assert_eq!(
        registry_digest(REGISTRY, repo, &tag, None).await,
        None,
        "nothing pushed"
    );

    // Human output says the same, and the exit code is non-zero.
    let out = shipdeck(&["build", p, "--version", &tag, "--push"], &cfg, &state);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("build failed at step 3/"), "{stdout}");
    assert!(
        stdout.contains("  | about to fail: missing-dependency"),
        "{stdout}"
    );
    assert!(
        stderr.contains("error: build of it-build-c") && stderr.contains("failed at step 3/"),
        "{stderr}"
    );
    // Failed builds are journaled too, as failed and not pushed.
    let journal = std::fs::read_to_string(state.join("shipdeck/journal.jsonl")).unwrap_or_default();
    let records: Vec<serde_json::Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(records.len(), 2, "{journal}");
    for r in &records {
        assert_eq!(r["kind"], "built");
        assert_eq!(r["outcome"], "failed");
        assert_eq!(r["pushed"], false);
        assert!(r["digest"].is_null());
        assert!(
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains("non-zero code")),
            "{r}"
        );
    }
}

/// Standard base64 (how a Basic header or X-Registry-Auth would carry a login).
fn base64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Every run of 16+ base64/base64url characters in `text`, decoded (lossy).
fn base64_tokens(text: &str) -> Vec<String> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::new();
    for token in text.split(|c: char| value(c as u8).is_none() || !c.is_ascii()) {
        if token.len() < 16 {
            continue;
        }
        // Try every alignment: the token may start mid-way.
        for skip in 0..4 {
            let mut bytes = Vec::new();
            let (mut acc, mut bits) = (0u32, 0u32);
            for c in token.bytes().skip(skip) {
                let Some(v) = value(c) else { break };
                acc = (acc << 6) | v;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    bytes.push((acc >> bits) as u8);
                    acc &= (1 << bits) - 1;
                }
            }
            out.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    out
}

/// Every file under `dir`, read as text (lossy).
fn all_files(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p, String::from_utf8_lossy(&b).into_owned()));
        }
    }
}

/// The htpasswd registry: the right login pushes and lists; a wrong one gets
/// a clear 401 message; neither password shows up in any output, log or journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_login_pushes_lists_and_never_leaks_the_secret() {
    let p = "it-build-d";
    let repo = "it/build-d";
    let image = format!("{AUTH_REGISTRY}/{repo}");
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let ctx = sample(tmp.path());
    let pw_file = sandbox_dir().join("registry-auth/password");
    let password = std::fs::read_to_string(&pw_file)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/sandbox up", pw_file.display()));
    let password = password.trim().to_string();
    assert!(password.len() >= 16, "the sandbox password is a real one");
    let wrong = format!("wrong-{}-Pw9", std::process::id());
    let wrong_file = tmp.path().join("wrong-password");
    std::fs::write(&wrong_file, &wrong).expect("write");

    let good_dir = tmp.path().join("good");
    let bad_dir = tmp.path().join("bad");
    std::fs::create_dir_all(&good_dir).expect("mkdir");
    std::fs::create_dir_all(&bad_dir).expect("mkdir");
    let reg = |file: &Path| {
        format!(
            "url = \"http://{AUTH_REGISTRY}\"\nusername = \"shipdeck\"\npassword = \"file:{}\"",
            file.display()
        )
    };
    let build = hello_build(&ctx, 18204);
    let good = config(
        &good_dir,
        p,
        &image,
        &reg(&pw_file),
        &build,
        18204,
        &[("dev", &[2], None)],
    );
    let bad = config(
        &bad_dir,
        p,
        &image,
        &reg(&wrong_file),
        &build,
        18204,
        &[("dev", &[2], None)],
    );
    let tag = unique("d");
    let mut outputs = String::new();
    // The decoder below finds a login wherever it sits in a token.
    let probe = base64("{\"username\":\"shipdeck\",\"password\":\"probe-secret-42\"}");
    assert!(
        base64_tokens(&format!("X-Registry-Auth: {probe}"))
            .iter()
            .any(|d| d.contains("probe-secret-42"))
    );

    // Right credentials: push, and list. Logged at trace level: bollard and
    // reqwest log requests there, and the secret must not be among them.
    let (code, ev, all) = json_run_logged(
        &["build", p, "--version", &tag, "--push"],
        &good,
        &state,
        "trace",
    );
    outputs.push_str(&all);
    assert_eq!(code, 0, "{all}");
    let digest = one(&ev, "pushed")["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    assert_eq!(
        registry_digest(AUTH_REGISTRY, repo, &tag, Some(("shipdeck", &password)))
            .await
            .as_deref(),
        Some(digest.as_str())
    );
    let out = shipdeck(&["tags", p, "--json"], &good, &state);
    outputs.push_str(&String::from_utf8_lossy(&out.stdout));
    outputs.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&digest));
    let out = shipdeck(&["tags", p], &good, &state);
    outputs.push_str(&String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success());
    // A release tag is not moved silently: the same tag again is refused
    // before anything is built.
    let (code, ev, all) = json_run(&["build", p, "--version", &tag, "--push"], &good, &state);
    outputs.push_str(&all);
    assert_eq!(code, 2, "{all}");
    assert!(
        all.contains("already in the registry") && all.contains("--force"),
        "{all}"
    );
    assert!(
        events_named(&ev, "started").is_empty(),
        "nothing built: {all}"
    );

    // Wrong credentials: the push and the listing are refused, clearly.
    let tag2 = unique("d2");
    let (code, _, all) = json_run_logged(
        &["build", p, "--version", &tag2, "--push"],
        &bad,
        &state,
        "trace",
    );
    outputs.push_str(&all);
    assert_eq!(code, 1, "{all}");
    assert!(
        all.contains("push of")
            && all.contains("401 Unauthorized")
            && all.contains("refused the login")
            && all.contains(&format!("password file:{}", wrong_file.display())),
        "{all}"
    );
    assert_eq!(
        registry_digest(AUTH_REGISTRY, repo, &tag2, Some(("shipdeck", &password))).await,
        None,
        "nothing pushed with a wrong password"
    );
    let out = shipdeck(&["tags", p], &bad, &state);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    outputs.push_str(&stderr);
    outputs.push_str(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("401") && stderr.contains(AUTH_REGISTRY) && stderr.contains("shipdeck"),
        "{stderr}"
    );

    // The secret (and the wrong one) appears nowhere: outputs, logs, journal.
    let mut files = Vec::new();
    all_files(&state, &mut files);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("journal.jsonl")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "log")),
        "build logs"
    );
    assert!(
        files
            .iter()
            .any(|(p, t)| p.ends_with("shipdeck.log") && t.contains("TRACE")),
        "the trace-level log was written"
    );
    let basic = [
        base64(&format!("shipdeck:{password}")),
        base64(&format!("shipdeck:{wrong}")),
    ];
    // Logins travel base64-encoded (Basic headers, X-Registry-Auth JSON in
    // base64url): decode every base64-looking token and look inside too.
    for text in files
        .iter()
        .map(|(_, t)| t.as_str())
        .chain(std::iter::once(outputs.as_str()))
    {
        for decoded in base64_tokens(text) {
            for secret in [&password, &wrong] {
                assert!(
                    !decoded.contains(secret.as_str()),
                    "a password is in a base64 token"
                );
            }
        }
    }
    for secret in [&password, &wrong, &basic[0], &basic[1]] {
        assert!(!outputs.contains(secret.as_str()), "a password was printed");
        for (path, text) in &files {
            assert!(
                !text.contains(secret.as_str()),
                "a password is in {}",
                path.display()
            );
        }
    }
}

/// Template errors name the variable and the template file (and line).
#[test]
fn template_errors_name_the_variable_and_the_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let ctx = sample(tmp.path());
    let tpl = templates_dir().join("static-binary.Dockerfile");
    let cases = [
        // BINARY missing.
        (
            format!(
                "context = \"{}\"\ntemplate = \"static-binary\"\nvars = {{ BASE_IMAGE = \"x\", APP_DIR = \"app\", PORT = \"80\" }}",
                ctx.display()
            ),
            vec![
                "{{ BINARY }}".to_string(),
                format!("{}:", tpl.display()),
                "it-tpl".into(),
            ],
        ),
        // A var the template does not use (a typo).
        (
            format!(
                "context = \"{}\"\ntemplate = \"static-binary\"\nvars = {{ BASE_IMAGE = \"x\", APP_DIR = \"app\", BINARY = \"s\", PORT = \"80\", BINRY = \"s\" }}",
                ctx.display()
            ),
            vec![
                "vars.BINRY".to_string(),
                tpl.display().to_string(),
                "does not use".into(),
            ],
        ),
    ];
    for (build, wants) in cases {
        let cfg = config(
            tmp.path(),
            "it-tpl",
            &format!("{REGISTRY}/it/tpl"),
            PLAIN_REGISTRY,
            &build,
            18205,
            &[("dev", &[2], None)],
        );
        for args in [
            &["template", "it-tpl"][..],
            &["build", "it-tpl", "--version", "x1"],
        ] {
            let out = shipdeck(args, &cfg, &state);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            for w in &wants {
                assert!(
                    stderr.contains(w.as_str()),
                    "{args:?}: want {w:?} in {stderr}"
                );
            }
        }
    }
    // An unknown template name is a config error at its key, listing the templates.
    let cfg = config(
        tmp.path(),
        "it-tpl",
        &format!("{REGISTRY}/it/tpl"),
        PLAIN_REGISTRY,
        &format!(
            "context = \"{}\"\ntemplate = \"static-binry\"",
            ctx.display()
        ),
        18205,
        &[("dev", &[2], None)],
    );
    let out = shipdeck(&["template", "it-tpl"], &cfg, &state);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("template file")
            && stderr.contains("static-binry.Dockerfile does not exist")
            && stderr.contains("template = \"static-binry\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean \"static-binary\""),
        "{stderr}"
    );
    // Sources are checked when a build needs them, not when the inventory
    // loads: a machine that only deploys has no checkout.
    let cfg = config(
        tmp.path(),
        "it-tpl",
        &format!("{REGISTRY}/it/tpl"),
        PLAIN_REGISTRY,
        "context = \"/nonexistent/checkout\"\ntemplate = \"static-binary\"",
        18205,
        &[("dev", &[2], None)],
    );
    let out = shipdeck(&["check"], &cfg, &state);
    assert!(out.status.success(), "{out:?}");
    let out = shipdeck(&["build", "it-tpl", "--version", "x1"], &cfg, &state);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("build context /nonexistent/checkout does not exist"),
        "{stderr}"
    );
}

/// `shipdeck ship P ENV`: one command builds, pushes and deploys what it
/// pushed (by digest); a protected environment without `--yes` is refused
/// before anything is built.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_builds_pushes_and_deploys_the_pushed_digest() {
    let p = "it-ship";
    let repo = "it/ship";
    let image = format!("{REGISTRY}/{repo}");
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let ctx = sample(tmp.path());
    let port = 18210;
    clean(p, "dev", &[3]).await;
    let cfg = config(
        tmp.path(),
        p,
        &image,
        PLAIN_REGISTRY,
        &hello_build(&ctx, port),
        port,
        &[("dev", &[3], None)],
    );
    let tag = unique("ship");
    let (code, events, all) = json_run(&["ship", p, "dev", "--version", &tag], &cfg, &state);
    assert_eq!(code, 0, "{all}");
    let pushed = registry_digest(REGISTRY, repo, &tag, None)
        .await
        .expect("the tag was pushed");
    let pulled = one(&events, "pulls_done")["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    assert_eq!(pulled, pushed, "the deploy runs exactly what was pushed");
    let run = host_run(3, p, "dev").await;
    assert_eq!(run.running.len(), 1, "{:?}", run.all);
    assert_eq!(run.running[0].1, tag);

    // Protected: refused before the build, nothing pushed.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("name = \"dev\"\n", "name = \"dev\"\nconfirm = true\n"),
    )
    .unwrap();
    let tag2 = unique("ship-no");
    let (code, _, all) = json_run(&["ship", p, "dev", "--version", &tag2], &cfg, &state);
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("requires typed confirmation"), "{all}");
    assert!(registry_digest(REGISTRY, repo, &tag2, None).await.is_none());
    clean(p, "dev", &[3]).await;
}
