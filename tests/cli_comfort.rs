//! What a new user meets on the command line: README examples that run as
//! written (`history` without an inventory), `--theme` checked by every
//! command, a closed pipe that is not an error, and `plan` warning about a
//! held lock, a host that does not answer and a tag the registry lacks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};

use common::*;
use shipdeck::rollout::lock::{FleetLock, LockRequest};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shipdeck"))
}

#[test]
fn history_runs_without_an_inventory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["history", "demo"])
        .current_dir(tmp.path())
        .env("XDG_STATE_HOME", tmp.path().join("state"))
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env_remove("SHIPDECK_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("STARTED (UTC)") && text.contains("no releases of demo"),
        "{text}"
    );
}

#[test]
fn an_unknown_theme_is_refused_by_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "it-cli-theme", &[("prod", &[2])], 18340);
    for args in [
        vec!["status"],
        vec!["check"],
        vec!["plan", "it-cli-theme", "prod", "v1"],
        vec!["history", "it-cli-theme"],
    ] {
        let out = bin()
            .arg("--config")
            .arg(&config)
            .args(["--theme", "no-such-theme"])
            .args(&args)
            .env("XDG_STATE_HOME", tmp.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("no-such-theme"), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "it-cli-pipe", &[("prod", &[2, 3])], 18341);
    let mut child = bin()
        .arg("--config")
        .arg(&config)
        .args(["status", "--json"])
        .env("XDG_STATE_HOME", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away at once, like `| head -c0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.to_lowercase().contains("broken pipe"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_warns_about_a_held_lock_an_unreachable_host_and_a_missing_tag() {
    let (p, e) = ("it-cli-plan", "prod");
    let hosts = [4, 5];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let path = write_config(tmp.path(), p, &[(e, &hosts)], 18342);
    // The sandbox registry speaks plain HTTP: say so, as a user would.
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace(
            "[[projects]]",
            "[[registries]]\nname = \"sandbox\"\nurl = \"http://10.213.0.1:5000\"\n\n[[projects]]",
        )
        .replace(
            &format!("image = \"{IMAGE}\""),
            &format!("image = \"{IMAGE}\"\nregistry = \"sandbox\""),
        );
    std::fs::write(&path, text).unwrap();
    let plan = |config: &std::path::Path, v: &str| {
        let out = bin()
            .arg("--config")
            .arg(config)
            .args(["plan", p, e, v])
            .env("XDG_STATE_HOME", tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let quiet = plan(&path, "v1");
    assert!(!quiet.contains("warning:"), "{quiet}");
    let missing = plan(&path, "v-not-pushed");
    assert!(
        missing.contains("warning: the registry has no tag v-not-pushed"),
        "{missing}"
    );

    let cfg = shipdeck::config::load(&path).unwrap();
    let held = FleetLock::acquire(&cfg, p, e, LockRequest::new("r-other", "hotfix"))
        .await
        .unwrap();
    let locked = plan(&path, "v1");
    assert!(
        locked.contains("warning:") && locked.contains("is locked by"),
        "{locked}"
    );
    held.release().await.unwrap();

    let dark = tmp.path().join("dark.toml");
    std::fs::write(
        &dark,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace(&tcp_endpoint(5), "tcp://10.213.0.1:2399"),
    )
    .unwrap();
    let down = plan(&dark, "v1");
    assert!(
        down.contains("h05") && down.contains("do not answer"),
        "{down}"
    );
    clean(p, e, &hosts).await;
}

/// A protected environment shows the plan, then asks for its name (on a
/// terminal: `script` gives the command one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_deploy_shows_the_plan_before_it_asks() {
    let (p, e, port) = ("it-cli-confirm", "prod", 18343);
    let hosts = [6];
    clean(p, e, &hosts).await;
    let tmp = tempfile::tempdir().unwrap();
    let path = write_config(tmp.path(), p, &[(e, &hosts)], port);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("name = \"prod\"\n", "name = \"prod\"\nconfirm = true\n");
    std::fs::write(&path, text).unwrap();
    let deploy = |answer: &str| {
        let line = format!(
            "{} --config {} deploy {p} {e} v1",
            env!("CARGO_BIN_EXE_shipdeck"),
            path.display()
        );
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("XDG_STATE_HOME", tmp.path())
            .env("SHIPDECK_LOCK_TTL", "5")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{answer}").unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, out) = deploy("staging");
    assert_eq!(code, Some(2), "{out}");
    let plan_at = out.find("batches: [h06]").unwrap_or(usize::MAX);
    let ask_at = out.find("type the environment's name").unwrap_or(0);
    assert!(
        plan_at < ask_at,
        "the plan comes before the question: {out}"
    );
    assert!(out.contains("does not match"), "{out}");
    assert!(on_host(6, p, e).await.is_empty(), "nothing was deployed");
    let (code, out) = deploy("prod");
    assert_eq!(code, Some(0), "{out}");
    clean(p, e, &hosts).await;
}
