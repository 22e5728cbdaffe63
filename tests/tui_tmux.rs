//! The console end to end, the way a person uses it: run `shipdeck` in tmux
//! against the sandbox fleet, type keys, read the screen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::tmux::{Tmux, line_of};
use common::*;

const PROJECT: &str = "it-tmux";
const PORT: u16 = 18083;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_navigates_to_an_environment_and_shows_hosts_and_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        PROJECT,
        &[("dev", &[4, 5]), ("prod", &[2])],
        PORT,
    );
    let (h2, h4, h5) = (docker(2).await, docker(4).await, docker(5).await);
    for d in [&h2, &h4, &h5] {
        remove_project(d, PROJECT).await;
    }
    run_labelled(&h4, "it-tmux.dev", "v1", PROJECT, "dev", PORT).await;
    run_labelled(&h5, "it-tmux.dev", "v2", PROJECT, "dev", PORT).await;

    let tui = Tmux::start(&config, tmp.path(), "fleet");
    tui.wait_for(&["projects", PROJECT], Duration::from_secs(10));

    // projects → environments → dev (first row) → hosts
    tui.keys(&["Enter"]);
    tui.wait_for(&["environments", "dev", "prod"], Duration::from_secs(5));
    tui.keys(&["Enter"]);
    let screen = tui.wait_for(
        &["dev › hosts", "h04", "h05", "healthy"],
        Duration::from_secs(20),
    );
    let screen = if line_of(&screen, "h05").contains("healthy")
        && line_of(&screen, "h04").contains("healthy")
    {
        screen
    } else {
        // Health needs a couple of check intervals after start.
        let start = Instant::now();
        loop {
            let s = tui.screen();
            if line_of(&s, "h04").contains("healthy") && line_of(&s, "h05").contains("healthy") {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "never healthy:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert!(line_of(&screen, "h04").contains("v1"), "{screen}");
    assert!(line_of(&screen, "h04").contains("running"), "{screen}");
    assert!(line_of(&screen, "h05").contains("v2"), "{screen}");

    // A change on a host shows up live: stop h04's container.
    h4.stop_container(
        "it-tmux.dev",
        None::<bollard::query_parameters::StopContainerOptions>,
    )
    .await
    .unwrap();
    let start = Instant::now();
    loop {
        let s = tui.screen();
        if line_of(&s, "h04").contains("exited") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "stop not shown:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The palette jumps straight to another environment.
    tui.keys(&[":", "env prod", "Enter"]);
    let s = tui.wait_for(&["prod › hosts", "h02"], Duration::from_secs(5));
    assert!(line_of(&s, "h02").contains("no serving container"), "{s}");

    // Help, then quit.
    tui.keys(&["?"]);
    tui.wait_for(&["help", "command palette"], Duration::from_secs(5));
    tui.keys(&["Escape"]);
    tui.keys(&["q"]);
    let start = Instant::now();
    while tui.alive() {
        assert!(start.elapsed() < Duration::from_secs(5), "q did not quit");
        std::thread::sleep(Duration::from_millis(100));
    }

    for d in [&h2, &h4, &h5] {
        remove_project(d, PROJECT).await;
    }
}

/// From the projects list: `d` shows the rendered Dockerfile, `b` builds and
/// pushes with the output streaming in, `t` lists the new tag from the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_previews_builds_and_lists_tags() {
    let project = "it-tui-build";
    let tmp = tempfile::tempdir().unwrap();
    let ctx = repo_root().join("tests/fixtures/build/hello");
    let config = format!(
        "[settings]\ntemplates = \"{templates}\"\n\n[[environments]]\nname = \"dev\"\n\n{hosts}\
         [[registries]]\nname = \"sandbox\"\nurl = \"http://{REGISTRY}\"\n\n\
         [[projects]]\nname = \"{project}\"\nimage = \"{REGISTRY}/it/tui-build\"\nregistry = \"sandbox\"\n\
         [projects.build]\ncontext = \"{ctx}\"\nhost = \"h01\"\ntemplate = \"static-binary\"\n\
         vars = {{ BASE_IMAGE = \"{REGISTRY}/sdk/busybox:base\", APP_DIR = \"app\", BINARY = \"server\", PORT = \"18209\" }}\n\
         [projects.hosts]\n{dev}",
        templates = repo_root().join("config/templates").display(),
        hosts = hosts_toml(&[1, 2]),
        ctx = ctx.display(),
        dev = env_hosts_line("dev", &[2]),
    );
    let path = tmp.path().join("shipdeck.toml");
    std::fs::write(&path, config).unwrap();

    let tui = Tmux::start(&path, tmp.path(), "build");
    tui.wait_for(&["projects", project], Duration::from_secs(10));
    tui.keys(&["d"]);
    tui.wait_for(
        &[
            "dockerfile (template static-binary",
            "FROM 10.213.0.1:5000/sdk/busybox:base",
        ],
        Duration::from_secs(10),
    );
    // `b` asks for the version first (enter: the git-sha default).
    tui.keys(&["b"]);
    tui.wait_for(
        &["the version to tag and push", "git short sha"],
        Duration::from_secs(5),
    );
    tui.keys(&["Enter"]);
    let s = tui.wait_for(
        &["build: succeeded", "· pushed sha256:"],
        Duration::from_secs(120),
    );
    // The pane followed the output; its top has the first step.
    tui.keys(&["g"]);
    tui.wait_for(
        &["Step 1/", "FROM 10.213.0.1:5000/sdk/busybox:base"],
        Duration::from_secs(5),
    );
    // The title names the version: `… › build VERSION · pushed …`.
    let version = s
        .lines()
        .filter(|l| l.contains("· pushed"))
        .find_map(|l| l.split(" › build ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no version in the title:\n{s}"))
        .to_string();
    tui.keys(&["t"]);
    let s = tui.wait_for(&["tags (", "RUNNING IN", &version], Duration::from_secs(20));
    assert!(
        s.lines().any(|l| l.contains(&version) && l.contains("MiB")),
        "{s}"
    );
    tui.keys(&["q"]);
    let start = Instant::now();
    while tui.alive() {
        assert!(start.elapsed() < Duration::from_secs(5), "q did not quit");
        std::thread::sleep(Duration::from_millis(100));
    }
}
