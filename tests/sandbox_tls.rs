//! TLS engines on the sandbox: hosts h41 and h42 answer only on
//! `tcp://ADDR:2376` with `--tlsverify` (scripts/sandbox makes their CA,
//! server and client certificates). shipdeck reaches them over TLS with the
//! configured CA and client certificate; the test looks at them through
//! their unix sockets, a path that does not go through the client it checks.
//!
//! Faults: a CA that did not sign the engine's certificate, an expired
//! client certificate, and an address the engine's certificate does not
//! name (the alias 10.213.0.152 on h42's listener). Each is refused with a
//! message that says which, and no container changes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use bollard::query_parameters::ListContainersOptions;
use common::*;

const HOSTS: [usize; 2] = TLS_HOSTS;

/// Every container of `project` on the hosts (app containers, the lock
/// and the ledger): name, id, image, state, sorted.
async fn snapshot(project: &str) -> Vec<(usize, String, String, String, String)> {
    let mut all = Vec::new();
    for n in HOSTS {
        let d = docker(n).await;
        let list = d
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .expect("list containers");
        for c in list {
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first().cloned())
                .unwrap_or_default();
            if !name.contains(project) {
                continue;
            }
            all.push((
                n,
                name,
                c.id.unwrap_or_default(),
                c.image.unwrap_or_default(),
                c.state.map(|s| s.to_string()).unwrap_or_default(),
            ));
        }
    }
    all.sort();
    all
}

/// The inventory with host `host`'s `[[hosts]]` table passed through `edit`.
fn variant(
    config: &Path,
    host: &str,
    edit: impl Fn(&str) -> String,
    name: &str,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(config).expect("read config");
    let at = text
        .find(&format!("name = \"{host}\""))
        .expect("host in config");
    let end = text[at..].find("\n\n").map_or(text.len(), |e| at + e);
    let out = format!("{}{}{}", &text[..at], edit(&text[at..end]), &text[end..]);
    let path = config.with_file_name(name);
    std::fs::write(&path, out).expect("write variant");
    path
}

/// `deploy VERSION --yes` with `config`: it succeeds and every host serves it.
async fn deploys(project: &str, version: &str, config: &Path, state: &Path, port: u16, what: &str) {
    let (code, out) = shipdeck_text(
        &["deploy", project, "prod", version, "--yes"],
        config,
        state,
    );
    assert_eq!(code, 0, "{what}: {out}");
    assert_all_serve(&HOSTS, project, "prod", port, version).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_deploy_and_rollback_over_tls() {
    let project = unique("tls");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let port = 8091;
    clean(&project, "prod", &HOSTS).await;
    let config = write_config(dir.path(), &project, &[("prod", &HOSTS)], port);
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(
        text.contains("tcp://10.213.0.51:2376") && text.contains("tls = { ca ="),
        "the inventory reaches the hosts over TLS: {text}"
    );

    let (code, out) = shipdeck_text(&["status"], &config, &state);
    assert_eq!(code, 0, "status over TLS: {out}");
    assert!(out.contains("engines: 2/2 reachable"), "{out}");

    deploys(&project, "v1", &config, &state, port, "deploy v1 over TLS").await;

    deploys(&project, "v2", &config, &state, port, "deploy v2 over TLS").await;

    let (code, out) = shipdeck_text(&["status"], &config, &state);
    assert_eq!(code, 0, "status over TLS: {out}");
    assert!(out.contains("v2×2"), "status shows v2 on both hosts: {out}");

    let (code, out) = shipdeck_text(&["rollback", &project, "prod", "--yes"], &config, &state);
    assert_eq!(code, 0, "rollback over TLS: {out}");
    assert_all_serve(&HOSTS, &project, "prod", port, "v1").await;

    clean(&project, "prod", &HOSTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tls_handshakes_say_which_check_failed_and_change_nothing() {
    let project = unique("tlsno");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let port = 8092;
    clean(&project, "prod", &HOSTS).await;
    let config = write_config(dir.path(), &project, &[("prod", &HOSTS)], port);
    deploys(&project, "v1", &config, &state, port, "deploy v1 over TLS").await;
    let before = snapshot(&project).await;
    assert!(
        before.len() >= 2,
        "the snapshot sees the app containers: {before:?}"
    );

    let ca = tls_file("ca.pem").display().to_string();
    let other_ca = tls_file("other-ca.pem").display().to_string();
    let client = tls_file("client.pem").display().to_string();
    let client_key = tls_file("client-key.pem").display().to_string();
    let expired = tls_file("expired-client.pem").display().to_string();
    let expired_key = tls_file("expired-client-key.pem").display().to_string();
    let cases = [
        (
            "wrong CA",
            variant(
                &config,
                "h42",
                |s| s.replace(&ca, &other_ca),
                "wrong-ca.toml",
            ),
            vec![
                "h42".to_string(),
                "not signed by the configured CA".to_string(),
                format!("\"{other_ca}\""),
            ],
        ),
        (
            "expired client certificate",
            variant(
                &config,
                "h41",
                |s| {
                    s.replace(&client_key, &expired_key)
                        .replace(&client, &expired)
                },
                "expired.toml",
            ),
            vec![
                "h41".to_string(),
                format!("the client certificate \"{expired}\" expired on"),
                "renew it".to_string(),
            ],
        ),
        (
            "server name",
            variant(
                &config,
                "h42",
                |s| s.replace("10.213.0.52:2376", "10.213.0.152:2376"),
                "alias.toml",
            ),
            vec![
                "h42".to_string(),
                "not issued for \"10.213.0.152\"".to_string(),
                "subjectAltName".to_string(),
            ],
        ),
    ];
    for (what, bad, needles) in &cases {
        let (code, out) = shipdeck_text(&["status"], bad, &state);
        assert_eq!(code, 3, "{what}: status exits 3 (unreachable): {out}");
        for n in needles {
            assert!(out.contains(n.as_str()), "{what}: status says {n:?}: {out}");
        }
        let (code, out) = shipdeck_text(&["deploy", &project, "prod", "v2", "--yes"], bad, &state);
        assert_eq!(
            code, 2,
            "{what}: the deploy is refused before anything: {out}"
        );
        assert!(out.contains("nothing was changed"), "{what}: {out}");
        for n in needles {
            assert!(out.contains(n.as_str()), "{what}: deploy says {n:?}: {out}");
        }
        let (code, out) = shipdeck_text(&["rollback", &project, "prod", "--yes"], bad, &state);
        assert_ne!(code, 0, "{what}: the rollback is refused: {out}");
        for n in needles {
            assert!(
                out.contains(n.as_str()),
                "{what}: rollback says {n:?}: {out}"
            );
        }
        assert_eq!(
            snapshot(&project).await,
            before,
            "{what}: no container changed on either host"
        );
    }
    assert_all_serve(&HOSTS, &project, "prod", port, "v1").await;

    // The good inventory still works after the refusals.
    deploys(
        &project,
        "v2",
        &config,
        &state,
        port,
        "deploy v2 with the right TLS files",
    )
    .await;
    clean(&project, "prod", &HOSTS).await;
}
