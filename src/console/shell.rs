//! A shell in a container: the console leaves the alternate screen, the
//! terminal's bytes go to an exec with a TTY and its output comes back,
//! until the shell exits; then the console takes the screen back.

use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 1024];
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
            n = stdin.read(&mut buf) => match n {
                Ok(0) => break Ok(format!("shell in {container} on {host} ended")),
                Ok(n) => {
                    if exec.input.write_all(&buf[..n]).await.is_err() {
                        break Ok(format!("shell in {container} on {host} ended"));
                    }
                    let _ = exec.input.flush().await;
                }
                Err(e) => break Err(format!("reading the terminal failed: {e}")),
            },
        }
    };
    // tokio's stdin reader may still wait on a read: give the console its
    // keys back by letting that read finish on the next key (documented).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen);
    let _ = terminal.clear();
    result
}
