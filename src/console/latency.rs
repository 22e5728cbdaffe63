//! Key-to-screen latency, for `scripts/bench-console` only.
//!
//! With `SHIPDECK_BENCH_LATENCY=<file>` set, every key event the loop
//! receives is timed from the moment it comes out of the terminal's event
//! stream to the end of the next `terminal.draw()`. One line per key is
//! appended to the file after that draw: three integers in microseconds,
//! the whole latency, the time the draw itself took, and the time the
//! loop's thread spent runnable but waiting for a CPU in between (the
//! scheduler's run-queue delay from `/proc/thread-self/schedstat`; 0 where
//! that file is missing). With the variable unset (the normal case) nothing
//! is recorded and no file is opened. A write error turns the recorder off;
//! the console never fails because of it.

use std::fs::File;
use std::io::Write;
use std::time::{Duration, Instant};

/// The environment variable that names the file.
pub const ENV: &str = "SHIPDECK_BENCH_LATENCY";

pub struct LatencyLog {
    file: Option<File>,
    /// Keys received since the last draw: when, and the thread's run-queue
    /// delay so far (ns).
    pending: Vec<(Instant, u64)>,
}

impl LatencyLog {
    /// From the environment: off unless `SHIPDECK_BENCH_LATENCY` names a file
    /// that can be opened for appending.
    pub fn from_env() -> Self {
        let file = std::env::var_os(ENV)
            .filter(|v| !v.is_empty())
            .and_then(|p| File::options().create(true).append(true).open(p).ok());
        Self {
            file,
            pending: Vec::new(),
        }
    }

    /// A key event was just received.
    pub fn key(&mut self) {
        if self.file.is_some() {
            self.pending.push((Instant::now(), run_queue_ns()));
        }
    }

    /// A draw that took `draw` just ended: every key received before it is
    /// on screen.
    pub fn drawn(&mut self, draw: Duration) {
        let Some(f) = self.file.as_mut() else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let queued_now = run_queue_ns();
        let mut s = String::new();
        for (t, queued) in self.pending.drain(..) {
            let waited = queued_now.saturating_sub(queued) / 1000;
            s.push_str(&format!(
                "{} {} {waited}\n",
                t.elapsed().as_micros(),
                draw.as_micros()
            ));
        }
        if f.write_all(s.as_bytes()).is_err() {
            self.file = None;
        }
    }
}

/// The calling thread's time spent waiting on a run queue, in ns (the
/// second field of `/proc/thread-self/schedstat`); 0 when unknown.
fn run_queue_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}
