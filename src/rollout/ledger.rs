//! The release ledger: what the fleet itself remembers about the releases
//! of one project+environment — which release started when, how it ended,
//! whether a later rollback went back from it. Labels cannot change after a
//! container is created, so "this release succeeded" cannot live on its
//! containers; it lives here, in a fleet object (`engine::objects`) named
//! `shipdeck-ledger.{project}.{env}` on every host of the environment, each
//! holding the same JSON-lines file. Any operator, with an empty journal,
//! reads the same history: rollback targets, interrupted releases and
//! `--resume` are decided from it. Written only under the fleet lock; read
//! from every host that answers and merged by release id. Must not import
//! ratatui or app/ui.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::journal::{Action, Outcome, ReleaseSummary};
use crate::domain::naming;
use crate::engine::Engine;

/// The file inside the ledger object.
const FILE: &str = "releases.jsonl";
/// Releases kept per environment (oldest dropped first).
const KEEP: usize = 100;
/// Bound for one host's read-modify-write.
const WRITE_BOUND: Duration = Duration::from_secs(10);

/// One release as the fleet remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub release: String,
    pub action: Action,
    pub version: String,
    #[serde(default)]
    pub digest: Option<String>,
    pub user: String,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub duration_secs: Option<f64>,
    /// A later rollback went back from this release.
    #[serde(default)]
    pub rolled_back: bool,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub promoted_from: Option<String>,
    #[serde(default)]
    pub resumes: Option<String>,
    #[serde(default)]
    pub hosts: usize,
    #[serde(default)]
    pub from_versions: Vec<String>,
}

impl Entry {
    /// The same release in `history`'s terms.
    pub fn summary(&self, project: &str, env: &str) -> ReleaseSummary {
        ReleaseSummary {
            release: self.release.clone(),
            project: project.to_string(),
            env: env.to_string(),
            action: self.action,
            version: self.version.clone(),
            digest: self.digest.clone(),
            from_versions: self.from_versions.clone(),
            user: self.user.clone(),
            started_at: self.started_at,
            finished_at: self.finished_at,
            result: self.outcome,
            duration_secs: self.duration_secs,
            hosts: self.hosts,
            message: self.message.clone(),
            note: self.note.clone(),
            promoted_from: self.promoted_from.clone(),
            resumes: self.resumes.clone(),
            rolled_back: self.rolled_back,
            needs_operator: Vec::new(),
        }
    }

    /// Whether `other` (the same release read elsewhere) knows more.
    fn less_than(&self, other: &Entry) -> bool {
        (self.outcome.is_none() && other.outcome.is_some())
            || (self.finished_at.is_none() && other.finished_at.is_some())
    }
}

fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .collect()
}

fn encode(entries: &[Entry]) -> String {
    let start = entries.len().saturating_sub(KEEP);
    let mut out = String::new();
    for e in &entries[start..] {
        if let Ok(line) = serde_json::to_string(e) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Merge entries read from several hosts: one per release, the most
/// complete one, `rolled_back` if any host says so; oldest first.
pub fn merge(reads: impl IntoIterator<Item = Vec<Entry>>) -> Vec<Entry> {
    let mut by_id: HashMap<String, Entry> = HashMap::new();
    for list in reads {
        for e in list {
            match by_id.get_mut(&e.release) {
                Some(known) => {
                    let rolled_back = known.rolled_back || e.rolled_back;
                    let digest = known.digest.clone().or_else(|| e.digest.clone());
                    if known.less_than(&e) {
                        *known = e;
                    }
                    known.rolled_back = rolled_back;
                    if known.digest.is_none() {
                        known.digest = digest;
                    }
                }
                None => {
                    by_id.insert(e.release.clone(), e);
                }
            }
        }
    }
    let mut all: Vec<Entry> = by_id.into_values().collect();
    all.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then(a.release.cmp(&b.release))
    });
    all
}

/// The ledger of `project`/`env` as every engine in `engines` has it, merged.
pub async fn read(engines: &[Engine], project: &str, env: &str) -> Vec<Entry> {
    let name = naming::ledger(project, env);
    let reads = futures::future::join_all(engines.iter().map(|eng| {
        let name = name.clone();
        async move {
            let obj = match eng.find_object(&name).await {
                Ok(Some(o)) => o,
                Ok(None) => return Vec::new(),
                Err(e) => {
                    debug!(host = %eng.host, error = %e, "ledger: not read");
                    return Vec::new();
                }
            };
            match eng.read_files(&obj.id).await {
                Ok(files) => files.get(FILE).map(|t| parse(t)).unwrap_or_default(),
                Err(e) => {
                    debug!(host = %eng.host, error = %e, "ledger: not read");
                    Vec::new()
                }
            }
        }
    }))
    .await;
    merge(reads)
}

/// Apply `change` to the ledger on every engine (read, change, write back),
/// all hosts at once, each bounded. Returns how many hosts took it. Only the
/// lock holder calls this.
pub async fn update(
    engines: &[Engine],
    project: &str,
    env: &str,
    change: &(dyn Fn(&mut Vec<Entry>) + Sync),
) -> usize {
    let name = naming::ledger(project, env);
    let results = futures::future::join_all(engines.iter().map(|eng| {
        let name = name.clone();
        async move {
            let one = async {
                let existing = eng.find_object(&name).await?;
                let mut entries = match &existing {
                    Some(o) => eng
                        .read_files(&o.id)
                        .await?
                        .get(FILE)
                        .map(|t| parse(t))
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                change(&mut entries);
                let text = encode(&entries);
                match existing {
                    Some(o) => eng.write_files(&o.id, &[(FILE, text.as_str())]).await,
                    None => {
                        let labels = HashMap::from([
                            ("shipdeck.ledger".to_string(), "1".to_string()),
                            ("shipdeck.ledger.project".to_string(), project.to_string()),
                            ("shipdeck.ledger.env".to_string(), env.to_string()),
                        ]);
                        eng.create_object(
                            &name,
                            labels,
                            Default::default(),
                            &[(FILE, text.as_str())],
                        )
                        .await
                        .map(|_| ())
                    }
                }
            };
            match tokio::time::timeout(WRITE_BOUND, one).await {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    warn!(host = %eng.host, error = %e, "ledger: not written");
                    false
                }
                Err(_) => {
                    warn!(host = %eng.host, "ledger: write timed out");
                    false
                }
            }
        }
    }))
    .await;
    results.into_iter().filter(|ok| *ok).count()
}

/// The journal's releases of `project`/`env` and the ledger's, merged by
/// release id (the ledger wins on conflicts: it is shared; what only the
/// journal knows stays), oldest first.
pub fn with_journal(
    journal: Vec<ReleaseSummary>,
    entries: Vec<Entry>,
    project: &str,
    env: &str,
) -> Vec<ReleaseSummary> {
    let mut all: Vec<ReleaseSummary> = journal
        .into_iter()
        .filter(|r| r.project == project && r.env == env)
        .collect();
    for e in entries {
        let s = e.summary(project, env);
        match all.iter_mut().find(|r| r.release == s.release) {
            Some(known) => {
                // Field by field: what either side knows stays known.
                let rolled_back = known.rolled_back || s.rolled_back;
                let digest = s.digest.clone().or_else(|| known.digest.clone());
                let needs = std::mem::take(&mut known.needs_operator);
                if known.result.is_none() || s.result.is_some() {
                    *known = s;
                } else {
                    // The fleet's clock orders releases, not each laptop's.
                    known.started_at = s.started_at;
                }
                known.digest = digest;
                known.rolled_back = rolled_back;
                known.needs_operator = needs;
            }
            None => all.push(s),
        }
    }
    all.sort_by_key(|a| a.started_at);
    all
}

/// Put `entry` in (replacing the same release).
pub fn upsert(entries: &mut Vec<Entry>, entry: &Entry) {
    match entries.iter_mut().find(|e| e.release == entry.release) {
        Some(e) => {
            let rolled_back = e.rolled_back;
            *e = entry.clone();
            e.rolled_back |= rolled_back;
        }
        None => entries.push(entry.clone()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(id: &str, secs: i64, outcome: Option<Outcome>) -> Entry {
        Entry {
            release: id.into(),
            action: Action::Deploy,
            version: format!("v-{id}"),
            digest: None,
            user: "a@b".into(),
            started_at: DateTime::from_timestamp(secs, 0).unwrap(),
            finished_at: outcome.map(|_| DateTime::from_timestamp(secs + 5, 0).unwrap()),
            outcome,
            duration_secs: None,
            rolled_back: false,
            message: String::new(),
            note: String::new(),
            promoted_from: None,
            resumes: None,
            hosts: 3,
            from_versions: Vec::new(),
        }
    }

    #[test]
    fn merge_prefers_the_finished_copy_and_any_rollback_mark() {
        let a = vec![
            entry("r1", 10, None),
            entry("r2", 20, Some(Outcome::Failed)),
        ];
        let mut r1 = entry("r1", 10, Some(Outcome::Succeeded));
        let mut r2 = entry("r2", 20, Some(Outcome::Failed));
        r2.rolled_back = true;
        r1.note = "x".into();
        let m = merge([a, vec![r2, r1]]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].outcome, Some(Outcome::Succeeded));
        assert!(m[1].rolled_back);
    }

    #[test]
    fn the_file_round_trips_and_stays_bounded() {
        let all: Vec<Entry> = (0..150).map(|i| entry(&format!("r{i}"), i, None)).collect();
        let back = parse(&encode(&all));
        assert_eq!(back.len(), KEEP);
        assert_eq!(back[0].release, "r50");
        assert_eq!(parse("garbage\n{\n"), Vec::new());
    }
}
