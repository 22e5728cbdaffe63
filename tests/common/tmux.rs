//! The console in tmux, driven as a person would: keys in, screen out.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    session: String,
}

impl Tmux {
    /// `tag` tells the sessions of tests running side by side apart.
    /// A 150x40 terminal.
    pub fn start(config: &std::path::Path, state_dir: &std::path::Path, tag: &str) -> Self {
        Self::spawn(config, state_dir, tag, &[], 40)
    }

    /// Like [`Tmux::start`], with extra console arguments, in a 150x45 terminal.
    pub fn start_with(
        config: &std::path::Path,
        state_dir: &std::path::Path,
        tag: &str,
        args: &[&str],
    ) -> Self {
        Self::spawn(config, state_dir, tag, args, 45)
    }

    fn spawn(
        config: &std::path::Path,
        state_dir: &std::path::Path,
        tag: &str,
        args: &[&str],
        rows: u16,
    ) -> Self {
        let mut argv: Vec<std::ffi::OsString> = vec![
            "env".into(),
            format!("XDG_STATE_HOME={}", state_dir.display()).into(),
            env!("CARGO_BIN_EXE_shipdeck").into(),
            "--config".into(),
            config.into(),
        ];
        argv.extend(args.iter().map(std::ffi::OsString::from));
        Self::spawn_argv(tag, rows, None, &argv)
    }

    /// The console without `--config`, in `dir`, in a 150x40 terminal: no
    /// inventory variable or Docker variable of the test's own environment
    /// reaches it; `env` sets what it gets instead (HOME, XDG dirs,
    /// DOCKER_CONFIG, DOCKER_HOST…).
    pub fn start_bare(dir: &std::path::Path, tag: &str, env: &[(&str, String)]) -> Self {
        let mut argv: Vec<std::ffi::OsString> = vec!["env".into()];
        for var in [
            "SHIPDECK_CONFIG",
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_CONFIG",
            "DOCKER_TLS",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "XDG_CONFIG_HOME",
            "XDG_STATE_HOME",
        ] {
            argv.push("-u".into());
            argv.push(var.into());
        }
        for (k, v) in env {
            argv.push(format!("{k}={v}").into());
        }
        argv.push(env!("CARGO_BIN_EXE_shipdeck").into());
        Self::spawn_argv(tag, 40, Some(dir), &argv)
    }

    /// A detached session running `argv` (in `dir` when given).
    fn spawn_argv(
        tag: &str,
        rows: u16,
        dir: Option<&std::path::Path>,
        argv: &[std::ffi::OsString],
    ) -> Self {
        let session = format!("shipdeck-it-{}-{tag}", std::process::id());
        let rows = rows.to_string();
        // Tests start consoles side by side: when no tmux server runs yet,
        // two clients can race to start one and one of them fails ("server
        // exited unexpectedly"). Try again (bounded) unless the session is
        // there after all.
        let mut errors = Vec::new();
        for attempt in 0..5 {
            let mut cmd = Command::new("tmux");
            cmd.args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "150",
                "-y",
                &rows,
            ]);
            if let Some(dir) = dir {
                cmd.arg("-c").arg(dir);
            }
            let out = cmd
                .arg("--")
                .args(argv)
                .output()
                .expect("tmux is installed (apt-get install tmux)");
            if out.status.success() || session_exists(&session) {
                return Self { session };
            }
            errors.push(String::from_utf8_lossy(&out.stderr).trim().to_string());
            std::thread::sleep(Duration::from_millis(200 * (attempt + 1)));
        }
        panic!("tmux new-session {session} failed 5 times: {errors:?}");
    }

    pub fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait (bounded) until every needle is on screen; returns the screen.
    pub fn wait_for(&self, needles: &[&str], limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if needles.iter().all(|n| s.contains(n)) {
                return s;
            }
            if start.elapsed() > limit {
                panic!("not on screen within {limit:?}: {needles:?}\n--- screen ---\n{s}");
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// The console's process id (tmux's pane runs it through `env`, which
    /// execs it).
    pub fn pid(&self) -> u32 {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, "#{pane_pid}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    pub fn alive(&self) -> bool {
        session_exists(&self.session)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .output();
    }
}

impl Tmux {
    /// Type `text` literally (no key names).
    pub fn type_text(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Open the console on `env`'s hosts view (through the palette).
    pub fn open_env(&self, project: &str, env: &str) {
        self.wait_for(&["projects", project], Duration::from_secs(15));
        self.keys(&[":"]);
        self.type_text(&format!("env {project}/{env}"));
        self.keys(&["Enter"]);
        self.wait_for(&[&format!("{env} › hosts")], Duration::from_secs(10));
    }

    /// Quit with `q` and wait (bounded) for the console to exit.
    pub fn quit(&self) {
        self.keys(&["q"]);
        let start = Instant::now();
        while self.alive() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "q did not quit:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn session_exists(session: &str) -> bool {
    Command::new("tmux")
        .args(["has-session", "-t", session])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The line of the screen that mentions `needle`.
pub fn line_of<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen.lines().find(|l| l.contains(needle)).unwrap_or("")
}
