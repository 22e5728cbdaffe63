//! What the console does to one container beyond rollouts: the last lines
//! of its log, a restart, and an interactive shell (an exec with a TTY whose
//! input and output the caller wires to the terminal). Bounded like every
//! other call; errors name the host.

use bollard::container::LogOutput;
use bollard::exec::{ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::{LogsOptions, RestartContainerOptions};
use futures::StreamExt;

use super::Engine;
use super::connect::{EngineError, timed};

/// Longest log line kept (a progress bar without newlines…).
const LINE_MAX: usize = 2000;

/// An attached exec: its output stream and its input.
pub struct Exec {
    pub output: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
    >,
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

impl Engine {
    /// The last `n` lines of a container's log (stdout and stderr, stderr
    /// lines marked), oldest first.
    pub async fn log_tail(&self, id: &str, n: usize) -> Result<Vec<String>, EngineError> {
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            tail: n.to_string(),
            ..Default::default()
        };
        let read = async {
            let mut stream = self.docker.logs(id, Some(opts));
            let mut lines = Vec::new();
            while let Some(item) = stream.next().await {
                let item =
                    item.map_err(|e| EngineError::from_bollard(&self.endpoint, "logs", &e))?;
                let (prefix, bytes) = match item {
                    LogOutput::StdErr { message } => ("stderr| ", message),
                    LogOutput::StdOut { message } | LogOutput::Console { message } => ("", message),
                    LogOutput::StdIn { .. } => continue,
                };
                for l in String::from_utf8_lossy(&bytes).lines() {
                    let cut = super::logs::cut_to(l, LINE_MAX, "…");
                    lines.push(format!("{prefix}{cut}"));
                }
            }
            Ok::<_, EngineError>(lines)
        };
        let mut lines = match tokio::time::timeout(self.op_timeout(), read).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(EngineError::api(
                    &self.endpoint,
                    "logs",
                    format!("no answer within {}s", self.op_timeout().as_secs()),
                ));
            }
        };
        let keep = lines.len().saturating_sub(n);
        lines.drain(..keep);
        Ok(lines)
    }

    /// Restart a container (10 s grace before SIGKILL).
    pub async fn restart(&self, id: &str) -> Result<(), EngineError> {
        const GRACE_SECS: i32 = 10;
        let grace = std::time::Duration::from_secs(GRACE_SECS as u64);
        timed(
            &self.endpoint,
            "restart container",
            self.op_timeout() + grace,
            self.docker
                .clone()
                .with_timeout(self.op_timeout() + grace)
                .restart_container(
                    id,
                    Some(RestartContainerOptions {
                        t: Some(GRACE_SECS),
                        ..Default::default()
                    }),
                ),
        )
        .await
    }

    /// Start a shell (`sh`) in a running container with a TTY of
    /// `cols`×`rows`, attached.
    pub async fn shell(&self, id: &str, cols: u16, rows: u16) -> Result<Exec, EngineError> {
        let created = timed(
            &self.endpoint,
            "create exec",
            self.op_timeout(),
            self.docker.create_exec(
                id,
                ExecConfig {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(true),
                    env: Some(vec!["TERM=xterm-256color".into()]),
                    cmd: Some(vec!["sh".into()]),
                    ..Default::default()
                },
            ),
        )
        .await?;
        let started = timed(
            &self.endpoint,
            "start exec",
            self.op_timeout(),
            self.docker.start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: true,
                    ..Default::default()
                }),
            ),
        )
        .await?;
        let _ = self
            .docker
            .resize_exec(
                &created.id,
                ResizeExecOptions {
                    height: rows,
                    width: cols,
                },
            )
            .await;
        match started {
            StartExecResults::Attached { output, input } => Ok(Exec { output, input }),
            StartExecResults::Detached => Err(EngineError::api(
                &self.endpoint,
                "start exec",
                "the engine did not attach the shell",
            )),
        }
    }
}
