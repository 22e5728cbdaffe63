//! The fleet lock against the real sandbox: the lock is a created, never
//! started container on a strict majority of the environment's hosts; these tests assert on the engines what
//! exists where, not only return values — including a network partition in
//! which two operators each reach a different part of the fleet.
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

/// An address with no route: a connect hangs until the timeout.
const BLACKHOLE: &str = "tcp://10.213.0.250:2375";

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
async fn acquire_puts_the_lock_on_a_majority_and_release_removes_it() {
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
    assert_eq!(lock.info().hosts, ["h01", "h03"]);
    assert_eq!((lock.info().held, lock.info().needed), (2, 2));
    assert_eq!(lock.info().owner, "alice@laptop");

    let s = lock::status(&cfg, P, ENV)
        .await
        .expect("status")
        .expect("a lock");
    assert_eq!(s.owner, "alice@laptop");
    assert_eq!(s.release, "r-alice@laptop");
    assert_eq!(s.message, "deploy by alice@laptop");
    assert_eq!(s.hosts, ["h01", "h03"]);
    assert!(!s.expired, "{s:?}");
    assert_eq!(s.control, Control::Run);
    assert_eq!(s.phase_word(), "running");
    let hb = s.heartbeat_at.expect("heartbeat written at acquire");
    assert!((chrono::Utc::now() - hb).num_seconds().abs() < 5, "{s:?}");
    let exp = s.expires_at.expect("the skew is measurable here");
    let left = (exp - chrono::Utc::now()).num_seconds();
    assert!((20..=31).contains(&left), "expires in {left}s: {s:?}");

    // On the engines: created, never started, labelled, on both hosts.
    for n in hosts {
        let (_, state, labels) = on_engine(n, P).await.expect("lock container");
        assert_eq!(state, "created", "h{n:02}");
        assert_eq!(labels.get("shipdeck.lock").map(String::as_str), Some("1"));
        assert_eq!(
            labels.get("shipdeck.lock.project").map(String::as_str),
            Some(P)
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
    }
    let (id1, _, _) = on_engine(1, P).await.expect("on h01");
    assert_eq!(id1, lock.info().container_id);

    lock.release().await.expect("release");
    for n in hosts {
        assert!(
            on_engine(n, P).await.is_none(),
            "release left the container on h{n:02}"
        );
    }
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
    assert!(msg.contains("expires in "), "says when it expires: {msg}");
    assert!(
        msg.ends_with("or break it with: shipdeck lock break it-lock-second prod"),
        "{msg}"
    );

    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        first.release().await
    });
    let told = std::sync::Mutex::new(Vec::new());
    let t = Instant::now();
    let second = FleetLock::acquire_waiting(
        &cfg,
        P,
        ENV,
        req("bob@desk", DEFAULT_TTL, Some(Duration::from_secs(3))),
        &|h| told.lock().unwrap().push(h.owner.clone()),
    )
    .await
    .expect("second acquire after the first released");
    eprintln!("waited {:?} for the lock", t.elapsed());
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        *told.lock().unwrap(),
        ["alice@laptop"],
        "the wait names the holder once"
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

    for round in 0..4 {
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
        // The winner holds a majority; the loser left nothing behind.
        let mut owners = Vec::new();
        for n in hosts {
            if let Some((_, _, labels)) = on_engine(n, P).await {
                owners.push(
                    labels
                        .get("shipdeck.lock.owner")
                        .cloned()
                        .unwrap_or_default(),
                );
            }
        }
        assert!(
            owners.len() >= 2,
            "round {round}: a majority holds it: {owners:?}"
        );
        assert!(
            owners.iter().all(|o| *o == winner.info().owner),
            "round {round}: loser's objects remain: {owners:?}"
        );
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
    for n in hosts {
        let (_, _, labels) = on_engine(n, P).await.expect("new lock");
        assert_eq!(
            labels.get("shipdeck.lock.owner").map(String::as_str),
            Some("bob@desk"),
            "h{n:02}"
        );
    }
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
    let holder = FleetLock::acquire(&cfg, P, ENV, req("alice@laptop", DEFAULT_TTL, None))
        .await
        .expect("acquire");
    let mut lost = holder.lost();
    assert!(!*lost.borrow());
    assert!(holder.ensure_held().await);

    let broken = lock::break_lock(&cfg, P, ENV)
        .await
        .expect("break")
        .expect("it returns what it removed");
    assert_eq!(broken.owner, "alice@laptop");
    assert_eq!(broken.container_id, holder.info().container_id);
    for n in hosts {
        assert!(
            on_engine(n, P).await.is_none(),
            "break left the container on h{n:02}"
        );
    }
    assert_eq!(lock::status(&cfg, P, ENV).await.expect("status"), None);

    // A destructive step asks the engines, not the last heartbeat: at once.
    assert!(
        !holder.ensure_held().await,
        "the holder still thinks it holds it"
    );
    assert!(*lost.borrow_and_update(), "lost is set");
    tokio::time::timeout(Duration::from_secs(1), lost.wait_for(|l| *l))
        .await
        .expect("lost stays set")
        .expect("channel open");

    // Releasing a broken lock is not an error.
    holder.release().await.expect("release after break");
    clean(P, &hosts).await;
}

#[tokio::test]
async fn control_reaches_the_holder_within_a_second_with_the_default_ttl() {
    const P: &str = "it-lock-control";
    let hosts = [7, 2];
    clean(P, &hosts).await;
    let cfg = config(P, &hosts, |s| s);

    match lock::send_control(&cfg, P, ENV, Control::Pause).await {
        Err(LockError::NoLock { project, env }) => assert_eq!((&*project, &*env), (P, ENV)),
        other => panic!("expected NoLock, got {other:?}"),
    }

    // The default ttl: control does not travel with the heartbeat (every 10 s).
    let holder = FleetLock::acquire(&cfg, P, ENV, req("alice@laptop", DEFAULT_TTL, None))
        .await
        .expect("acquire");
    assert_eq!(holder.info().host, "h07");
    let mut control = holder.control();
    assert_eq!(control.borrow().word, Control::Run);

    let mut last_seq = 0;
    for want in [Control::Pause, Control::Run, Control::Abort] {
        let sent = lock::send_control(&cfg, P, ENV, want)
            .await
            .expect("send_control");
        assert_eq!(sent.info.control, want);
        assert_eq!(sent.info.owner, "alice@laptop");
        assert!(sent.seq > last_seq, "sequence numbers grow");
        last_seq = sent.seq;
        let t = Instant::now();
        tokio::time::timeout(
            Duration::from_millis(1500),
            control.wait_for(|c| c.word == want),
        )
        .await
        .unwrap_or_else(|_| panic!("holder did not see {want} within 1.5 s"))
        .expect("channel open");
        eprintln!("{want} seen after {:?}", t.elapsed());
        assert_eq!(control.borrow().seq, sent.seq);
        let s = lock::status(&cfg, P, ENV)
            .await
            .expect("status")
            .expect("lock");
        assert_eq!(s.control, want);
    }

    // The holder's own word (a canary pause) is not undone by a stale read.
    let mine = holder
        .set_control(Control::Pause)
        .await
        .expect("set_control");
    assert_eq!(control.borrow().word, Control::Pause);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        *control.borrow(),
        mine,
        "a poll undid the holder's own pause"
    );

    // The holder answers; `await_ack` sees it.
    holder.report(lock::Phase::Paused, "paused after h07").await;
    let ack = lock::await_ack(
        &cfg,
        P,
        ENV,
        &lock::AckWait {
            release: holder.info().release.clone(),
            seq: mine.seq,
            limit: Duration::from_secs(3),
        },
        |s| s.phase == lock::Phase::Paused,
        |_| {},
    )
    .await
    .expect("ack");
    match ack {
        lock::Ack::State(s) => assert_eq!(s.detail, "paused after h07"),
        other => panic!("expected the holder's state, got {other:?}"),
    }

    let release = holder.info().release.clone();
    holder.release().await.expect("release");
    match lock::send_control(&cfg, P, ENV, Control::Run).await {
        Err(LockError::NoLock { .. }) => {}
        other => panic!("expected NoLock after release, got {other:?}"),
    }
    let gone = lock::await_ack(
        &cfg,
        P,
        ENV,
        &lock::AckWait {
            release,
            seq: 1,
            limit: Duration::from_secs(2),
        },
        |_| true,
        |_| {},
    )
    .await
    .expect("ack");
    assert_eq!(gone, lock::Ack::Finished);
    clean(P, &hosts).await;
}

#[tokio::test]
async fn a_majority_holds_it_with_one_host_unreachable_and_a_minority_cannot() {
    const P: &str = "it-lock-detour";
    let hosts = [3, 4, 5];
    clean(P, &hosts).await;
    let slow = |s: String| s.replace("docker_timeout_secs = 3", "docker_timeout_secs = 2");
    // h03 points where nothing answers.
    let cfg_down = config(P, &hosts, |s| slow(s.replace(&tcp_endpoint(3), BLACKHOLE)));

    let t = Instant::now();
    let lock = FleetLock::acquire(&cfg_down, P, ENV, req("alice@laptop", DEFAULT_TTL, None))
        .await
        .expect("acquire with 2 of 3 hosts");
    eprintln!("acquire with one host unreachable: {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(lock.info().hosts, ["h04", "h05"]);
    assert!(
        on_engine(3, P).await.is_none(),
        "lock on the host it could not reach"
    );
    lock.release().await.expect("release");

    // Two of three unreachable: no majority, no lock, and it says why.
    let cfg_dark = config(P, &hosts, |s| {
        slow(
            s.replace(&tcp_endpoint(3), BLACKHOLE)
                .replace(&tcp_endpoint(4), "tcp://10.213.0.1:2399"),
        )
    });
    let err = FleetLock::acquire(&cfg_dark, P, ENV, req("alice@laptop", DEFAULT_TTL, None))
        .await
        .map(|_| ())
        .expect_err("a minority must not take the lock");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            LockError::NoQuorum {
                needed: 2,
                total: 3,
                reached: 1,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("h03") && msg.contains("h04") && msg.contains("majority"),
        "{msg}"
    );
    assert!(
        on_engine(5, P).await.is_none(),
        "a minority lock was left on h05"
    );
    clean(P, &hosts).await;
}

#[tokio::test]
async fn a_partition_never_gives_two_operators_the_lock() {
    const P: &str = "it-lock-split";
    let hosts = [2, 6, 7];
    clean(P, &hosts).await;
    let slow = |s: String| s.replace("docker_timeout_secs = 3", "docker_timeout_secs = 2");
    // Alice cannot reach h07; Bob cannot reach h02. Both reach h06.
    let alice_side = config(P, &hosts, |s| slow(s.replace(&tcp_endpoint(7), BLACKHOLE)));
    let bob_side = config(P, &hosts, |s| slow(s.replace(&tcp_endpoint(2), BLACKHOLE)));
    // Carol reaches only h07.
    let carol_side = config(P, &hosts, |s| {
        slow(
            s.replace(&tcp_endpoint(2), BLACKHOLE)
                .replace(&tcp_endpoint(6), "tcp://10.213.0.1:2399"),
        )
    });

    let (a, b) = tokio::join!(
        FleetLock::acquire(&alice_side, P, ENV, req("alice@laptop", DEFAULT_TTL, None)),
        FleetLock::acquire(&bob_side, P, ENV, req("bob@desk", DEFAULT_TTL, None)),
    );
    let winners = [a.is_ok(), b.is_ok()].iter().filter(|x| **x).count();
    assert_eq!(
        winners,
        1,
        "exactly one side holds it: {:?} / {:?}",
        a.as_ref()
            .map(|l| l.info().hosts.clone())
            .map_err(|e| e.to_string()),
        b.as_ref()
            .map(|l| l.info().hosts.clone())
            .map_err(|e| e.to_string())
    );
    let (winner, loser) = match (a, b) {
        (Ok(w), Err(e)) | (Err(e), Ok(w)) => (w, e),
        _ => unreachable!(),
    };
    assert!(matches!(loser, LockError::Held(_)), "{loser}");
    let r = FleetLock::acquire(&carol_side, P, ENV, req("carol@ci", DEFAULT_TTL, None)).await;
    assert!(
        matches!(r, Err(LockError::NoQuorum { .. }) | Err(LockError::Held(_))),
        "carol, alone with one host, got {:?}",
        r.map(|l| l.info().hosts.clone())
    );
    winner.release().await.expect("release");
    clean(P, &hosts).await;
}

#[tokio::test]
async fn no_reachable_host_lists_every_host_and_its_error() {
    const P: &str = "it-lock-dark";
    let hosts = [2, 3];
    // h02 refuses the connection at once; h03 has no route (hangs until the timeout).
    let cfg = config(P, &hosts, |s| {
        s.replace(&tcp_endpoint(2), "tcp://10.213.0.1:2399")
            .replace(&tcp_endpoint(3), BLACKHOLE)
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
