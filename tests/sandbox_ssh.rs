//! SSH engines on the sandbox: every plain host runs an sshd in its
//! namespace (scripts/sandbox), user `shipdeck` may use the host's Docker
//! socket. shipdeck reaches hosts as `ssh://shipdeck@ADDR` with the
//! sandbox's key and known_hosts; the test looks at the hosts over plain
//! TCP, a path that does not go through the tunnel it checks.
//!
//! Faults: a host key that changed, a host that is not in known_hosts (no
//! trust on first use), a key the host refuses, an sshd that does not
//! answer, and an engine socket that is not there. Each is refused with a
//! message that says which and what to do, and no container changes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::tmux::Tmux;
use common::*;

fn ssh_dir() -> PathBuf {
    sandbox_dir().join("ssh")
}

/// `[[hosts]]` of sandbox hosts `hosts` reached over SSH, with `key` and
/// `known_hosts` (the sandbox's unless a test gives its own).
fn ssh_hosts(hosts: &[usize], key: &Path, known_hosts: &Path, port: Option<u16>) -> String {
    let mut s = String::new();
    for &n in hosts {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        s.push_str(&format!(
            "[[hosts]]\nname = \"{}\"\nendpoint = \"ssh://shipdeck@{}{port}\"\naddress = \"{}\"\nssh = {{ key = \"{}\", known_hosts = \"{}\", socket = \"{}\" }}\n\n",
            host_name(n),
            host_addr(n),
            host_addr(n),
            key.display(),
            known_hosts.display(),
            sandbox_dir().join(host_name(n)).join("docker.sock").display(),
        ));
    }
    s
}

/// An inventory for `project` in `prod` on `hosts` over SSH.
fn inventory(
    dir: &Path,
    name: &str,
    project: &str,
    hosts: &[usize],
    port: u16,
    hosts_toml: &str,
) -> PathBuf {
    let plain = write_config(dir, project, &[("prod", hosts)], port);
    let text = std::fs::read_to_string(&plain).unwrap();
    let start = text.find("[[hosts]]").expect("hosts");
    let end = text.find("[[projects]]").expect("projects");
    let out = format!("{}{hosts_toml}{}", &text[..start], &text[end..]);
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

/// Every container of `project` on the hosts: host, id, version, state.
async fn snapshot(hosts: &[usize], project: &str) -> Vec<(usize, Vec<(String, String, String)>)> {
    let mut out = Vec::new();
    for &n in hosts {
        out.push((n, host_run(n, project, "prod").await.all));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_deploy_rollback_and_the_live_view_over_ssh() {
    // Short: the projects view shows it whole.
    let project = "it-ssh-live".to_string();
    let hosts = [6, 7];
    let port = 18721;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    clean(&project, "prod", &hosts).await;
    let hosts_toml = ssh_hosts(
        &hosts,
        &ssh_dir().join("id_ed25519"),
        &ssh_dir().join("known_hosts"),
        None,
    );
    let cfg = inventory(dir.path(), "ssh.toml", &project, &hosts, port, &hosts_toml);

    let (code, out) = shipdeck_text(&["status"], &cfg, &state);
    assert_eq!(code, 0, "status over SSH: {out}");
    assert!(out.contains("engines: 2/2 reachable"), "{out}");
    for v in ["v1", "v2"] {
        let (code, out) = shipdeck_text(&["deploy", &project, "prod", v, "--yes"], &cfg, &state);
        assert_eq!(code, 0, "deploy {v} over SSH: {out}");
        assert_all_serve(&hosts, &project, "prod", port, v).await;
    }
    let (code, out) = shipdeck_text(&["rollback", &project, "prod", "--yes"], &cfg, &state);
    assert_eq!(code, 0, "rollback over SSH: {out}");
    assert_all_serve(&hosts, &project, "prod", port, "v1").await;

    // The live view: the console follows the engines' events through the
    // tunnels; a deploy made elsewhere shows up without a key press.
    let tui = Tmux::start(&cfg, &state, "ssh");
    tui.open_env(&project, "prod");
    tui.wait_for(&["h06", "h07", "v1"], Duration::from_secs(15));
    let (code, out) = shipdeck_text(&["deploy", &project, "prod", "v2", "--yes"], &cfg, &state);
    assert_eq!(code, 0, "deploy v2 while the console watches: {out}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let screen = tui.screen();
        let rows: Vec<&str> = screen
            .lines()
            .filter(|l| l.contains("h06") || l.contains("h07"))
            .collect();
        if rows.len() >= 2 && rows.iter().all(|r| r.contains("v2") && !r.contains("v1")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the console did not show v2 on both hosts from the events:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    tui.quit();
    // The tunnels end with the console.
    let left = std::process::Command::new("pgrep")
        .args(["-f", &format!("ssh .*shipdeck@{}", host_addr(6))])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "an ssh tunnel outlived the console: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    clean(&project, "prod", &hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_ssh_connections_say_which_check_failed_and_change_nothing() {
    let project = unique("sshno");
    let hosts = [4, 5];
    let port = 18722;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    clean(&project, "prod", &hosts).await;
    let key = ssh_dir().join("id_ed25519");
    let known = ssh_dir().join("known_hosts");
    let good = inventory(
        dir.path(),
        "good.toml",
        &project,
        &hosts,
        port,
        &ssh_hosts(&hosts, &key, &known, None),
    );
    let (code, out) = shipdeck_text(&["deploy", &project, "prod", "v1", "--yes"], &good, &state);
    assert_eq!(code, 0, "{out}");
    let before = snapshot(&hosts, &project).await;

    // Another key pair: a host key that is not h05's, and a client key
    // that no authorized_keys holds.
    let other = dir.path().join("other");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "other", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(made.success());
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let other_key: String = other_pub.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let real = std::fs::read_to_string(&known).unwrap();
    let changed = dir.path().join("known_changed");
    std::fs::write(
        &changed,
        real.lines()
            .map(|l| {
                if l.starts_with(&format!("{} ", host_addr(5))) {
                    format!("{} {other_key}", host_addr(5))
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .unwrap();
    let empty = dir.path().join("known_empty");
    std::fs::write(&empty, "").unwrap();
    let h05 = host_addr(5);
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "changed host key",
            ssh_hosts(&hosts, &key, &changed, None),
            vec![
                format!("the host key of {h05} has CHANGED"),
                format!("ssh-keygen -R {h05} -f {}", changed.display()),
            ],
        ),
        (
            "unknown host",
            ssh_hosts(&hosts, &key, &empty, None),
            vec![
                "never trusts a host key on first use".to_string(),
                format!("ssh-keyscan {h05} >> {}", empty.display()),
            ],
        ),
        (
            "refused key",
            ssh_hosts(&hosts, &other, &known, None),
            vec![
                format!("refused the key {}", other.display()),
                "authorized_keys".to_string(),
            ],
        ),
        (
            "unreachable sshd",
            ssh_hosts(&hosts, &key, &known, Some(2222)),
            vec![
                format!("sshd on shipdeck@{h05}:2222 does not answer"),
                "Connection refused".to_string(),
            ],
        ),
    ];
    for (i, (what, hosts_toml, needles)) in cases.iter().enumerate() {
        let bad = inventory(
            dir.path(),
            &format!("bad{i}.toml"),
            &project,
            &hosts,
            port,
            hosts_toml,
        );
        let (code, out) = shipdeck_text(&["status"], &bad, &state);
        assert_eq!(code, 3, "{what}: status exits 3 (unreachable): {out}");
        for n in needles {
            assert!(out.contains(n.as_str()), "{what}: status says {n:?}: {out}");
        }
        let (code, out) = shipdeck_text(&["deploy", &project, "prod", "v2", "--yes"], &bad, &state);
        assert_eq!(code, 2, "{what}: refused before anything: {out}");
        assert!(out.contains("nothing was changed"), "{what}: {out}");
        for n in needles {
            assert!(out.contains(n.as_str()), "{what}: deploy says {n:?}: {out}");
        }
        assert_eq!(
            snapshot(&hosts, &project).await,
            before,
            "{what}: no container changed"
        );
    }
    // The changed key was not learned: the real known_hosts is as it was.
    assert_eq!(std::fs::read_to_string(&known).unwrap(), real);
    assert!(
        std::fs::read_to_string(&empty).unwrap().is_empty(),
        "no key was added on first use"
    );

    // A socket that is not there: the tunnel stands, the engine does not answer.
    let no_sock = ssh_hosts(&hosts, &key, &known, None).replace(
        &format!("{}/docker.sock", sandbox_dir().join("h05").display()),
        &format!("{}/docker.sock", sandbox_dir().join("h99").display()),
    );
    let bad = inventory(dir.path(), "nosock.toml", &project, &hosts, port, &no_sock);
    let (code, out) = shipdeck_text(&["status"], &bad, &state);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("h99/docker.sock on the host could not be opened through ssh"),
        "{out}"
    );

    let (code, out) = shipdeck_text(&["deploy", &project, "prod", "v2", "--yes"], &good, &state);
    assert_eq!(code, 0, "the good inventory still deploys: {out}");
    assert_all_serve(&hosts, &project, "prod", port, "v2").await;
    clean(&project, "prod", &hosts).await;
}
