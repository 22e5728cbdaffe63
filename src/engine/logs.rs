//! Log streams: one container's log through the Docker API, as lines with
//! their engine timestamps, stderr told apart from stdout, overlong lines
//! cut with a marker. Every line goes into a bounded channel with
//! `try_send`: a reader that cannot keep up gets a count of the lines it
//! missed (a `Dropped` event as soon as there is room again) instead of
//! stalling the engine's stream.

use std::sync::Arc;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::connect::EngineError;

/// Longest line kept; the rest is cut and marked with [`CUT_MARK`].
pub const LINE_MAX: usize = 4000;
/// What ends a line that was cut.
pub const CUT_MARK: &str = " …[cut]";

/// One line of a container's log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// Shared by every line of a stream (one allocation per stream, not
    /// per line).
    pub host: Arc<str>,
    pub container: Arc<str>,
    /// The engine's timestamp of the line.
    pub ts: Option<DateTime<Utc>>,
    pub stderr: bool,
    pub text: String,
}

/// What a stream reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEvent {
    Line(LogLine),
    /// Lines of `host` the reader did not take in time.
    Dropped {
        host: String,
        lines: u64,
    },
    /// A followed stream broke (the engine went away) and is read again
    /// from the last line seen, `secs` after it broke; no line is repeated.
    Reconnected {
        host: String,
        secs: f64,
    },
    /// The stream of `host` ended (the container stopped, or without
    /// `follow` the log was read to its end), or failed.
    Ended {
        host: String,
        error: Option<String>,
    },
    /// Something the reader should know about a stream (which container it
    /// follows now, why a host has none).
    Note {
        host: String,
        text: String,
    },
}

/// Which part of the log, and whether to follow it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogRange {
    /// Only lines from this Unix time on.
    pub since: Option<i64>,
    /// Only the last `tail` lines (before following).
    pub tail: Option<usize>,
    pub follow: bool,
}

/// Split a line that starts with the engine's RFC 3339 timestamp.
fn split_timestamp(line: &str) -> (Option<DateTime<Utc>>, &str) {
    match line.split_once(' ') {
        Some((ts, rest)) => match DateTime::parse_from_rfc3339(ts) {
            Ok(t) => (Some(t.with_timezone(&Utc)), rest),
            Err(_) => (None, line),
        },
        None => (
            DateTime::parse_from_rfc3339(line)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            "",
        ),
    }
}

/// `line` cut to [`LINE_MAX`] characters, marked when cut.
fn cut(line: &str) -> String {
    cut_to(line, LINE_MAX, CUT_MARK)
}

/// `line` cut to `max` characters, `mark` appended when cut.
pub(super) fn cut_to(line: &str, max: usize, mark: &str) -> String {
    // No more bytes than `max`: no more characters either.
    if line.len() <= max {
        return line.to_string();
    }
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}{mark}", &line[..at]),
        None => line.to_string(),
    }
}

/// Sends into a bounded channel without waiting; counts what did not fit.
struct Lossy {
    tx: mpsc::Sender<LogEvent>,
    host: String,
    dropped: u64,
}

impl Lossy {
    /// Report the count of dropped lines if there is room now (a stream
    /// that went quiet after a burst does not keep its count to itself).
    fn flush(&mut self) {
        if self.dropped == 0 {
            return;
        }
        let note = LogEvent::Dropped {
            host: self.host.clone(),
            lines: self.dropped,
        };
        if self.tx.try_send(note).is_ok() {
            self.dropped = 0;
        }
    }

    /// False once the reader is gone.
    fn send(&mut self, ev: LogEvent) -> bool {
        if self.dropped > 0 {
            let note = LogEvent::Dropped {
                host: self.host.clone(),
                lines: self.dropped,
            };
            match self.tx.try_send(note) {
                Ok(()) => self.dropped = 0,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.dropped += 1;
                    return true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        match self.tx.try_send(ev) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped += 1;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

impl Engine {
    /// Stream the log of container `id` (shown as `name`) into `tx` until it
    /// ends, the reader goes away or `cancel` fires. A followed stream that
    /// breaks while its container still runs (an engine restarted) is read
    /// again from the second of the last line seen, lines up to that line
    /// skipped, with a `Reconnected` event at the seam. The end is always
    /// reported (waiting for room: it is one event), after any count of
    /// dropped lines.
    pub async fn stream_logs(
        &self,
        id: &str,
        name: &str,
        range: LogRange,
        tx: mpsc::Sender<LogEvent>,
        cancel: CancellationToken,
    ) {
        let mut out = Lossy {
            tx: tx.clone(),
            host: self.host.clone(),
            dropped: 0,
        };
        let mut last: Option<DateTime<Utc>> = None;
        let mut range = range;
        let error = loop {
            let started = std::time::Instant::now();
            let pass = self
                .read_logs(id, name, range, last, &mut out, &cancel)
                .await;
            let error = match pass {
                Pass::Gone => return,
                Pass::Cancelled => break None,
                Pass::Ended { error, last: l } => {
                    last = l.or(last);
                    error
                }
            };
            if !range.follow {
                break error;
            }
            // Followed: did the container stop, or did the engine go away?
            let broke = std::time::Instant::now();
            let again = loop {
                match self.container_status(id).await {
                    Ok(Some(st)) if st.running => break true,
                    Ok(_) => break false,
                    Err(_) => {}
                }
                tokio::select! {
                    _ = cancel.cancelled() => break false,
                    _ = tokio::time::sleep(RETRY) => {}
                }
            };
            if !again {
                // The container stopped (its log is complete), or the
                // reader stopped waiting.
                break None;
            }
            // A stream that keeps ending at once is not read in a tight loop.
            if started.elapsed() < RETRY {
                tokio::time::sleep(RETRY).await;
            }
            if !out.send(LogEvent::Reconnected {
                host: self.host.clone(),
                secs: broke.elapsed().as_secs_f64(),
            }) {
                return;
            }
            // From the second of the last line seen (the engine counts in
            // whole seconds); what was shown already is skipped.
            range = LogRange {
                since: last.map(|t| t.timestamp()).or(range.since),
                tail: if last.is_some() { None } else { range.tail },
                follow: true,
            };
        };
        if out.dropped > 0 {
            let _ = tx
                .send(LogEvent::Dropped {
                    host: self.host.clone(),
                    lines: out.dropped,
                })
                .await;
        }
        let _ = tx
            .send(LogEvent::Ended {
                host: self.host.clone(),
                error,
            })
            .await;
    }

    /// One read of the log; lines at or before `after` are skipped.
    async fn read_logs(
        &self,
        id: &str,
        name: &str,
        range: LogRange,
        after: Option<DateTime<Utc>>,
        out: &mut Lossy,
        cancel: &CancellationToken,
    ) -> Pass {
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            timestamps: true,
            follow: range.follow,
            since: range
                .since
                .map_or(0, |s| s.clamp(0, i32::MAX as i64) as i32),
            tail: range
                .tail
                .map_or_else(|| "all".to_string(), |n| n.to_string()),
            ..Default::default()
        };
        let mut last = None;
        let mut stream = self.docker.logs(id, Some(opts));
        let (host, container): (Arc<str>, Arc<str>) = (self.host.as_str().into(), name.into());
        // A chunk may end mid-line: the rest waits for the next chunk.
        let mut partial: [String; 2] = Default::default();
        let emit =
            |out: &mut Lossy, stderr: bool, line: &str, last: &mut Option<DateTime<Utc>>| -> bool {
                let (ts, text) = split_timestamp(line);
                if let (Some(t), Some(a)) = (ts, after)
                    && t <= a
                {
                    return true;
                }
                if ts.is_some() {
                    *last = ts;
                }
                out.send(LogEvent::Line(LogLine {
                    host: host.clone(),
                    container: container.clone(),
                    ts,
                    stderr,
                    text: cut(text),
                }))
            };
        // The cancel is looked at once per wake-up (around the whole read),
        // not once per chunk: a flood brings thousands of chunks a second.
        let read = async {
            let error = loop {
                let item = if out.dropped > 0 {
                    tokio::select! {
                        item = stream.next() => item,
                        // Quiet after a burst: the count of dropped lines goes out.
                        _ = tokio::time::sleep(FLUSH) => {
                            out.flush();
                            continue;
                        }
                    }
                } else {
                    stream.next().await
                };
                let (stderr, bytes) = match item {
                    None => break None,
                    Some(Err(e)) => {
                        break Some(
                            EngineError::from_bollard(&self.endpoint, "logs", &e).to_string(),
                        );
                    }
                    Some(Ok(LogOutput::StdErr { message })) => (true, message),
                    Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                        (false, message)
                    }
                    Some(Ok(LogOutput::StdIn { .. })) => continue,
                };
                let text = match std::str::from_utf8(&bytes) {
                    Ok(t) => std::borrow::Cow::Borrowed(t),
                    Err(_) => String::from_utf8_lossy(&bytes),
                };
                // Every whole line of the chunk (the first one joined to what
                // the last chunk left; the engine sends a line a frame, so
                // mostly nothing, and the line goes out without a copy), then
                // what is left of it kept.
                let buf = &mut partial[usize::from(stderr)];
                let mut rest: &str = &text;
                while let Some(end) = rest.find('\n') {
                    let line = &rest[..end];
                    rest = &rest[end + 1..];
                    let whole = if buf.is_empty() {
                        std::borrow::Cow::Borrowed(line)
                    } else {
                        buf.push_str(line);
                        std::borrow::Cow::Owned(std::mem::take(buf))
                    };
                    if !emit(out, stderr, whole.trim_end_matches('\r'), &mut last) {
                        return Pass::Gone;
                    }
                }
                buf.push_str(rest);
            };
            for (i, rest) in partial.iter().enumerate() {
                if !rest.is_empty() && !emit(out, i == 1, rest, &mut last) {
                    return Pass::Gone;
                }
            }
            Pass::Ended { error, last }
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Pass::Cancelled,
            p = read => p,
        }
    }
}

/// How one read of a log ended.
enum Pass {
    /// The reader went away.
    Gone,
    Cancelled,
    /// The stream ended (an error, if it broke); the last line's time.
    Ended {
        error: Option<String>,
        last: Option<DateTime<Utc>>,
    },
}

/// How soon a quiet stream reports the lines it dropped.
const FLUSH: std::time::Duration = std::time::Duration::from_millis(200);

/// How often a broken follow asks whether its engine is back.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_split_off() {
        let (ts, text) = split_timestamp("2026-12-01T10:00:00.123456789Z hello world");
        assert_eq!(text, "hello world");
        assert_eq!(ts.map(|t| t.timestamp_subsec_nanos()), Some(123_456_789));
        assert_eq!(split_timestamp("no stamp here"), (None, "no stamp here"));
    }

    #[test]
    fn long_lines_are_cut_with_a_marker() {
        let long = "é".repeat(LINE_MAX + 10);
        let c = cut(&long);
        assert!(c.ends_with(CUT_MARK));
        assert_eq!(c.chars().count(), LINE_MAX + CUT_MARK.chars().count());
        assert_eq!(cut("short"), "short");
    }

    #[tokio::test]
    async fn a_full_channel_counts_dropped_lines_and_reports_them_when_there_is_room() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut s = Lossy {
            tx,
            host: "h1".into(),
            dropped: 0,
        };
        let line = |n: usize| {
            LogEvent::Line(LogLine {
                host: "h1".into(),
                container: "c".into(),
                ts: None,
                stderr: false,
                text: n.to_string(),
            })
        };
        for n in 0..5 {
            assert!(s.send(line(n)));
        }
        assert_eq!(s.dropped, 3);
        assert_eq!(rx.recv().await, Some(line(0)));
        assert_eq!(rx.recv().await, Some(line(1)));
        // Room again: the count goes first, then the next line.
        assert!(s.send(line(5)));
        assert_eq!(
            rx.recv().await,
            Some(LogEvent::Dropped {
                host: "h1".into(),
                lines: 3
            })
        );
        assert_eq!(rx.recv().await, Some(line(5)));
        drop(rx);
        assert!(!s.send(line(6)));
    }
}
