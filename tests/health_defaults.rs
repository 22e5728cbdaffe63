//! The default health settings against real engines (sandbox hosts h05 and
//! h06): an application that needs 40 s before it answers its HTTP probe (a
//! JVM) passes; a container that exits at once and crash-loops fails at once
//! with `Exited`; an image whose Docker HEALTHCHECK never passes fails as soon
//! as Docker says unhealthy. Containers are started out of band with
//! `--network host`; each test removes its project's containers before (for
//! leftovers) and after.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{CreateContainerOptions, StartContainerOptions};
use common::*;
use shipdeck::config::HealthSpec;
use shipdeck::engine::Engine;
use shipdeck::health::{self, HealthFailure, Target};
use tokio_util::sync::CancellationToken;

const SLOW_HOST: usize = 5;
const SLOW_PORT: u16 = 18510;
const CRASH_HOST: usize = 6;
const BAD_HOST: usize = 6;
const BAD_PORT: u16 = 18511;

/// Like `common::run_labelled`, with extra env, a restart policy and the
/// choice to keep the image's HEALTHCHECK.
struct Run<'a> {
    tag: &'a str,
    project: &'a str,
    port: u32,
    env: &'a [&'a str],
    restart: RestartPolicyNameEnum,
    image_healthcheck: bool,
}

impl Run<'_> {
    async fn start(&self, d: &Docker) -> String {
        pull(d, self.tag).await;
        let name = unique(self.project);
        let labels = HashMap::from([
            ("shipdeck.project".to_string(), self.project.to_string()),
            ("shipdeck.env".to_string(), "test".to_string()),
            ("shipdeck.version".to_string(), self.tag.to_string()),
            ("shipdeck.release".to_string(), format!("test-{name}")),
        ]);
        let mut env = vec![
            format!("PORT={}", self.port),
            "ENVT=test".to_string(),
            format!("PROJ={}", self.project),
        ];
        env.extend(self.env.iter().map(|e| e.to_string()));
        let body = ContainerCreateBody {
            image: Some(format!("{IMAGE}:{}", self.tag)),
            env: Some(env),
            labels: Some(labels),
            // The image's 1 s check is an exec per second: keep it only
            // where the test gates on it.
            healthcheck: (!self.image_healthcheck).then(|| HealthConfig {
                test: Some(vec!["NONE".to_string()]),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                restart_policy: Some(RestartPolicy {
                    name: Some(self.restart),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = tokio::time::timeout(
            Duration::from_secs(30),
            d.create_container(
                Some(CreateContainerOptions {
                    name: Some(name),
                    ..Default::default()
                }),
                body,
            ),
        )
        .await
        .expect("create container timed out")
        .expect("create container");
        tokio::time::timeout(
            Duration::from_secs(30),
            d.start_container(&created.id, None::<StartContainerOptions>),
        )
        .await
        .expect("start container timed out")
        .expect("start container");
        created.id
    }
}

async fn engine(n: usize) -> Engine {
    Engine {
        host: host_name(n),
        endpoint: tcp_endpoint(n),
        docker: docker(n).await,
        timeout: Duration::from_secs(5),
    }
}

/// `wait_healthy`, bounded well past any default deadline.
async fn gate(n: usize, id: &str, spec: HealthSpec) -> (Result<Duration, HealthFailure>, Duration) {
    let target = Target {
        engine: engine(n).await,
        container_id: id.to_string(),
        address: host_addr(n),
        spec,
    };
    let t0 = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(150),
        health::wait_healthy(&target, &health::probe_client(), &CancellationToken::new()),
    )
    .await
    .expect("wait_healthy did not end within 150 s (its deadline is 102 s)");
    let took = t0.elapsed();
    eprintln!("wait_healthy on h{n:02}: {r:?} after {took:?}");
    (r, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_starter_passes_with_the_default_spec() {
    let project = "it-health-slow";
    let d = docker(SLOW_HOST).await;
    remove_project(&d, project).await;
    let id = Run {
        tag: "v4-slow",
        project,
        port: u32::from(SLOW_PORT),
        env: &["WEB_MODE=slow", "WEB_READY_DELAY=40"],
        restart: RestartPolicyNameEnum::ALWAYS,
        image_healthcheck: false,
    }
    .start(&d)
    .await;
    let spec = HealthSpec {
        http_path: Some("/health".into()),
        port: SLOW_PORT,
        docker: false,
        ..HealthSpec::default()
    };
    let (r, took) = gate(SLOW_HOST, &id, spec).await;
    remove_project(&d, project).await;
    let waited = r.unwrap_or_else(|f| panic!("a 40 s starter failed the default gate: {f}"));
    assert!(
        waited >= Duration::from_secs(35),
        "healthy after {waited:?}: /health answers only after 40 s"
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_fails_at_once_with_the_default_spec() {
    let project = "it-health-crash";
    let d = docker(CRASH_HOST).await;
    remove_project(&d, project).await;
    // Port 99999: busybox httpd cannot bind, the entrypoint exits 1, and
    // restart=always starts it again and again.
    let id = Run {
        tag: "v4-slow",
        project,
        port: 99_999,
        env: &["WEB_MODE=slow", "WEB_READY_DELAY=40"],
        restart: RestartPolicyNameEnum::ALWAYS,
        image_healthcheck: true,
    }
    .start(&d)
    .await;
    let (r, took) = gate(CRASH_HOST, &id, HealthSpec::default()).await;
    remove_project(&d, project).await;
    assert!(
        matches!(r, Err(HealthFailure::Exited { .. })),
        "a crash loop must fail with Exited, got {r:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "a crash loop took {took:?} to fail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_healthy_docker_check_fails_soon_with_the_default_spec() {
    let project = "it-health-bad";
    let d = docker(BAD_HOST).await;
    remove_project(&d, project).await;
    // v3-bad: /health never exists, so its HEALTHCHECK (1 s interval, 5 s
    // start period, 2 retries) turns unhealthy after about 7 s.
    let id = Run {
        tag: "v3-bad",
        project,
        port: u32::from(BAD_PORT),
        env: &[],
        restart: RestartPolicyNameEnum::ALWAYS,
        image_healthcheck: true,
    }
    .start(&d)
    .await;
    let spec = HealthSpec {
        docker: true,
        ..HealthSpec::default()
    };
    let (r, took) = gate(BAD_HOST, &id, spec).await;
    remove_project(&d, project).await;
    match r {
        Err(HealthFailure::DockerUnhealthy { last_output }) => {
            assert!(!last_output.is_empty());
        }
        other => {
            panic!("a never-healthy HEALTHCHECK must fail with DockerUnhealthy, got {other:?}")
        }
    }
    assert!(took < Duration::from_secs(15), "took {took:?}");
}
