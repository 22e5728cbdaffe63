//! A shell in a container: the console leaves the alternate screen, the
//! terminal's bytes go to an exec with a TTY and its output comes back,
//! until the shell exits; then the console takes the screen back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::engine::Engine;

pub async fn run(
    terminal: &mut ratatui::DefaultTerminal,
    config: &Config,
    host: &str,
    container: &str,
) -> Result<String, String> {
    let engine = Engine::connect_host(config, host)
        .await
        .map_err(|e| format!("shell on {host}: {e}"))?;
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    let mut exec = engine
        .shell(container, cols, rows)
        .await
        .map_err(|e| format!("shell on {host}: {e}"))?;
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let mut stdout = tokio::io::stdout();
    let _ = stdout
        .write_all(
            format!("shipdeck: a shell in {container} on {host}; exit returns to the console\r\n")
                .as_bytes(),
        )
        .await;
    let _ = stdout.flush().await;
    let mut stdin = StdinPump::start();
    let result = loop {
        tokio::select! {
            out = exec.output.next() => match out {
                Some(Ok(chunk)) => {
                    let _ = stdout.write_all(&chunk.into_bytes()).await;
                    let _ = stdout.flush().await;
                }
                Some(Err(e)) => break Err(format!("shell on {host}: {e}")),
                None => break Ok(format!("shell in {container} on {host} ended")),
            },
            bytes = stdin.rx.recv() => match bytes {
                None => break Ok(format!("shell in {container} on {host} ended")),
                Some(Ok(bytes)) => {
                    if exec.input.write_all(&bytes).await.is_err() {
                        break Ok(format!("shell in {container} on {host} ended"));
                    }
                    let _ = exec.input.flush().await;
                }
                Some(Err(e)) => break Err(format!("reading the terminal failed: {e}")),
            },
        }
    };
    // No read is left pending: the console's key reader gets every key.
    stdin.stop().await;
    let _ = crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen);
    let _ = terminal.clear();
    result
}

/// The terminal's bytes for the shell, read on a thread of its own that
/// never leaves a read pending (tokio's stdin would: its blocking read
/// cannot be cancelled and eats the first key typed after the shell):
/// it waits at most 50 ms at a time for input and reads only what is there.
struct StdinPump {
    rx: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StdinPump {
    fn start() -> Self {
        let (tx, rx) = mpsc::channel(64);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            use rustix::event::{PollFd, PollFlags, Timespec, poll};
            let stdin = std::io::stdin();
            let wait = Timespec {
                tv_sec: 0,
                tv_nsec: 50_000_000,
            };
            let mut buf = [0u8; 1024];
            while !flag.load(Ordering::Relaxed) {
                let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
                match poll(&mut fds, Some(&wait)) {
                    Ok(0) => continue,
                    Ok(_) => {}
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e.into()));
                        return;
                    }
                }
                let sent = match rustix::io::read(&stdin, &mut buf) {
                    // End of input: the shell's side ends too.
                    Ok(0) => return,
                    Ok(n) => tx.blocking_send(Ok(buf[..n].to_vec())),
                    Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
                    Err(e) => tx.blocking_send(Err(e.into())),
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        Self {
            rx,
            stop,
            thread: Some(thread),
        }
    }

    /// Stop the reader and wait (at most one poll) until it has.
    async fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.rx.close();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}
