//! Tests of the health gate without a real engine: probes against loopback
//! listeners (IPv4 and IPv6), and `wait_healthy` against a fake engine (a
//! loopback HTTP server answering `/version`, `/containers/ID/json` and
//! `/events` the way dockerd does) whose event stream fails, ends or reports
//! a death. Real engines are in `tests/health_defaults.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::Endpoint;

// ---------------------------------------------------------------- helpers

/// Read one request head; the request line's path.
async fn read_path(sock: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace().nth(1).unwrap_or("").to_string()
}

async fn respond(sock: &mut TcpStream, status: &str, body: &str) {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(msg.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// A minimal HTTP server answering every request 200 "ok".
fn serve_ok(listener: TcpListener) {
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                read_path(&mut sock).await;
                respond(&mut sock, "200 OK", "ok").await;
            });
        }
    });
}

/// A loopback port nothing listens on (bound, then released).
async fn closed_port(host: &str) -> u16 {
    let l = TcpListener::bind(format!("{host}:0")).await.unwrap();
    l.local_addr().unwrap().port()
}

/// Whether this machine has an IPv6 loopback.
async fn ipv6_loopback() -> Option<TcpListener> {
    match TcpListener::bind("[::1]:0").await {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!("SKIPPED the IPv6 part: no IPv6 loopback on this machine ([::1]:0: {e})");
            None
        }
    }
}

fn spec(port: u16) -> HealthSpec {
    HealthSpec {
        http_path: Some("/health".into()),
        port,
        tcp: true,
        docker: false,
        interval_ms: 100,
        timeout_ms: 500,
        retries: 2,
        // Long: the tests that fail must fail by a death, not by probes.
        start_period_ms: 60_000,
    }
}

/// How the fake engine answers `/events`.
#[derive(Clone)]
enum Events {
    /// 500: the stream yields an error at once.
    Fail,
    /// 200 with an empty body: the stream ends at once.
    End,
    /// These JSON lines, then the stream stays open.
    Lines(Vec<Value>),
}

/// A fake engine: `inspect` is what `/containers/ID/json` answers (`Null`: 404),
/// and tests may change it while a wait runs.
struct Fake {
    inspect: Arc<Mutex<Value>>,
    engine: Engine,
}

impl Fake {
    async fn start(inspect: Value, events: Events) -> Fake {
        let inspect = Arc::new(Mutex::new(inspect));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = inspect.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let shared = shared.clone();
                let events = events.clone();
                tokio::spawn(async move {
                    let path = read_path(&mut sock).await;
                    if path.contains("/version") {
                        let v = json!({"ApiVersion": "1.45", "Version": "27.0.0", "MinAPIVersion": "1.24"});
                        respond(&mut sock, "200 OK", &v.to_string()).await;
                    } else if path.contains("/containers/") && path.contains("/json") {
                        let v = shared.lock().unwrap().clone();
                        if v.is_null() {
                            let msg = json!({"message": "No such container: abc"}).to_string();
                            respond(&mut sock, "404 Not Found", &msg).await;
                        } else {
                            respond(&mut sock, "200 OK", &v.to_string()).await;
                        }
                    } else if path.contains("/events") {
                        match events {
                            Events::Fail => {
                                let msg = json!({"message": "engine restarting"}).to_string();
                                respond(&mut sock, "500 Internal Server Error", &msg).await;
                            }
                            Events::End => respond(&mut sock, "200 OK", "").await,
                            Events::Lines(lines) => {
                                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
                                let _ = sock.write_all(head.as_bytes()).await;
                                for l in lines {
                                    let _ = sock.write_all(format!("{l}\n").as_bytes()).await;
                                }
                                let _ = sock.flush().await;
                                tokio::time::sleep(Duration::from_secs(600)).await;
                            }
                        }
                    } else {
                        respond(
                            &mut sock,
                            "404 Not Found",
                            "{\"message\":\"page not found\"}",
                        )
                        .await;
                    }
                });
            }
        });
        let endpoint = Endpoint::Tcp {
            addr: addr.to_string(),
            tls: None,
        };
        let docker = crate::engine::connect(&endpoint, Duration::from_secs(5))
            .await
            .unwrap();
        let engine = Engine {
            host: "fake".into(),
            endpoint: endpoint.to_string(),
            docker,
            timeout: Duration::from_secs(2),
        };
        Fake { inspect, engine }
    }

    fn set(&self, f: impl FnOnce(&mut Value)) {
        f(&mut self.inspect.lock().unwrap());
    }

    fn target(&self, address: &str, spec: HealthSpec) -> Target {
        Target {
            engine: self.engine.clone(),
            container_id: "abc".into(),
            address: address.into(),
            spec,
        }
    }
}

const STARTED: &str = "2026-03-04T05:06:07.500000000Z";

fn started_nanos() -> i64 {
    chrono::DateTime::parse_from_rfc3339(STARTED)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

fn running(healthcheck: bool, health: &str) -> Value {
    json!({
        "Id": "abc",
        "RestartCount": 0,
        "State": {
            "Status": "running", "Running": true, "Restarting": false, "ExitCode": 0,
            "StartedAt": STARTED,
            "Health": {"Status": health, "Log": [{"ExitCode": 1, "Output": "wget: server returned error: 404\n"}]}
        },
        "Config": {"Healthcheck": {"Test": if healthcheck { json!(["CMD", "true"]) } else { json!(["NONE"]) }}}
    })
}

fn event(action: &str, attrs: Value, nanos: i64) -> Value {
    json!({
        "Type": "container", "Action": action,
        "Actor": {"ID": "abc", "Attributes": attrs},
        "time": nanos / 1_000_000_000, "timeNano": nanos
    })
}

async fn wait(target: &Target) -> Result<Duration, HealthFailure> {
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        wait_healthy(target, &probe_client(), &CancellationToken::new()),
    )
    .await;
    r.expect("wait_healthy must end by itself well within 20 s here")
}

// ---------------------------------------------------------------- addresses

#[test]
fn ipv6_literals_are_bracketed() {
    assert_eq!(
        probe_url("::1", 8080, "/health"),
        "http://[::1]:8080/health"
    );
    assert_eq!(probe_url("fd00::5", 80, "/"), "http://[fd00::5]:80/");
    assert_eq!(probe_url("[fd00::5]", 80, "/"), "http://[fd00::5]:80/");
    assert_eq!(probe_url("10.0.0.5", 80, "/h"), "http://10.0.0.5:80/h");
    assert_eq!(
        probe_url("web-01.internal", 80, "/h"),
        "http://web-01.internal:80/h"
    );
    assert_eq!(probe_addr("::1", 9), "[::1]:9");
    assert_eq!(probe_addr("[::1]", 9), "[::1]:9");
    assert_eq!(probe_addr("127.0.0.1", 9), "127.0.0.1:9");
}

#[tokio::test]
async fn probe_once_on_ipv4_loopback() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    serve_ok(l);
    let http = probe_client();
    probe_once("127.0.0.1", &spec(port), &http).await.unwrap();
    let tcp_only = HealthSpec {
        http_path: None,
        ..spec(port)
    };
    probe_once("127.0.0.1", &tcp_only, &http).await.unwrap();

    let closed = closed_port("127.0.0.1").await;
    let e = probe_once("127.0.0.1", &spec(closed), &http)
        .await
        .unwrap_err();
    assert!(
        e.starts_with(&format!("HTTP probe http://127.0.0.1:{closed}/health: ")),
        "{e}"
    );
    let e = probe_once(
        "127.0.0.1",
        &HealthSpec {
            http_path: None,
            ..spec(closed)
        },
        &http,
    )
    .await
    .unwrap_err();
    assert!(
        e.starts_with(&format!("TCP probe 127.0.0.1:{closed}: ")),
        "{e}"
    );
}

#[tokio::test]
async fn probe_once_on_ipv6_loopback() {
    let Some(l) = ipv6_loopback().await else {
        return;
    };
    let port = l.local_addr().unwrap().port();
    serve_ok(l);
    let http = probe_client();
    // HTTP and TCP, unbracketed as config `address` (and probe_address) give it.
    probe_once("::1", &spec(port), &http).await.unwrap();
    let tcp_only = HealthSpec {
        http_path: None,
        ..spec(port)
    };
    probe_once("::1", &tcp_only, &http).await.unwrap();
    // Already bracketed works too.
    probe_once("[::1]", &spec(port), &http).await.unwrap();

    let closed = closed_port("[::1]").await;
    let e = probe_once("::1", &tcp_only_on(closed), &http)
        .await
        .unwrap_err();
    assert!(e.starts_with(&format!("TCP probe [::1]:{closed}: ")), "{e}");
    let e = probe_once("::1", &spec(closed), &http).await.unwrap_err();
    assert!(
        e.starts_with(&format!("HTTP probe http://[::1]:{closed}/health: ")),
        "{e}"
    );
}

fn tcp_only_on(port: u16) -> HealthSpec {
    HealthSpec {
        http_path: None,
        ..spec(port)
    }
}

#[tokio::test]
async fn wait_healthy_probes_an_ipv6_address() {
    let Some(l) = ipv6_loopback().await else {
        return;
    };
    let port = l.local_addr().unwrap().port();
    serve_ok(l);
    let fake = Fake::start(running(false, "none"), Events::Lines(vec![])).await;
    wait(&fake.target("::1", spec(port))).await.unwrap();
}

// ---------------------------------------------------------------- deadlines

#[test]
fn deadlines_saturate_and_are_capped() {
    let huge = HealthSpec {
        interval_ms: u64::MAX,
        timeout_ms: u64::MAX,
        retries: u32::MAX,
        start_period_ms: u64::MAX,
        ..HealthSpec::default()
    };
    assert_eq!(deadline_for(&huge), MAX_WAIT);
    let d = HealthSpec::default();
    let expected = Duration::from_millis(
        d.start_period_ms + u64::from(d.retries + 1) * (d.interval_ms + d.timeout_ms),
    ) + DOCKER_SLACK;
    assert_eq!(deadline_for(&d), expected);
    assert_eq!(step(u64::MAX), MAX_WAIT);
    assert_eq!(step(0), MIN_STEP);
}

#[tokio::test]
async fn a_huge_spec_does_not_panic() {
    // Probes to a closed port with an absurd interval: the first probe fails,
    // the next one would be in `MAX_WAIT`; cancel ends the wait.
    let port = closed_port("127.0.0.1").await;
    let fake = Fake::start(running(false, "none"), Events::Lines(vec![])).await;
    let target = fake.target(
        "127.0.0.1",
        HealthSpec {
            interval_ms: u64::MAX,
            timeout_ms: u64::MAX,
            retries: u32::MAX,
            start_period_ms: u64::MAX,
            ..spec(port)
        },
    );
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.cancel();
    });
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        wait_healthy(&target, &probe_client(), &cancel),
    )
    .await
    .unwrap();
    assert_eq!(r, Err(HealthFailure::Cancelled));
}

// ---------------------------------------------------------------- lost events

#[tokio::test]
async fn failed_events_leave_the_gate_to_the_probes() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    serve_ok(l);
    for events in [Events::Fail, Events::End] {
        let fake = Fake::start(running(false, "none"), events).await;
        wait(&fake.target("127.0.0.1", spec(port))).await.unwrap();
    }
}

#[tokio::test]
async fn without_events_docker_health_alone_is_polled() {
    let fake = Fake::start(running(true, "starting"), Events::Fail).await;
    let target = fake.target(
        "127.0.0.1",
        HealthSpec {
            http_path: None,
            tcp: false,
            docker: true,
            ..spec(1)
        },
    );
    let flip = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        fake.set(|v| v["State"]["Health"]["Status"] = json!("healthy"));
    };
    let (r, ()) = tokio::join!(wait(&target), flip);
    let took = r.unwrap();
    assert!(took >= Duration::from_millis(700), "{took:?}");

    // And unhealthy, seen by a poll, fails with Docker's last log entry.
    fake.set(|v| v["State"]["Health"]["Status"] = json!("unhealthy"));
    match wait(&target).await {
        Err(HealthFailure::DockerUnhealthy { last_output }) => {
            assert_eq!(last_output, "exit 1: wget: server returned error: 404");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn without_events_an_exit_is_seen_by_a_status_poll() {
    let port = closed_port("127.0.0.1").await;
    let fake = Fake::start(running(false, "none"), Events::Fail).await;
    let target = fake.target("127.0.0.1", spec(port));
    let flip = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        fake.set(|v| {
            v["State"]["Running"] = json!(false);
            v["State"]["Status"] = json!("exited");
            v["State"]["ExitCode"] = json!(3);
        });
    };
    let t0 = std::time::Instant::now();
    let (r, ()) = tokio::join!(wait(&target), flip);
    assert_eq!(r, Err(HealthFailure::Exited { code: 3 }));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn without_events_a_restart_is_seen_by_a_status_poll() {
    let port = closed_port("127.0.0.1").await;
    let fake = Fake::start(running(false, "none"), Events::End).await;
    let target = fake.target("127.0.0.1", spec(port));
    let flip = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Running again, but restarted once by its restart policy.
        fake.set(|v| v["RestartCount"] = json!(1));
    };
    let (r, ()) = tokio::join!(wait(&target), flip);
    assert_eq!(r, Err(HealthFailure::Exited { code: -1 }));
}

#[tokio::test]
async fn without_events_and_probes_the_deadline_still_ends_the_wait() {
    let fake = Fake::start(running(true, "starting"), Events::Fail).await;
    let target = fake.target(
        "127.0.0.1",
        HealthSpec {
            http_path: None,
            tcp: false,
            docker: true,
            start_period_ms: 0,
            ..spec(1)
        },
    );
    // deadline_for = 3 × 600ms + 30 s slack; the status poll goes on until then.
    let r = tokio::time::timeout(
        Duration::from_secs(40),
        wait_healthy(&target, &probe_client(), &CancellationToken::new()),
    )
    .await
    .unwrap();
    assert_eq!(r, Err(HealthFailure::Deadline { secs: 31 }));
}

#[tokio::test]
async fn status_poll_errors_do_not_fail_the_gate() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let fake = Fake::start(running(false, "none"), Events::Fail).await;
    let target = fake.target("127.0.0.1", spec(port));
    // The engine answers inspect once (the start), then breaks (restarting):
    // an inspect that answers garbage is an error, not a verdict.
    let flip = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        fake.set(|v| *v = json!("not a container"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        serve_ok(l);
    };
    let (r, ()) = tokio::join!(wait(&target), flip);
    r.unwrap();
}

// ---------------------------------------------------------------- events

#[tokio::test]
async fn a_die_event_fails_at_once_despite_the_start_period() {
    let port = closed_port("127.0.0.1").await;
    let died = event(
        "die",
        json!({"exitCode": "7"}),
        started_nanos() + 500_000_000,
    );
    let fake = Fake::start(running(false, "none"), Events::Lines(vec![died])).await;
    let t0 = std::time::Instant::now();
    assert_eq!(
        wait(&fake.target("127.0.0.1", spec(port))).await,
        Err(HealthFailure::Exited { code: 7 })
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn the_death_of_an_earlier_run_is_not_this_ones() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    serve_ok(l);
    let old = event("die", json!({"exitCode": "0"}), started_nanos() - 1);
    let fake = Fake::start(running(false, "none"), Events::Lines(vec![old])).await;
    wait(&fake.target("127.0.0.1", spec(port))).await.unwrap();
}

#[tokio::test]
async fn docker_health_events_decide() {
    let docker_only = HealthSpec {
        http_path: None,
        tcp: false,
        docker: true,
        ..spec(1)
    };
    let healthy = event("health_status: healthy", json!({}), started_nanos() + 1);
    let fake = Fake::start(running(true, "starting"), Events::Lines(vec![healthy])).await;
    wait(&fake.target("127.0.0.1", docker_only.clone()))
        .await
        .unwrap();

    let unhealthy = event("health_status: unhealthy", json!({}), started_nanos() + 1);
    let fake = Fake::start(running(true, "starting"), Events::Lines(vec![unhealthy])).await;
    match wait(&fake.target("127.0.0.1", docker_only)).await {
        Err(HealthFailure::DockerUnhealthy { last_output }) => {
            assert!(last_output.contains("404"), "{last_output}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn no_signal_at_all_means_running_for_a_second() {
    let bare = HealthSpec {
        http_path: None,
        tcp: false,
        docker: false,
        ..spec(1)
    };
    let fake = Fake::start(running(true, "starting"), Events::Lines(vec![])).await;
    let took = wait(&fake.target("127.0.0.1", bare.clone())).await.unwrap();
    assert!(took >= Duration::from_secs(1), "{took:?}");

    // Exited within that second and no event said so: the confirming poll does.
    let fake = Fake::start(running(true, "starting"), Events::Lines(vec![])).await;
    fake.set(|v| v["State"]["Restarting"] = json!(true));
    // (restarting at the start already fails, before any poll)
    assert_eq!(
        wait(&fake.target("127.0.0.1", bare.clone())).await,
        Err(HealthFailure::Exited { code: 0 })
    );
    let fake = Fake::start(running(true, "starting"), Events::Lines(vec![])).await;
    let flip = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        fake.set(|v| {
            v["State"]["Running"] = json!(false);
            v["State"]["ExitCode"] = json!(2);
        });
    };
    let target = fake.target("127.0.0.1", bare);
    let (r, ()) = tokio::join!(wait(&target), flip);
    assert_eq!(r, Err(HealthFailure::Exited { code: 2 }));
}

#[tokio::test]
async fn a_removed_container_is_gone() {
    let fake = Fake::start(Value::Null, Events::End).await;
    assert_eq!(
        wait(&fake.target("127.0.0.1", spec(1))).await,
        Err(HealthFailure::Gone { id: "abc".into() })
    );
}
