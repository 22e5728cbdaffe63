//! The local release journal: append-only JSON lines in the state dir, each
//! write fsynced, so the release history and audit trail survive a crash.
//! The fleet's labels stay the source of truth for what runs; the journal
//! says who did what, when, and how it ended.

use std::io::{BufRead, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The target version runs healthy on every host.
    Succeeded,
    /// Stopped on a failure; the failed hosts were restored.
    Failed,
    /// Failed and every touched host went back to the previous version.
    RolledBack,
    /// An operator aborted it.
    Aborted,
    /// Stopped before any restart (pull failure, lock, gate): nothing changed.
    Refused,
    /// Stopped on Ctrl-C / SIGTERM after the hosts in flight finished; the
    /// fleet is left as it was then, and `deploy --resume` finishes it.
    Interrupted,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled back",
            Outcome::Aborted => "aborted",
            Outcome::Refused => "refused",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// What a release does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A version named by the operator.
    Deploy,
    /// Back to an earlier release (kept containers, else a pull).
    Rollback,
    /// The digest that runs healthy in another environment.
    Promote,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

impl Action {
    pub fn word(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Rollback => "rollback",
            Action::Promote => "promote",
        }
    }
}

/// What a journal line records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordKind {
    /// A deploy, promotion or rollback began (before its pull and its lock).
    Started {
        action: Action,
        version: String,
        digest: Option<String>,
        /// Versions running before, most common first.
        from_versions: Vec<String>,
        hosts: usize,
        batches: usize,
        /// The operator's note (`-m`).
        #[serde(default)]
        message: String,
        /// A promotion's source environment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        promoted_from: Option<String>,
        /// The interrupted release this one finishes (`deploy --resume`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumes: Option<String>,
    },
    /// Under the lock, the fleet said otherwise than the read before it: this
    /// is what the release really does.
    Decided {
        action: Action,
        version: String,
        digest: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumes: Option<String>,
    },
    /// It ended.
    Finished {
        result: Outcome,
        duration_secs: f64,
        message: String,
        /// Hosts an operator has to look at, each with why.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        needs_operator: Vec<String>,
    },
    /// A later rollback (`by`) went back from this release: no rollback or
    /// prune prefers it again.
    RolledBack { by: String },
    /// Every host resolved the version to this digest (after the pre-pull).
    Pulled { digest: String },
    /// A hook of the release ran (`host` for pre_host / post_host).
    Hook {
        on: crate::config::HookPoint,
        hook: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        ok: bool,
        secs: f64,
        detail: String,
    },
    /// Someone broke another operator's lock.
    LockBroken {
        holder: String,
        holder_release: String,
    },
    /// `shipdeck build` made an image (env is empty: a build serves every
    /// environment). `digest` is the registry digest when it was pushed.
    Built {
        version: String,
        image: String,
        image_id: String,
        digest: Option<String>,
        pushed: bool,
        host: String,
        log: String,
        duration_secs: f64,
        /// `succeeded` or `failed`.
        #[serde(default)]
        outcome: String,
        /// What failed (`build: …` / `push: …`).
        #[serde(default)]
        error: Option<String>,
    },
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub ts: DateTime<Utc>,
    pub release: String,
    pub project: String,
    pub env: String,
    /// `user@machine`.
    pub user: String,
    #[serde(flatten)]
    pub kind: RecordKind,
}

impl Record {
    /// `user` broke the lock that `holder` took for `holder_release`.
    pub fn lock_broken(
        project: &str,
        env: &str,
        user: String,
        holder: &str,
        holder_release: &str,
    ) -> Self {
        Self {
            ts: Utc::now(),
            release: holder_release.to_string(),
            project: project.to_string(),
            env: env.to_string(),
            user,
            kind: RecordKind::LockBroken {
                holder: holder.to_string(),
                holder_release: holder_release.to_string(),
            },
        }
    }
}

/// A release as `history` shows it: its start joined with its end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseSummary {
    pub release: String,
    pub project: String,
    pub env: String,
    pub action: Action,
    pub version: String,
    pub digest: Option<String>,
    pub from_versions: Vec<String>,
    pub user: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `None` while running, or when the process died mid-rollout (interrupted).
    pub result: Option<Outcome>,
    pub duration_secs: Option<f64>,
    pub hosts: usize,
    /// How it ended (the operator's note when it had one).
    pub message: String,
    /// The operator's note (`-m`).
    pub note: String,
    pub promoted_from: Option<String>,
    pub resumes: Option<String>,
    /// A later rollback went back from it.
    pub rolled_back: bool,
    pub needs_operator: Vec<String>,
}

impl ReleaseSummary {
    pub fn succeeded(&self) -> bool {
        self.result == Some(Outcome::Succeeded)
    }
    /// Started and never finished (the process died), or stopped by a signal
    /// after its hosts in flight finished: `deploy --resume` finishes it.
    pub fn interrupted(&self) -> bool {
        matches!(self.result, None | Some(Outcome::Interrupted))
    }
    /// Refused before anything changed: not a release of what runs.
    pub fn refused(&self) -> bool {
        self.result == Some(Outcome::Refused)
    }
    /// A release that served and still counts: succeeded, not rolled back.
    pub fn good(&self) -> bool {
        self.succeeded() && !self.rolled_back
    }
    /// The result in one word (`interrupted` while unfinished).
    pub fn result_word(&self) -> &'static str {
        self.result.map(Outcome::word).unwrap_or("interrupted")
    }
}

/// Journal failures (I/O), with the path.
#[derive(Debug, thiserror::Error)]
#[error("release journal {path}: {what}: {source}")]
pub struct JournalError {
    pub path: PathBuf,
    pub what: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// The journal file.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// `STATE_DIR/journal.jsonl` (the directory is created on first append).
    pub fn in_dir(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("journal.jsonl"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: &'static str, source: std::io::Error) -> JournalError {
        JournalError {
            path: self.path.clone(),
            what,
            source,
        }
    }

    /// Append one record and fsync it before returning. The state directory
    /// is made 0700 and the journal 0600: it names hosts and people.
    pub fn append(&self, record: &Record) -> Result<(), JournalError> {
        if let Some(dir) = self.path.parent() {
            private_dir(dir).map_err(|e| self.err("create directory", e))?;
        }
        let mut line = serde_json::to_string(record)
            .map_err(|e| self.err("encode", std::io::Error::other(e)))?;
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| self.err("open", e))?;
        private_file(&f).map_err(|e| self.err("chmod", e))?;
        // After a crash mid-write the file may end in a torn line: start on a
        // fresh line so this record is not glued to it.
        if ends_without_newline(&mut f).map_err(|e| self.err("read", e))? {
            line.insert(0, '\n');
        }
        // One write call per line: O_APPEND keeps concurrent writers' lines whole.
        f.write_all(line.as_bytes())
            .map_err(|e| self.err("write", e))?;
        f.sync_data().map_err(|e| self.err("fsync", e))
    }

    /// Every readable record, oldest first. A torn last line (a crash during a
    /// write) and lines from a newer shipdeck are skipped, not fatal.
    pub fn records(&self) -> Result<Vec<Record>, JournalError> {
        let f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err("open", e)),
        };
        let mut out = Vec::new();
        for line in std::io::BufReader::new(f).lines() {
            let line = line.map_err(|e| self.err("read", e))?;
            if let Ok(r) = serde_json::from_str::<Record>(&line) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Releases, oldest first.
    pub fn releases(&self) -> Result<Vec<ReleaseSummary>, JournalError> {
        Ok(summarize(&self.records()?))
    }

    /// [`Journal::releases`] on a blocking thread (the file is read whole),
    /// for async callers; an unreadable journal has none.
    pub async fn releases_async(&self) -> Vec<ReleaseSummary> {
        let journal = self.clone();
        tokio::task::spawn_blocking(move || journal.releases().unwrap_or_default())
            .await
            .unwrap_or_default()
    }
}

/// The operator's note and how a release ended, in one line.
pub fn with_note(note: &str, message: &str) -> String {
    match (note.is_empty(), message.is_empty()) {
        (true, _) => message.to_string(),
        (false, true) => note.to_string(),
        (false, false) => format!("{note} — {message}"),
    }
}

/// Create `dir` (and parents) and make it 0700, tightening one made earlier.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Make an open file 0600 (a file made by an older version may be 0644).
pub fn private_file(f: &std::fs::File) -> std::io::Result<()> {
    let mode = f.metadata()?.permissions().mode() & 0o777;
    if mode != 0o600 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn ends_without_newline(f: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(len - 1))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    Ok(b[0] != b'\n')
}

/// Join `Started` and `Finished` records by release id.
pub fn summarize(records: &[Record]) -> Vec<ReleaseSummary> {
    let mut out: Vec<ReleaseSummary> = Vec::new();
    for r in records {
        match &r.kind {
            RecordKind::Started {
                action,
                version,
                digest,
                from_versions,
                hosts,
                message,
                promoted_from,
                resumes,
                ..
            } => out.push(ReleaseSummary {
                release: r.release.clone(),
                project: r.project.clone(),
                env: r.env.clone(),
                action: *action,
                version: version.clone(),
                digest: digest.clone(),
                from_versions: from_versions.clone(),
                user: r.user.clone(),
                started_at: r.ts,
                finished_at: None,
                result: None,
                duration_secs: None,
                hosts: *hosts,
                message: message.clone(),
                note: message.clone(),
                promoted_from: promoted_from.clone(),
                resumes: resumes.clone(),
                rolled_back: false,
                needs_operator: Vec::new(),
            }),
            RecordKind::Decided {
                action,
                version,
                digest,
                resumes,
            } => {
                if let Some(s) = out.iter_mut().rev().find(|s| s.release == r.release) {
                    s.action = *action;
                    s.version = version.clone();
                    s.digest = digest.clone();
                    s.resumes = resumes.clone();
                }
            }
            RecordKind::Finished {
                result,
                duration_secs,
                message,
                needs_operator,
            } => {
                if let Some(s) = out.iter_mut().rev().find(|s| s.release == r.release) {
                    s.finished_at = Some(r.ts);
                    s.result = Some(*result);
                    s.duration_secs = Some(*duration_secs);
                    s.message = with_note(&s.note, message);
                    s.needs_operator = needs_operator.clone();
                }
            }
            RecordKind::RolledBack { .. } => {
                if let Some(s) = out.iter_mut().rev().find(|s| s.release == r.release) {
                    s.rolled_back = true;
                }
            }
            RecordKind::Pulled { digest } => {
                if let Some(s) = out.iter_mut().rev().find(|s| s.release == r.release) {
                    s.digest = Some(digest.clone());
                }
            }
            RecordKind::LockBroken { .. } | RecordKind::Built { .. } | RecordKind::Hook { .. } => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rec(release: &str, kind: RecordKind) -> Record {
        Record {
            ts: Utc::now(),
            release: release.into(),
            project: "demo".into(),
            env: "prod".into(),
            user: "ops@box".into(),
            kind,
        }
    }

    #[test]
    fn append_read_and_summarize() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::in_dir(&dir.path().join("state"));
        assert!(j.releases().unwrap().is_empty());
        let started = |v: &str| RecordKind::Started {
            action: Action::Deploy,
            version: v.into(),
            digest: None,
            from_versions: vec!["v1".into()],
            hosts: 8,
            batches: 8,
            message: String::new(),
            promoted_from: None,
            resumes: None,
        };
        j.append(&rec("r1", started("v2"))).unwrap();
        j.append(&rec(
            "r1",
            RecordKind::Pulled {
                digest: "sha256:abc".into(),
            },
        ))
        .unwrap();
        j.append(&rec(
            "r1",
            RecordKind::Finished {
                result: Outcome::Succeeded,
                duration_secs: 12.5,
                message: String::new(),
                needs_operator: Vec::new(),
            },
        ))
        .unwrap();
        j.append(&rec("r2", started("v3"))).unwrap();
        // A torn line from a crash mid-write is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(j.path())
            .unwrap()
            .write_all(b"{\"ts\":\"2026-")
            .unwrap();
        j.append(&rec(
            "r3",
            RecordKind::LockBroken {
                holder: "a@b".into(),
                holder_release: "r2".into(),
            },
        ))
        .unwrap();
        assert_eq!(
            j.records().unwrap().len(),
            5,
            "the record after a torn line survives"
        );
        let rs = j.releases().unwrap();
        assert_eq!(rs.len(), 2);
        assert!(rs[0].succeeded());
        assert_eq!(rs[0].duration_secs, Some(12.5));
        assert_eq!(rs[0].digest.as_deref(), Some("sha256:abc"));
        assert!(rs[1].interrupted());
        assert_eq!(rs[1].version, "v3");
        let mode = std::fs::metadata(j.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "journal mode {mode:o}");
        let dir = std::fs::metadata(j.path().parent().unwrap()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn old_records_still_read() {
        // Written by the previous version: action as a string, no note.
        let line = r#"{"ts":"2026-11-20T10:00:00Z","release":"r1","project":"demo","env":"prod","user":"a@b","kind":"started","action":"rollback","version":"v1","digest":null,"from_versions":["v2"],"hosts":3,"batches":3}"#;
        let r: Record = serde_json::from_str(line).unwrap();
        let s = summarize(&[r]);
        assert_eq!(s[0].action, Action::Rollback);
        assert!(s[0].interrupted());
    }
}
