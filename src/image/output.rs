//! The build's output: the log file (private to its owner), and the tracker
//! that splits the engine's stream into lines and follows its `Step N/M`
//! markers. Must not import bollard: the engine hands over plain text.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::run::Builder;
use super::{BuildError, BuildEvent};

/// Lines of the failing step's output kept for the failure report.
const STEP_TAIL: usize = 60;
/// Bytes of output without a newline after which they count as a line.
const PARTIAL_MAX: usize = 64 * 1024;

/// Mode of the `builds/` and project directories: the owner's only.
const DIR_MODE: u32 = 0o700;
/// Mode of a build log: a build's output may show what its steps printed.
const LOG_MODE: u32 = 0o600;

/// The build log: every line also goes to the file.
pub(super) struct Log {
    pub(super) path: PathBuf,
    /// Buffered: flushed when the build ends (and on drop).
    pub(super) file: std::io::BufWriter<std::fs::File>,
}

impl Log {
    /// Opens (appends to) `STATE/builds/PROJECT/VERSION.log`, mode 0600, in
    /// directories of mode 0700; ones left wider by an older version are
    /// tightened.
    pub(super) fn open(state_dir: &Path, project: &str, version: &str) -> Result<Self, BuildError> {
        let builds = state_dir.join("builds");
        let dir = builds.join(project);
        let path = dir.join(format!("{version}.log"));
        let err = |at: &Path, e: std::io::Error| BuildError::Log {
            path: at.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
        for d in [&builds, &dir] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(DIR_MODE))
                .map_err(|e| err(d, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(LOG_MODE)
            .open(&path)
            .map_err(|e| err(&path, e))?;
        // `mode` applies to a new file only.
        file.set_permissions(std::fs::Permissions::from_mode(LOG_MODE))
            .map_err(|e| err(&path, e))?;
        Ok(Self {
            path,
            file: std::io::BufWriter::new(file),
        })
    }

    pub(super) fn line(&mut self, l: &str) {
        let _ = writeln!(self.file, "{l}");
    }
}

/// What failed in a build.
#[derive(Debug)]
pub(super) struct StepFailure {
    pub(super) step: Option<String>,
    pub(super) error: String,
    pub(super) output: Vec<String>,
}

/// Splits the builder's stream into lines and follows its `Step N/M` markers.
#[derive(Default)]
pub(super) struct StepTracker {
    partial: String,
    step: Option<String>,
    output: std::collections::VecDeque<String>,
}

impl StepTracker {
    pub(super) fn push_text(&mut self, b: &Builder<'_>, log: &mut Log, text: &str) {
        self.partial.push_str(text);
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            self.line(b, log, line.trim_end_matches(['\n', '\r']));
        }
        // Output that never ends its line (a progress bar) is cut into lines.
        if self.partial.len() > PARTIAL_MAX {
            self.flush(b, log);
        }
    }

    pub(super) fn flush(&mut self, b: &Builder<'_>, log: &mut Log) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(b, log, line.trim_end());
        }
    }

    pub(super) fn line(&mut self, b: &Builder<'_>, log: &mut Log, line: &str) {
        let clean = strip_ansi(line);
        let line = clean.as_str();
        if let Some((n, total, instr)) = parse_step(line) {
            self.step = Some(format!("{n}/{total} ({instr})"));
            self.output.clear();
            b.emit(
                log,
                BuildEvent::Step {
                    step: n,
                    total,
                    instruction: instr.to_string(),
                },
            );
            return;
        }
        if self.output.len() == STEP_TAIL {
            self.output.pop_front();
        }
        self.output.push_back(line.to_string());
        b.emit(
            log,
            BuildEvent::Output {
                line: line.to_string(),
            },
        );
    }

    pub(super) fn failure(&self, error: String) -> StepFailure {
        StepFailure {
            step: self.step.clone(),
            error,
            output: self.output.iter().cloned().collect(),
        }
    }
}

/// `line` without terminal escape sequences (the classic builder colours a
/// step's stderr red) and other control characters; tabs stay.
fn strip_ansi(line: &str) -> String {
    crate::domain::text::printable(line, "\t").into_owned()
}

/// `Step 3/7 : RUN make` → (3, 7, "RUN make").
fn parse_step(line: &str) -> Option<(u32, u32, &str)> {
    let rest = line.strip_prefix("Step ")?;
    let (nums, instr) = rest.split_once(" : ")?;
    let (n, total) = nums.split_once('/')?;
    Some((n.parse().ok()?, total.parse().ok()?, instr))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn steps() {
        assert_eq!(
            parse_step("Step 3/7 : RUN make all"),
            Some((3, 7, "RUN make all"))
        );
        assert_eq!(parse_step(" ---> Running in abc"), None);
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_log_is_private() {
        let state = tempfile::tempdir().unwrap();
        let log = Log::open(state.path(), "web", "v1").unwrap();
        assert_eq!(log.path, state.path().join("builds/web/v1.log"));
        assert_eq!(mode(&log.path), 0o600);
        assert_eq!(mode(&state.path().join("builds")), 0o700);
        assert_eq!(mode(&state.path().join("builds/web")), 0o700);

        // What an older version left readable is tightened.
        let old = state.path().join("builds/api");
        std::fs::create_dir_all(&old).unwrap();
        let open = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(state.path().join("builds"), open.clone()).unwrap();
        std::fs::set_permissions(&old, open).unwrap();
        std::fs::write(old.join("v0.log"), "old\n").unwrap();
        std::fs::set_permissions(old.join("v0.log"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let log = Log::open(state.path(), "api", "v0").unwrap();
        assert_eq!(mode(&log.path), 0o600);
        assert_eq!(mode(&state.path().join("builds")), 0o700);
        assert_eq!(mode(&old), 0o700);
    }

    #[test]
    fn ansi_is_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[91mls: /x: No such file\u{1b}[0m"),
            "ls: /x: No such file"
        );
        assert_eq!(strip_ansi("\u{1b}[0mabout to fail"), "about to fail");
        assert_eq!(strip_ansi("tab\there"), "tab\there");
    }
}
