//! Key-to-screen latency, for `scripts/bench-console` only.
//!
//! With `SHIPDECK_BENCH_LATENCY=<file>` set, every key event the loop
//! receives is timed from the moment it comes out of the terminal's event
//! stream to the end of the next `terminal.draw()`; one line per key, the
//! microseconds as an integer, is appended to the file after that draw. With
//! the variable unset (the normal case) nothing is recorded and no file is
//! opened. A write error turns the recorder off; the console never fails
//! because of it.

use std::fs::File;
use std::io::Write;
use std::time::Instant;

/// The environment variable that names the file.
pub const ENV: &str = "SHIPDECK_BENCH_LATENCY";

pub struct LatencyLog {
    file: Option<File>,
    /// Keys received since the last draw.
    pending: Vec<Instant>,
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
            self.pending.push(Instant::now());
        }
    }

    /// A draw just ended: every key received before it is on screen.
    pub fn drawn(&mut self) {
        let Some(f) = self.file.as_mut() else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let mut s = String::new();
        for t in self.pending.drain(..) {
            s.push_str(&t.elapsed().as_micros().to_string());
            s.push('\n');
        }
        if f.write_all(s.as_bytes()).is_err() {
            self.file = None;
        }
    }
}
