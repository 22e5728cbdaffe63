//! Shared helpers for tests that run against the sandbox fleet
//! (`scripts/sandbox up`). Each test uses its own project name and port so
//! tests can run in parallel on the same hosts without touching each other.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
    StartContainerOptions,
};
use futures::StreamExt;

/// The sandbox's registry as the hosts see it.
pub const REGISTRY: &str = "10.213.0.1:5000";
pub const IMAGE: &str = "10.213.0.1:5000/demo/web";

/// The sandbox state directory.
pub fn sandbox_dir() -> PathBuf {
    std::env::var_os("SHIPDECK_SANDBOX_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/shipdeck-sandbox"))
}

/// `tcp://10.213.0.(10+n):2375` for host `hNN`.
pub fn tcp_endpoint(n: usize) -> String {
    format!("tcp://10.213.0.{}:2375", 10 + n)
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
pub async fn docker(n: usize) -> Docker {
    let d = Docker::connect_with_http(&tcp_endpoint(n), 10, bollard::API_DEFAULT_VERSION)
        .expect("client");
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
        ("shipdeck.role".to_string(), "current".to_string()),
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
    let mut hosts: Vec<usize> = envs.iter().flat_map(|(_, h)| h.iter().copied()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let mut s = String::from("[settings]\ndocker_timeout_secs = 3\n\n");
    for (e, _) in envs {
        s.push_str(&format!("[[environments]]\nname = \"{e}\"\n\n"));
    }
    for n in &hosts {
        let endpoint = if *n == 1 {
            format!("unix://{}/h01/docker.sock", sandbox_dir().display())
        } else {
            tcp_endpoint(*n)
        };
        s.push_str(&format!(
            "[[hosts]]\nname = \"{}\"\nendpoint = \"{endpoint}\"\naddress = \"{}\"\n\n",
            host_name(*n),
            host_addr(*n)
        ));
    }
    s.push_str(&format!(
        "[[projects]]\nname = \"{project}\"\nimage = \"{IMAGE}\"\n[projects.container]\nenv = {{ PORT = \"{port}\" }}\n{tables}\n[projects.hosts]\n"
    ));
    for (e, hs) in envs {
        let names: Vec<String> = hs
            .iter()
            .map(|n| format!("\"{}\"", host_name(*n)))
            .collect();
        s.push_str(&format!("{e} = [{}]\n", names.join(", ")));
    }
    let path = dir.join("shipdeck.toml");
    std::fs::write(&path, s).expect("write config");
    path
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
