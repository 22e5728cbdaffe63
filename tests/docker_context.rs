//! Hosts named by a Docker CLI context, against the sandbox fleet: a
//! context store written into a temporary `DOCKER_CONFIG` the way
//! `docker context create` writes it, `shipdeck status` reading a host
//! through it, the refusals (an unknown context, SkipTLSVerify) located in
//! the inventory, a context's TLS material against the sandbox's
//! `--tlsverify` host h41 (started by `scripts/sandbox up` since the TLS
//! hosts came in), and the console without an inventory opening on the
//! store's current context.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::tmux::{Tmux, line_of};
use common::*;
use serde_json::Value;

/// Write context `name` into the store at `store`, as `docker context
/// create NAME --docker host=HOST` does (28.x): `contexts/meta/<sha256 of
/// the name>/meta.json`. The directory name is computed here, not by
/// shipdeck: `sha256sum` of the name.
fn write_context(store: &Path, name: &str, host: &str, skip_tls_verify: bool) {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(name.as_bytes())?;
            c.wait_with_output()
        })
        .expect("sha256sum (coreutils)");
    let hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(hex.len(), 64, "sha256sum said {hex:?}");
    let dir = store.join("contexts/meta").join(hex);
    std::fs::create_dir_all(&dir).unwrap();
    let meta = serde_json::json!({
        "Name": name,
        "Metadata": {},
        "Endpoints": { "docker": { "Host": host, "SkipTLSVerify": skip_tls_verify } },
    });
    std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
}

/// An inventory with one host `edge` given by `host_line` (`context = …`)
/// and `project` in `dev` on it.
fn inventory(dir: &Path, host_line: &str, project: &str) -> PathBuf {
    let text = format!(
        "[settings]\ndocker_timeout_secs = 3\n\n[[environments]]\nname = \"dev\"\n\n\
         [[hosts]]\nname = \"edge\"\n{host_line}\naddress = \"{addr}\"\n\n\
         [[projects]]\nname = \"{project}\"\nimage = \"{IMAGE}\"\n\
         [projects.hosts]\ndev = [\"edge\"]\n",
        addr = host_addr(2),
    );
    let path = dir.join("shipdeck.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `shipdeck ARGS --config CONFIG` with the Docker CLI's store in `store`
/// and nothing else of the Docker environment.
fn run(args: &[&str], config: &Path, store: &Path, state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("DOCKER_CONFIG", store)
        .env("XDG_STATE_HOME", state)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS")
        .env_remove("DOCKER_TLS_VERIFY")
        .output()
        .expect("run shipdeck")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_a_host_through_its_docker_context() {
    let project = unique("it-ctx-status");
    let h2 = docker(2).await;
    let _cleanup = CleanupProjects(2, vec![project.clone()]);
    run_labelled(&h2, &format!("{project}.dev"), "v2", &project, "dev", 18704).await;

    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("docker");
    write_context(&store, "sbx", &tcp_endpoint(2), false);
    let config = inventory(tmp.path(), "context = \"sbx\"", &project);

    let out = run(
        &["status", &project, "dev", "--json"],
        &config,
        &store,
        tmp.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let host = &doc["hosts"][0];
    assert_eq!(host["name"], "edge", "{doc}");
    assert_eq!(host["endpoint"], tcp_endpoint(2), "{doc}");
    let env = &doc["projects"][0]["environments"][0];
    let row = &env["hosts"][0];
    assert_eq!(row["host"], "edge", "{doc}");
    assert_eq!(row["reach"], "up", "{doc}");
    assert_eq!(row["serving"], "serving", "{doc}");
    assert_eq!(row["container"]["version"], "v2", "{doc}");
    assert_eq!(row["container"]["name"], format!("{project}.dev"), "{doc}");

    // The same inventory with another store: the context is what it read.
    let empty = tmp.path().join("empty-store");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(
        &["status", &project, "dev", "--json"],
        &config,
        &empty,
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no Docker context \"sbx\""), "{stderr}");
}

/// Put `ca`, `cert` and `key` (files of the sandbox's TLS material) into
/// context `name`'s TLS directory, as `docker context create NAME --docker
/// host=…,ca=…,cert=…,key=…` copies them: `contexts/tls/<sha256>/docker/`.
fn write_context_tls(store: &Path, name: &str, ca: &str, cert: &str, key: &str) {
    let meta = std::fs::read_dir(store.join("contexts/meta"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|d| {
            std::fs::read_to_string(d.join("meta.json"))
                .is_ok_and(|t| t.contains(&format!("\"Name\":\"{name}\"")))
        })
        .expect("the context's meta directory");
    let dir = store
        .join("contexts/tls")
        .join(meta.file_name().unwrap())
        .join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    let tls = sandbox_dir().join("tls");
    for (from, to) in [(ca, "ca.pem"), (cert, "cert.pem"), (key, "key.pem")] {
        std::fs::copy(tls.join(from), dir.join(to)).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (is the sandbox's TLS host h41 up?)",
                tls.join(from).display()
            )
        });
    }
}

/// A context with TLS material, against the sandbox's `dockerd --tlsverify`
/// host h41 (10.213.0.51:2376): status reads it with the context's CA and
/// client certificate; the same context with a CA that did not sign the
/// engine's certificate is refused. h41 is looked at through its unix socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_brings_its_tls_material() {
    let project = unique("it-ctx-tls");
    let socket = sandbox_dir().join("h41/docker.sock");
    let h41 = bollard::Docker::connect_with_unix(
        &socket.to_string_lossy(),
        10,
        bollard::API_DEFAULT_VERSION,
    )
    .expect("client");
    let h41 = tokio::time::timeout(Duration::from_secs(10), h41.negotiate_version())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| {
            panic!(
                "the sandbox's TLS host h41 ({}) does not answer",
                socket.display()
            )
        });
    remove_project(&h41, &project).await;
    run_labelled(
        &h41,
        &format!("{project}.dev"),
        "v1",
        &project,
        "dev",
        18706,
    )
    .await;

    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("docker");
    write_context(&store, "sbx-tls", "tcp://10.213.0.51:2376", false);
    write_context_tls(&store, "sbx-tls", "ca.pem", "client.pem", "client-key.pem");
    let config = inventory(tmp.path(), "context = \"sbx-tls\"", &project);
    let out = run(
        &["status", &project, "dev", "--json"],
        &config,
        &store,
        tmp.path(),
    );
    let result = || {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            doc["hosts"][0]["endpoint"], "tcp://10.213.0.51:2376 (tls)",
            "{doc}"
        );
        let row = &doc["projects"][0]["environments"][0]["hosts"][0];
        assert_eq!(row["reach"], "up", "{doc}");
        assert_eq!(row["container"]["version"], "v1", "{doc}");

        // Another CA in the context: the engine's certificate is refused.
        write_context_tls(
            &store,
            "sbx-tls",
            "other-ca.pem",
            "client.pem",
            "client-key.pem",
        );
        let out = run(&["status", &project, "dev"], &config, &store, tmp.path());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(3), "{text}");
        assert!(text.contains("not signed by the configured CA"), "{text}");
    };
    let outcome = std::panic::catch_unwind(result);
    remove_project(&h41, &project).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn an_unknown_or_unverified_context_is_a_located_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("docker");
    std::fs::create_dir_all(&store).unwrap();

    // Unknown: the name, the store looked in, and what to check.
    let config = inventory(tmp.path(), "context = \"nope\"", "web");
    let out = run(&["check"], &config, &store, tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let at = format!(
        "config error: {}:9:11: hosts[0].context = \"nope\": ",
        config.display()
    );
    assert!(stderr.starts_with(&at), "{stderr}\nwants {at}");
    assert!(stderr.contains("no Docker context \"nope\""), "{stderr}");
    let meta = store.join("contexts/meta");
    assert!(
        stderr.contains(&meta.display().to_string()),
        "names the store it looked in: {stderr}"
    );
    assert!(stderr.contains("docker context ls"), "{stderr}");

    // SkipTLSVerify: refused, never honoured.
    write_context(&store, "insecure", "tcp://10.213.0.12:2376", true);
    let config = inventory(tmp.path(), "context = \"insecure\"", "web");
    let out = run(&["check"], &config, &store, tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let at = format!(
        "config error: {}:9:11: hosts[0].context = \"insecure\": ",
        config.display()
    );
    assert!(stderr.starts_with(&at), "{stderr}");
    assert!(stderr.contains("SkipTLSVerify = true"), "{stderr}");
    assert!(stderr.contains("never skips"), "{stderr}");
    assert!(stderr.contains("\n  hint: "), "{stderr}");

    // Both an endpoint and a context.
    let config = inventory(
        tmp.path(),
        "endpoint = \"tcp://10.213.0.12:2375\"\ncontext = \"insecure\"",
        "web",
    );
    let out = run(&["check"], &config, &store, tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(":10:11: hosts[0].context = \"insecure\": both `endpoint`"),
        "{stderr}"
    );

    // A good context checks clean.
    write_context(&store, "fine", "tcp://10.213.0.12:2375", false);
    let config = inventory(tmp.path(), "context = \"fine\"", "web");
    let out = run(&["check"], &config, &store, tmp.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Without an inventory and without DOCKER_HOST, the console opens on the
/// store's current context (`docker context use sbx`), names its host
/// after it, and shows what runs there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_without_an_inventory_opens_on_the_current_context() {
    let project = short_unique("cc");
    let h2 = docker(2).await;
    let _cleanup = CleanupProjects(2, vec![project.clone()]);
    run_labelled(&h2, &format!("{project}.dev"), "v2", &project, "dev", 18705).await;

    let root = tempfile::tempdir().unwrap();
    let env = isolated_env(root.path());
    let store = PathBuf::from(&env.iter().find(|(k, _)| *k == "DOCKER_CONFIG").unwrap().1);
    write_context(&store, "sbx", &tcp_endpoint(2), false);
    std::fs::write(
        store.join("config.json"),
        "{\n\t\"auths\": {},\n\t\"currentContext\": \"sbx\"\n}",
    )
    .unwrap();
    let cwd = root.path().join("empty");
    std::fs::create_dir_all(&cwd).unwrap();
    let tui = Tmux::start_bare(&cwd, "curctx", &env);

    tui.wait_for(
        &[
            &format!(
                "read-only view of {} (current Docker context \"sbx\")",
                tcp_endpoint(2)
            ),
            "READ-ONLY (no inventory)",
        ],
        Duration::from_secs(20),
    );
    tui.keys(&["/"]);
    tui.type_text(&project);
    tui.keys(&["Enter"]);
    // The versions come with the engine's watcher, a moment after the first frame.
    let screen = tui.wait_for(
        &["projects (1)", &project, "engines 1/1 up", "dev v2"],
        Duration::from_secs(10),
    );
    assert!(line_of(&screen, &project).contains("dev v2"), "{screen}");
    tui.keys(&[":"]);
    tui.type_text(&format!("env {project}/dev"));
    tui.keys(&["Enter"]);
    let screen = tui.wait_for(&["dev › hosts"], Duration::from_secs(10));
    let row = screen
        .lines()
        .find(|l| l.starts_with('│') && l.contains(" v2 "))
        .unwrap_or("");
    assert!(
        row.contains("sbx"),
        "the host is named after the context:\n{screen}"
    );
    assert!(row.contains("running"), "{screen}");
    tui.quit();
}
