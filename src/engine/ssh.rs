//! An `ssh://` engine: one `ssh` process per host (the system's OpenSSH
//! client, so ~/.ssh/config, the agent and ProxyJump work as they do for
//! the operator) that forwards a local unix socket to the engine's socket on
//! the host; the Docker client talks to that local socket. The host's key
//! must already be in known_hosts (`StrictHostKeyChecking=yes`: never
//! trusted on first use, a changed key refused), and a refusal says which
//! check failed and what to do.
//!
//! One tunnel per (endpoint, options) is shared by every client of the
//! process and made again when its ssh exits. The ssh processes die with
//! shipdeck (a parent-death signal), and [`close_all`] ends them at exit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use crate::config::SshOptions;

/// An `ssh://[user@]host[:port]` endpoint, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("ssh://").unwrap_or(url);
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, hp)) => (Some(u.to_string()), hp),
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: an IPv6 address without its closing ']'"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("{url:?}: the port {p:?} is not a number"))
            })
            .transpose()?;
        // ssh would read a leading '-' as an option.
        if host.is_empty()
            || host.starts_with('-')
            || user.as_deref().is_some_and(|u| u.starts_with('-'))
        {
            return Err(format!("{url:?}: not a host ssh can be given"));
        }
        Ok(Self { user, host, port })
    }

    fn shown(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        match &self.user {
            Some(u) => format!("{u}@{}{port}", self.host),
            None => format!("{}{port}", self.host),
        }
    }
}

/// A running tunnel: the ssh child and the directory of its local socket.
struct Tunnel {
    child: Mutex<tokio::process::Child>,
    dir: PathBuf,
}

impl Tunnel {
    fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    fn alive(&self) -> bool {
        self.child
            .lock()
            .map(|mut c| matches!(c.try_wait(), Ok(None)))
            .unwrap_or(false)
            && self.socket().exists()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Key = (String, SshOptions);
/// One slot per endpoint: callers that connect at once wait for the one
/// tunnel being made instead of each making (and replacing) their own.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Tunnel>>>>;

static TUNNELS: LazyLock<Mutex<HashMap<Key, Slot>>> = LazyLock::new(Default::default);

/// End every tunnel of this process (at exit).
pub fn close_all() {
    if let Ok(mut t) = TUNNELS.lock() {
        t.clear();
    }
}

/// Calls [`close_all`] when dropped: hold one for the life of `main`.
pub struct CloseAtExit;

impl Drop for CloseAtExit {
    fn drop(&mut self) {
        close_all();
    }
}

fn slot(key: &Key) -> Option<Slot> {
    let mut all = TUNNELS.lock().ok()?;
    Some(all.entry(key.clone()).or_default().clone())
}

/// The local socket of a live tunnel to `url`'s engine, made when there is
/// none (bounded by `timeout`). `Err` says why, in words for the operator.
pub async fn tunnel(url: &str, opts: &SshOptions, timeout: Duration) -> Result<PathBuf, String> {
    let key = (url.to_string(), opts.clone());
    let slot = slot(&key).ok_or("the tunnel registry is unusable (a thread panicked)")?;
    let mut current = slot.lock().await;
    if let Some(t) = current.as_ref()
        && t.alive()
    {
        return Ok(t.socket());
    }
    let target = Target::parse(url)?;
    let t = open(&target, opts, timeout).await?;
    let sock = t.socket();
    *current = Some(Arc::new(t));
    Ok(sock)
}

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Tunnel directories of shipdeck processes that are gone (killed before
/// they could clean up) are removed.
fn remove_stale_dirs(tmp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("shipdeck-ssh-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A fresh 0700 directory for one tunnel's socket and log.
fn socket_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    remove_stale_dirs(&std::env::temp_dir());
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("shipdeck-ssh-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot make the tunnel's directory {}: {e}", dir.display()))?;
    Ok(dir)
}

async fn open(target: &Target, opts: &SshOptions, timeout: Duration) -> Result<Tunnel, String> {
    let dir = socket_dir()?;
    let local = dir.join("docker.sock");
    let log_path = dir.join("ssh.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot write {}: {e}", log_path.display()))?;
    let mut cmd = tokio::process::Command::new("ssh");
    let secs = timeout.as_secs().max(1);
    cmd.args(["-N", "-T"])
        .args(["-o", "BatchMode=yes"])
        .args(["-o", "StrictHostKeyChecking=yes"])
        .args(["-o", "ExitOnForwardFailure=yes"])
        .args(["-o", "ControlMaster=no", "-o", "ControlPath=none"])
        .args([
            "-o",
            "ServerAliveInterval=10",
            "-o",
            "ServerAliveCountMax=3",
        ])
        .args(["-o", "LogLevel=INFO"])
        .arg("-o")
        .arg(format!("ConnectTimeout={secs}"));
    if let Some(k) = &opts.key {
        cmd.args(["-o", "IdentitiesOnly=yes", "-i"]).arg(k);
    }
    if let Some(kh) = &opts.known_hosts {
        cmd.arg("-o")
            .arg(format!("UserKnownHostsFile={}", kh.display()));
    }
    if let Some(p) = target.port {
        cmd.arg("-p").arg(p.to_string());
    }
    if let Some(u) = &target.user {
        cmd.arg("-l").arg(u);
    }
    cmd.arg("-L")
        .arg(format!("{}:{}", local.display(), opts.socket()))
        .arg("--")
        .arg(&target.host)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    // SAFETY: between fork and exec only the async-signal-safe prctl call
    // runs; it makes the kernel end this ssh when shipdeck dies (even by
    // SIGKILL), so no tunnel outlives it.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        format!("cannot run ssh: {e}; install the OpenSSH client (Debian: apt-get install openssh-client)")
    })?;
    let deadline = tokio::time::Instant::now() + timeout + Duration::from_secs(1);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let said = std::fs::read_to_string(&log_path).unwrap_or_default();
            let _ = std::fs::remove_dir_all(&dir);
            return Err(explain(target, opts, &said, status.code()));
        }
        if local.exists() && tokio::net::UnixStream::connect(&local).await.is_ok() {
            return Ok(Tunnel {
                child: Mutex::new(child),
                dir,
            });
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.start_kill();
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!(
                "ssh to {} did not set up its tunnel within {secs}s; check that sshd answers there",
                target.shown()
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// What ssh said, in words that say which check failed and what to do.
fn explain(target: &Target, opts: &SshOptions, said: &str, code: Option<i32>) -> String {
    let host = &target.host;
    let kh = opts.known_hosts.as_deref().map_or_else(
        || "~/.ssh/known_hosts".to_string(),
        |p| p.display().to_string(),
    );
    let who = target.shown();
    let last = said
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('@'))
        .unwrap_or("")
        .to_string();
    if said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        return format!(
            "the host key of {host} has CHANGED: it is not the key {kh} holds for it, so nothing was sent (it may be another machine). If the host was reinstalled, check the new key's fingerprint with its owner (ssh-keyscan {host} | ssh-keygen -lf -), then replace the old line: ssh-keygen -R {host} -f {kh}"
        );
    }
    if said.contains("Host key verification failed") || said.contains("host key is known") {
        return format!(
            "{host} is not in {kh}: shipdeck never trusts a host key on first use. Check its fingerprint with the host's owner (ssh-keyscan {host} | ssh-keygen -lf -), then add it: ssh-keyscan {host} >> {kh}"
        );
    }
    if said.contains("Permission denied") {
        let key = opts.key.as_deref().map_or_else(
            || "the agent's and ~/.ssh's keys".to_string(),
            |k| format!("the key {}", k.display()),
        );
        return format!(
            "{who} refused {key} ({last}); check the user and that its public key is in that user's authorized_keys on {host}"
        );
    }
    for (needle, why) in [
        ("Connection refused", "nothing listens there"),
        ("Connection timed out", "no answer"),
        ("timed out", "no answer"),
        ("No route to host", "no route to it"),
        ("Could not resolve hostname", "the name does not resolve"),
        ("Network is unreachable", "the network is unreachable"),
    ] {
        if said.contains(needle) {
            return format!(
                "sshd on {} does not answer ({why}: {last}); check the address and port, and that sshd runs there",
                target.shown()
            );
        }
    }
    if said.contains("forwarding") || said.contains("open failed") {
        return format!(
            "{who} did not forward to the engine's socket {} ({last}); check `ssh.socket`, and that sshd allows stream-local forwarding (AllowStreamLocalForwarding)",
            opts.socket()
        );
    }
    match code {
        Some(c) => format!("ssh to {who} exited with code {c}: {last}"),
        None => format!("ssh to {who} was killed: {last}"),
    }
}

/// Why a call through a live tunnel failed, when ssh said so (the
/// engine's socket on the host could not be opened).
pub fn channel_refused(url: &str, opts: &SshOptions) -> Option<String> {
    let key = (url.to_string(), opts.clone());
    let slot = TUNNELS.lock().ok()?.get(&key)?.clone();
    let dir = slot.try_lock().ok()?.as_ref()?.dir.clone();
    let said = std::fs::read_to_string(dir.join("ssh.log")).unwrap_or_default();
    let line = said.lines().rev().find(|l| l.contains("open failed"))?;
    Some(format!(
        "the engine's socket {} on the host could not be opened through ssh ({}); check `ssh.socket` and that the ssh user may use that socket (its group)",
        opts.socket(),
        line.trim()
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn targets_are_taken_apart() {
        let t = Target::parse("ssh://deploy@10.0.0.9:2222").unwrap();
        assert_eq!(
            t,
            Target {
                user: Some("deploy".into()),
                host: "10.0.0.9".into(),
                port: Some(2222)
            }
        );
        let t = Target::parse("ssh://[fd00::5]:22").unwrap();
        assert_eq!(t.host, "fd00::5");
        assert_eq!(t.port, Some(22));
        assert_eq!(Target::parse("ssh://edge-01").unwrap().user, None);
        assert!(Target::parse("ssh://-oProxyCommand=x").is_err());
        assert!(Target::parse("ssh://-l@host").is_err());
    }

    #[test]
    fn each_refusal_says_which_check_failed() {
        let t = Target::parse("ssh://ops@10.0.0.9").unwrap();
        let o = SshOptions {
            key: Some("/k/id".into()),
            known_hosts: Some("/k/known".into()),
            socket: None,
        };
        let changed = "@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@\nHost key verification failed.\n";
        assert!(explain(&t, &o, changed, Some(255)).contains("has CHANGED"));
        let unknown = "No ED25519 host key is known for 10.0.0.9 and you have requested strict checking.\nHost key verification failed.\n";
        let m = explain(&t, &o, unknown, Some(255));
        assert!(
            m.contains("never trusts a host key on first use")
                && m.contains("ssh-keyscan 10.0.0.9 >> /k/known"),
            "{m}"
        );
        let denied = "ops@10.0.0.9: Permission denied (publickey).\n";
        assert!(explain(&t, &o, denied, Some(255)).contains("refused the key /k/id"));
        let refused = "ssh: connect to host 10.0.0.9 port 22: Connection refused\n";
        assert!(
            explain(&t, &o, refused, Some(255)).contains("sshd on ops@10.0.0.9 does not answer")
        );
    }
}
