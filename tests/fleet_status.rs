//! `shipdeck status --json` against the real sandbox fleet: containers started
//! out-of-band with shipdeck labels show with version and health; a stopped one
//! is reported as such. Needs `scripts/sandbox up`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use bollard::query_parameters::StopContainerOptions;
use common::*;
use serde_json::Value;

const PROJECT: &str = "it-status";
const PORT: u16 = 18081;

fn status_json(config: &std::path::Path, state_dir: &std::path::Path) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .args(["status", "--json", "--config"])
        .arg(config)
        .env("XDG_STATE_HOME", state_dir)
        .output()
        .expect("run shipdeck");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "status --json printed no JSON ({e}): stdout={text} stderr={}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// The entry of `host` in `project`/`env` of a status document.
fn host_entry<'a>(v: &'a Value, env: &str, host: &str) -> Option<&'a Value> {
    v["projects"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == PROJECT)?["environments"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == env)?["hosts"]
        .as_array()?
        .iter()
        .find(|h| h["host"] == host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_labelled_containers_and_their_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        PROJECT,
        &[("dev", &[2, 3]), ("test", &[1])],
        PORT,
    );
    let (h1, h2, h3) = (docker(1).await, docker(2).await, docker(3).await);
    for d in [&h1, &h2, &h3] {
        remove_project(d, PROJECT).await;
    }

    let on_h2 = run_labelled(&h2, "it-status.dev", "v1", PROJECT, "dev", PORT).await;
    run_labelled(&h3, "it-status.dev", "v2", PROJECT, "dev", PORT).await;
    run_labelled(&h1, "it-status.test", "v1", PROJECT, "test", PORT).await;

    // The images have a 1 s HEALTHCHECK: all three turn healthy within seconds.
    let doc = eventually(Duration::from_secs(30), || async {
        let (code, v) = status_json(&config, tmp.path());
        let healthy = |env: &str, host: &str| {
            host_entry(&v, env, host).is_some_and(|h| h["container"]["health"] == "healthy")
        };
        (code == 0 && healthy("dev", "h02") && healthy("dev", "h03") && healthy("test", "h01"))
            .then_some(v)
    })
    .await
    .expect("all three containers healthy in status --json within 30 s");

    let h02 = host_entry(&doc, "dev", "h02").unwrap();
    assert_eq!(h02["reach"], "up");
    assert_eq!(h02["container"]["version"], "v1");
    assert_eq!(h02["container"]["state"], "running");
    assert_eq!(h02["container"]["name"], "it-status.dev");
    assert_eq!(
        host_entry(&doc, "dev", "h03").unwrap()["container"]["version"],
        "v2"
    );
    // h01 is read over its unix socket.
    assert_eq!(
        host_entry(&doc, "test", "h01").unwrap()["container"]["version"],
        "v1"
    );
    let dev = doc["projects"][0]["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "dev")
        .unwrap();
    assert_eq!(dev["verdict"], "mixed", "v1 and v2 both run in dev: {dev}");

    // Stop the h02 container: status must say so.
    h2.stop_container(
        &on_h2,
        Some(StopContainerOptions {
            t: Some(5),
            ..Default::default()
        }),
    )
    .await
    .expect("stop");
    let (_, v) = status_json(&config, tmp.path());
    let h02 = host_entry(&v, "dev", "h02").unwrap();
    assert_eq!(h02["container"]["state"], "exited", "{h02}");
    let dev = v["projects"][0]["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "dev")
        .unwrap();
    assert_eq!(dev["running"], 1);
    assert_eq!(dev["verdict"], "degraded");

    for d in [&h1, &h2, &h3] {
        remove_project(d, PROJECT).await;
    }
}

#[test]
fn status_of_unknown_project_fails_with_the_known_names() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), PROJECT, &[("dev", &[2])], PORT);
    let out = Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .args(["status", "nosuch", "--config"])
        .arg(&config)
        .env("XDG_STATE_HOME", tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"nosuch\"") && err.contains(PROJECT), "{err}");
}
