//! The fleet lock against the real sandbox: the lock object is a created,
//! never started container on the environment's first reachable host; these
//! tests assert on the engines what exists where, not only return values.
//! Each test has its own project name, so they run in parallel on the fleet.
//! Host 8 is avoided: `tests/host_outage.rs` stops it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use bollard::query_parameters::RemoveContainerOptions;
use common::*;
use shipdeck::config::Config;
use shipdeck::rollout::lock::{
    self, Control, DEFAULT_TTL, FleetLock, LockError, LockInfo, LockRequest,
};

const ENV: &str = "prod";

/// An inventory for `project` with `ENV` on `hosts`, after `tweak` edits the text.
fn config(project: &str, hosts: &[usize], tweak: impl Fn(String) -> String) -> Config {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(dir.path(), project, &[(ENV, hosts)], 18090);
    let text = tweak(std::fs::read_to_string(&path).expect("read config"));
    shipdeck::config::load_str(&text, &path).expect("valid config")
}

fn lock_name(project: &str) -> String {
    format!("shipdeck-lock.{project}.{ENV}")
}

fn req(owner: &str, ttl: Duration, wait: Option<Duration>) -> LockRequest {
    LockRequest {
        owner: owner.to_string(),
        release: format!("r-{owner}"),
        message: format!("deploy by {owner}"),
        ttl,
        wait,
    }
}

/// Remove the project's lock container from `hosts`, whoever made it.
async fn clean(project: &str, hosts: &[usize]) {
    for &n in hosts {
        let _ = docker(n)
            .await
            .remove_container(
                &lock_name(project),
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
    }
}

/// The lock container on host `n` as the engine sees it: (id, state, labels).
async fn on_engine(
    n: usize,
    project: &str,
) -> Option<(String, String, std::collections::HashMap<String, String>)> {
    let d = docker(n)
        .await
        .inspect_container(&lock_name(project), None)
        .await
        .ok()?;
    let state = d
        .state
        .and_then(|s| s.status)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let labels = d.config.and_then(|c| c.labels).unwrap_or_default();
    Some((d.id.unwrap_or_default(), state, labels))
}

fn held(r: Result<FleetLock, LockError>) -> Box<LockInfo> {
    match r {
        Err(LockError::Held(info)) => info,
        Err(e) => panic!("expected Held, got error: {e}"),
        Ok(l) => panic!("expected Held, got the lock: {:?}", l.info()),
    }
}

#[tokio::test]
async fn acquire_records_holder_on_first_host_and_release_removes_it() {
    const P: &str = "it-lock-basic";
    let hosts = [1, 3];
    clean(P, &hosts).await;
    let cfg = config(P, &hosts, |s| s);

    let t = Instant::now();
    let lock = FleetLock::acquire(&cfg, P, ENV, req("alice@laptop", DEFAULT_TTL, None))
        .await
        .expect("acquire");
    eprintln!("acquire (incl. image import if needed): {:?}", t.elapsed());
    assert_eq!(lock.info().host, "h01");
    assert_eq!(lock.info().owner, "alice@laptop");

    let t = Instant::now();
    let s = lock::status(&cfg, P, ENV)
        .await
        .expect("status")
        .expect("a lock");
    eprintln!("status: {:?}", t.elapsed());
    assert_eq!(s.owner, "alice@laptop");
    assert_eq!(s.release, "r-alice@laptop");
    assert_eq!(s.message, "deploy by alice@laptop");
    assert_eq!(s.host, "h01");
    assert_eq!(s.container_id, lock.info().container_id);
    assert!(!s.expired, "{s:?}");
    assert_eq!(s.control, Control::Run);
    let hb = s.heartbeat_at.expect("heartbeat written at acquire");
    assert!((chrono::Utc::now() - hb).num_seconds().abs() < 5, "{s:?}");
    assert!(
        (chrono::Utc::now() - s.acquired_at).num_seconds().abs() < 5,
        "{s:?}"
    );

    // On the engine: created, never started, labelled, and only on the first host.
    let (id, state, labels) = on_engine(1, P).await.expect("lock container on h01");
    assert_eq!(id, lock.info().container_id);
    assert_eq!(state, "created");
    assert_eq!(labels.get("shipdeck.lock").map(String::as_str), Some("1"));
    assert_eq!(
        labels.get("shipdeck.lock.project").map(String::as_str),
        Some(P)
    );
    assert_eq!(
        labels.get("shipdeck.lock.env").map(String::as_str),
        Some(ENV)
    );
    assert_eq!(
        labels.get("shipdeck.lock.owner").map(String::as_str),
        Some("alice@laptop")
    );
    assert_eq!(
        labels.get("shipdeck.lock.release").map(String::as_str),
        Some("r-alice@laptop")
    );
    assert!(labels.contains_key("shipdeck.lock.acquired_at"));
    assert!(
        !labels.contains_key("shipdeck.project"),
        "the fleet view would list the lock as an app container"
    );
    assert!(on_engine(3, P).await.is_none(), "lock also on h03");

    lock.release().await.expect("release");
    assert!(
        on_engine(1, P).await.is_none(),
        "release left the container"
    );
    assert_eq!(lock::status(&cfg, P, ENV).await.expect("status"), None);
    clean(P, &hosts).await;
}

#[tokio::test]
async fn second_acquire_fails_fast_naming_holder_then_waits_for_release() {
    const P: &str = "it-lock-second";
    let hosts = [2, 3];
    clean(P, &hosts).await;
    let cfg = config(P, &hosts, |s| s);

    let first = FleetLock::acquire(&cfg, P, ENV, req("alice@laptop", DEFAULT_TTL, None))
        .await
        .expect("first acquire");

    let t = Instant::now();
    let r = FleetLock::acquire(&cfg, P, ENV, req("bob@desk", DEFAULT_TTL, None)).await;
    let elapsed = t.elapsed();
    let err = LockError::Held(held(r));
    let msg = err.to_string();
    eprintln!("fail-fast Held in {elapsed:?}: {msg}");
    assert!(elapsed < Duration::from_secs(2), "not fast: {elapsed:?}");
    assert!(
        msg.starts_with("it-lock-second/prod is locked by alice@laptop since "),
        "{msg}"
    );
    assert!(msg.contains("release r-alice@laptop"), "{msg}");
    assert!(
        msg.ends_with("or break it with: shipdeck lock break it-lock-second prod"),
        "{msg}"
    );

    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        first.release().await
    });
    let t = Instant::now();
    let second = FleetLock::acquire(
        &cfg,
        P,
        ENV,
        req("bob@desk", DEFAULT_TTL, Some(Duration::from_secs(3))),
    )
    .await
    .expect("second acquire after the first released");
    eprintln!("waited {:?} for the lock", t.elapsed());
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    releaser.await.expect("join").expect("release");
    let (id, _, labels) = on_engine(2, P).await.expect("lock on h02");
    assert_eq!(id, second.info().container_id);
    assert_eq!(
        labels.get("shipdeck.lock.owner").map(String::as_str),
        Some("bob@desk")
    );

    // A wait that ends while the lock is still held reports the holder.
    let t = Instant::now();
    let r = FleetLock::acquire(
        &cfg,
        P,
        ENV,
        req("carol@ci", DEFAULT_TTL, Some(Duration::from_millis(1500))),
    )
    .await;
    assert_eq!(held(r).owner, "bob@desk");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());

    second.release().await.expect("release");
    clean(P, &hosts).await;
}

#[tokio::test]
async fn concurrent_acquires_exactly_one_wins() {
    const P: &str = "it-lock-race";
    let hosts = [4, 5, 6];
    clean(P, &hosts).await;
    let cfg = config(P, &hosts, |s| s);

    for round in 0..3 {
        let (a, b) = tokio::join!(
            FleetLock::acquire(&cfg, P, ENV, req("alice@laptop", DEFAULT_TTL, None)),
            FleetLock::acquire(&cfg, P, ENV, req("bob@desk", DEFAULT_TTL, None)),
        );
        let (winner, loser) = match (a, b) {
            (Ok(w), Err(LockError::Held(l))) | (Err(LockError::Held(l)), Ok(w)) => (w, l),
            (a, b) => panic!(
                "round {round}: want exactly one Ok and one Held, got {:?} / {:?}",
                a.as_ref()
                    .map(|l| l.info().owner.clone())
                    .map_err(|e| e.to_string()),
                b.as_ref()
                    .map(|l| l.info().owner.clone())
                    .map_err(|e| e.to_string()),
            ),
        };
        assert_eq!(loser.owner, winner.info().owner, "round {round}");
        let (id, _, labels) = on_engine(4, P).await.expect("lock on h04");
        assert_eq!(id, winner.info().container_id);
        assert_eq!(
            labels.get("shipdeck.lock.owner"),
            Some(&winner.info().owner)
        );
        assert!(on_engine(5, P).await.is_none() && on_engine(6, P).await.is_none());
        winner.release().await.expect("release");
    }
    clean(P, &hosts).await;
}

#[tokio::test]
async fn a_lock_without_heartbeat_expires_and_is_replaced() {
    const P: &str = "it-lock-expiry";
    let hosts = [5, 6];
    clean(P, &hosts).await;
    let cfg = config(P, &hosts, |s| s);

    let old = FleetLock::acquire(
        &cfg,
        P,
        ENV,
        req("crashed@laptop", Duration::from_secs(2), None),
    )
    .await
    .expect("acquire");
    let old_id = old.info().container_id.clone();
    // Heartbeats keep a short-ttl lock alive past its ttl.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let alive = lock::status(&cfg, P, ENV)
        .await
        .expect("status")
        .expect("lock");
    assert!(!alive.expired, "heartbeating lock expired: {alive:?}");
    assert_eq!(
        held(FleetLock::acquire(&cfg, P, ENV, req("bob@desk", DEFAULT_TTL, None)).await).owner,
        "crashed@laptop"
    );

    // The holder dies without releasing: the heartbeat stops with it.
    drop(old);
    let dead = common::eventually(Duration::from_secs(6), || async {
        lock::status(&cfg, P, ENV)
            .await
            .ok()
            .flatten()
            .filter(|s| s.expired)
    })
    .await
    .expect("the lock expires about 2 s after its last heartbeat");
    assert_eq!(dead.container_id, old_id);
    assert_eq!(dead.owner, "crashed@laptop");

    let new = FleetLock::acquire(&cfg, P, ENV, req("bob@desk", DEFAULT_TTL, None))
        .await
        .expect("acquire over an expired lock");
    assert_ne!(new.info().container_id, old_id);
    let (id, _, labels) = on_engine(5, P).await.expect("new lock on h05");
    assert_eq!(id, new.info().container_id);
    assert_eq!(
        labels.get("shipdeck.lock.owner").map(String::as_str),
        Some("bob@desk")
    );
    let gone = docker(5).await.inspect_container(&old_id, None).await;
    assert!(gone.is_err(), "the expired lock object is still there");

    new.release().await.expect("release");
    clean(P, &hosts).await;
}

#[tokio::test]
async fn break_lock_removes_it_and_the_holder_notices() {
    const P: &str = "it-lock-break";
    let hosts = [6, 7];
    clean(P, &hosts).await;
    let cfg = config(P, &hosts, |s| s);

    assert_eq!(lock::break_lock(&cfg, P, ENV).await.expect("break"), None);
    let holder = FleetLock::acquire(
        &cfg,
        P,
        ENV,
        req("alice@laptop", Duration::from_secs(3), None),
    )
    .await
    .expect("acquire");
    let mut lost = holder.lost();
    assert!(!*lost.borrow());

    let broken = lock::break_lock(&cfg, P, ENV)
        .await
        .expect("break")
        .expect("it returns what it removed");
    assert_eq!(broken.owner, "alice@laptop");
    assert_eq!(broken.container_id, holder.info().container_id);
    assert!(on_engine(6, P).await.is_none(), "break left the container");
    assert_eq!(lock::status(&cfg, P, ENV).await.expect("status"), None);

    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(4), lost.wait_for(|l| *l))
        .await
        .expect("holder sees the lock lost within a few seconds")
        .expect("channel open");
    eprintln!("lost noticed after {:?}", t.elapsed());

    // Releasing a broken lock is not an error.
    holder.release().await.expect("release after break");
    clean(P, &hosts).await;
}

#[tokio::test]
async fn control_reaches_the_holder_within_a_heartbeat() {
    const P: &str = "it-lock-control";
    let hosts = [7, 2];
    clean(P, &hosts).await;
    let cfg = config(P, &hosts, |s| s);

    match lock::send_control(&cfg, P, ENV, Control::Pause).await {
        Err(LockError::NoLock { project, env }) => assert_eq!((&*project, &*env), (P, ENV)),
        other => panic!("expected NoLock, got {other:?}"),
    }

    let holder = FleetLock::acquire(
        &cfg,
        P,
        ENV,
        req("alice@laptop", Duration::from_secs(3), None),
    )
    .await
    .expect("acquire");
    assert_eq!(holder.info().host, "h07");
    let mut control = holder.control();
    assert_eq!(*control.borrow(), Control::Run);

    for want in [Control::Pause, Control::Run, Control::Abort] {
        let sent = lock::send_control(&cfg, P, ENV, want)
            .await
            .expect("send_control");
        assert_eq!(sent.control, want);
        assert_eq!(sent.owner, "alice@laptop");
        let t = Instant::now();
        tokio::time::timeout(Duration::from_secs(3), control.wait_for(|c| *c == want))
            .await
            .unwrap_or_else(|_| panic!("holder did not see {want} within 3 s"))
            .expect("channel open");
        eprintln!("{want} seen after {:?}", t.elapsed());
        let s = lock::status(&cfg, P, ENV)
            .await
            .expect("status")
            .expect("lock");
        assert_eq!(s.control, want);
    }

    holder.release().await.expect("release");
    match lock::send_control(&cfg, P, ENV, Control::Run).await {
        Err(LockError::NoLock { .. }) => {}
        other => panic!("expected NoLock after release, got {other:?}"),
    }
    clean(P, &hosts).await;
}

#[tokio::test]
async fn unreachable_first_host_moves_the_lock_to_the_next() {
    const P: &str = "it-lock-detour";
    let hosts = [3, 4];
    clean(P, &hosts).await;
    // h03 points where nothing answers (no route: connect hangs until the timeout).
    let cfg_down = config(P, &hosts, |s| {
        s.replace(&tcp_endpoint(3), "tcp://10.213.0.250:2375")
            .replace("docker_timeout_secs = 3", "docker_timeout_secs = 2")
    });
    let cfg_up = config(P, &hosts, |s| s);

    let t = Instant::now();
    let lock = FleetLock::acquire(&cfg_down, P, ENV, req("alice@laptop", DEFAULT_TTL, None))
        .await
        .expect("acquire with the first host down");
    eprintln!("acquire with first host unreachable: {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(lock.info().host, "h04");
    assert!(on_engine(4, P).await.is_some(), "no lock on h04");
    assert!(on_engine(3, P).await.is_none(), "lock on h03");

    // Someone who does reach h03 still sees the lock taken on h04.
    let other = held(FleetLock::acquire(&cfg_up, P, ENV, req("bob@desk", DEFAULT_TTL, None)).await);
    assert_eq!(other.owner, "alice@laptop");
    assert_eq!(other.host, "h04");
    assert!(
        on_engine(3, P).await.is_none(),
        "a second lock was made on h03"
    );
    let s = lock::status(&cfg_up, P, ENV)
        .await
        .expect("status")
        .expect("lock");
    assert_eq!(s.host, "h04");

    lock.release().await.expect("release");
    clean(P, &hosts).await;
}

#[tokio::test]
async fn no_reachable_host_lists_every_host_and_its_error() {
    const P: &str = "it-lock-dark";
    let hosts = [2, 3];
    // h02 refuses the connection at once; h03 has no route (hangs until the timeout).
    let cfg = config(P, &hosts, |s| {
        s.replace(&tcp_endpoint(2), "tcp://10.213.0.1:2399")
            .replace(&tcp_endpoint(3), "tcp://10.213.0.250:2375")
            .replace("docker_timeout_secs = 3", "docker_timeout_secs = 2")
    });

    let t = Instant::now();
    let r = FleetLock::acquire(
        &cfg,
        P,
        ENV,
        req("alice@laptop", DEFAULT_TTL, Some(Duration::from_secs(10))),
    )
    .await;
    let elapsed = t.elapsed();
    let err = match r {
        Err(e) => e,
        Ok(l) => panic!("acquired on a dark environment: {:?}", l.info()),
    };
    eprintln!("NoReachableHost after {elapsed:?}: {err}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    match &err {
        LockError::NoReachableHost {
            project,
            env,
            errors,
        } => {
            assert_eq!((project.as_str(), env.as_str()), (P, ENV));
            let names: Vec<&str> = errors.iter().map(|(h, _)| h.as_str()).collect();
            assert_eq!(names, ["h02", "h03"]);
            assert!(errors[0].1.contains("10.213.0.1:2399"), "{errors:?}");
            assert!(errors[1].1.contains("10.213.0.250:2375"), "{errors:?}");
        }
        other => panic!("expected NoReachableHost, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("h02: ") && msg.contains("h03: "), "{msg}");

    for r in [
        lock::status(&cfg, P, ENV).await.map(|_| ()),
        lock::break_lock(&cfg, P, ENV).await.map(|_| ()),
        lock::send_control(&cfg, P, ENV, Control::Pause)
            .await
            .map(|_| ()),
    ] {
        assert!(matches!(r, Err(LockError::NoReachableHost { .. })), "{r:?}");
    }
}

#[tokio::test]
async fn unknown_project_or_environment_names_the_known_ones() {
    let cfg = config("it-lock-names", &[2], |s| s);
    let e = lock::status(&cfg, "nope", ENV)
        .await
        .expect_err("unknown project");
    assert!(
        matches!(&e, LockError::UnknownTarget { what } if what.contains("\"nope\"") && what.contains("it-lock-names")),
        "{e}"
    );
    let e = FleetLock::acquire(&cfg, "it-lock-names", "staging", LockRequest::new("r", "m"))
        .await
        .map(|_| ())
        .expect_err("unknown env");
    assert!(
        matches!(&e, LockError::UnknownTarget { what } if what.contains("\"staging\"") && what.contains("prod")),
        "{e}"
    );
}
