//! Secrets stay secret at every log level: a deploy (and a failing one, and
//! `status`, `history`, `check`) with `SHIPDECK_LOG=trace` and a canary
//! secret, then every byte shipdeck wrote — stdout, stderr, the state
//! directory with its journal and log file — is searched for it. The
//! container does get it (that is what a secret env var is for); nothing
//! else does. File modes of the state directory are checked too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;

fn run(args: &[&str], config: &Path, state: &Path, secret: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("XDG_STATE_HOME", state)
        .env("SHIPDECK_LOG", "trace")
        .env("SHIPDECK_IT_SECRET", secret)
        .env("SHIPDECK_LOCK_TTL", "5")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_reaches_output_journal_or_log_even_at_trace() {
    let (p, e, port) = ("it-secret-trace", "prod", 18330);
    let hosts = [2, 3];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let secret = format!("canary-{}", unique("s3cr3t"));
    let tables = format!(
        "[projects.health]\nhttp = \"/health\"\nport = {port}\ndocker = false\ninterval = \"200ms\"\nretries = 5\nstart_period = \"2s\"\n[projects.rollout]\nmax_unavailable = 1\n"
    );
    let config = write_config_with(tmp.path(), p, &[(e, &hosts)], port, &tables);
    // The secret: an env var of the container, from a reference.
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "[projects.container]\n",
        "[projects.container]\nsecret_env = { DB_PASS = \"env:SHIPDECK_IT_SECRET\" }\n",
    );
    std::fs::write(&config, text).unwrap();

    let state = tmp.path().join("state");
    let mut all_output = String::new();
    let (code, out) = run(&["check"], &config, &state, &secret);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning:") && out.contains("DB_PASS") && out.contains("without TLS"),
        "check warns about secrets over plain tcp: {out}"
    );
    all_output.push_str(&out);
    for args in [
        vec!["deploy", p, e, "v1", "--yes", "--json"],
        vec!["deploy", p, e, "v3-bad", "--yes"],
        vec!["deploy", p, e, "v2", "--yes", "-m", "with a note"],
        vec!["status", p, e, "--json"],
        vec!["history", p, "--json"],
    ] {
        let (_, out) = run(&args, &config, &state, &secret);
        all_output.push_str(&out);
    }
    // The container did get the secret: the search below is not vacuous.
    let c = docker(2)
        .await
        .inspect_container(&format!("{p}.{e}"), None)
        .await
        .unwrap();
    let env = c.config.and_then(|c| c.env).unwrap_or_default();
    assert!(env.contains(&format!("DB_PASS={secret}")), "{env:?}");

    assert!(!all_output.contains(&secret), "a secret in the output");
    let written = files(&state);
    let log = written
        .iter()
        .find(|(p, _)| p.ends_with("shipdeck.log"))
        .expect("a log file");
    assert!(
        String::from_utf8_lossy(&log.1).contains("TRACE")
            || String::from_utf8_lossy(&log.1).contains("DEBUG"),
        "the log is at trace level (the search is not vacuous)"
    );
    assert!(
        String::from_utf8_lossy(&log.1).contains("create container")
            || String::from_utf8_lossy(&log.1).contains("rollout"),
        "the log covers the rollout"
    );
    for (path, bytes) in &written {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(&secret),
            "the secret is in {}",
            path.display()
        );
    }

    // Modes: the state directory 0700, the journal and the log 0600.
    let dir = state.join("shipdeck");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    assert_eq!(mode(&dir.join("journal.jsonl")), 0o600);
    assert_eq!(mode(&dir.join("shipdeck.log")), 0o600);
    clean(p, e, &hosts).await;
}
