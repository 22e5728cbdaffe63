//! The release ledger: what the fleet itself remembers about the releases
//! of one project+environment — which release started when, how it ended,
//! whether a later rollback went back from it. Labels cannot change after a
//! container is created, so "this release succeeded" cannot live on its
//! containers; it lives here, in a fleet object (`engine::objects`) named
//! `shipdeck-ledger.{project}.{env}` on the first [`REPLICAS`] hosts of the
//! environment that answer (and on any host that has one already), each
//! holding the same JSON-lines file. Three copies, not one per host: every
//! write reads and writes the object's filesystem, which is costly to do on
//! 28 engines twice a release. Any operator, with an empty journal,
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
/// How many hosts keep a copy.
pub const REPLICAS: usize = 3;
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
            message: super::journal::with_note(&self.note, &self.message),
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
    Copies::open(engines, project, env).await.entries()
}

/// The ledger's copies on the fleet: found and read once, then written
/// without reading again — only the lock holder writes, so what it wrote
/// last is what a copy holds.
pub struct Copies {
    project: String,
    env: String,
    /// Where writes go.
    copies: Vec<Copy>,
    /// Copies beyond REPLICAS: merged into every write, removed after
    /// one that every copy took.
    extra: Vec<Copy>,
    /// Everything known: all copies merged once, then every change applied
    /// (whether or not a copy took it, so a later write still carries it).
    known: Vec<Entry>,
}

struct Copy {
    engine: Engine,
    /// The object, once it exists.
    id: Option<String>,
    entries: Vec<Entry>,
}

impl Copies {
    /// Find the copies (an inspect per host), read them (one file each),
    /// and pick where to write: every host that has one, and the first
    /// hosts that answer, up to [`REPLICAS`].
    pub async fn open(engines: &[Engine], project: &str, env: &str) -> Self {
        let name = naming::ledger(project, env);
        let found = futures::future::join_all(engines.iter().map(|eng| {
            let name = name.clone();
            async move {
                match eng.find_object(&name).await {
                    Ok(Some(o)) => match eng.read_files(&o.id).await {
                        Ok(files) => Some(Copy {
                            engine: eng.clone(),
                            id: Some(o.id),
                            entries: files.get(FILE).map(|t| parse(t)).unwrap_or_default(),
                        }),
                        Err(e) => {
                            // Not written to either: what it holds is unknown.
                            warn!(host = %eng.host, error = %e, "ledger: a copy could not be read; it is left alone");
                            None
                        }
                    },
                    Ok(None) => Some(Copy {
                        engine: eng.clone(),
                        id: None,
                        entries: Vec::new(),
                    }),
                    Err(e) => {
                        debug!(host = %eng.host, error = %e, "ledger: host did not answer");
                        None
                    }
                }
            }
        }))
        .await;
        // Write to the first REPLICAS hosts with a copy, then the first that
        // answer without one; any further copies (an older shipdeck kept one
        // on every host) are read, merged, and removed at the first write.
        let found: Vec<Copy> = found.into_iter().flatten().collect();
        let mut copies = Vec::new();
        let mut extra = Vec::new();
        let mut spare = Vec::new();
        for c in found {
            if c.id.is_some() {
                if copies.len() < REPLICAS {
                    copies.push(c);
                } else {
                    extra.push(c);
                }
            } else {
                spare.push(c);
            }
        }
        let room = REPLICAS.saturating_sub(copies.len());
        copies.extend(spare.into_iter().take(room));
        let known = merge(
            copies
                .iter()
                .chain(extra.iter())
                .map(|c: &Copy| c.entries.clone()),
        );
        Self {
            project: project.to_string(),
            env: env.to_string(),
            copies,
            extra,
            known,
        }
    }

    /// Everything the copies know, merged, oldest first.
    pub fn entries(&self) -> Vec<Entry> {
        self.known.clone()
    }

    /// Apply `change` to what all copies know together and write that to
    /// every copy (made where there is none yet), all hosts at once, each
    /// bounded. Returns how many took it.
    pub async fn apply(&mut self, change: &(dyn Fn(&mut Vec<Entry>) + Sync)) -> usize {
        let name = naming::ledger(&self.project, &self.env);
        let (project, env) = (self.project.as_str(), self.env.as_str());
        change(&mut self.known);
        let text = encode(&self.known);
        let text = text.as_str();
        let results = futures::future::join_all(self.copies.iter_mut().map(|copy| {
            let name = name.clone();
            async move {
                let eng = &copy.engine;
                let write = async {
                    match &copy.id {
                        Some(id) => eng
                            .write_files(id, &[(FILE, text)])
                            .await
                            .map(|()| id.clone()),
                        None => {
                            let labels = HashMap::from([
                                ("shipdeck.ledger".to_string(), "1".to_string()),
                                ("shipdeck.ledger.project".to_string(), project.to_string()),
                                ("shipdeck.ledger.env".to_string(), env.to_string()),
                            ]);
                            eng.create_object(&name, labels, Default::default(), &[(FILE, text)])
                                .await
                        }
                    }
                };
                let t = std::time::Instant::now();
                let r = tokio::time::timeout(WRITE_BOUND, write).await;
                debug!(host = %eng.host, ms = t.elapsed().as_millis() as u64, "ledger: write");
                match r {
                    Ok(Ok(id)) => {
                        copy.id = Some(id);
                        true
                    }
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
        let written = results.into_iter().filter(|ok| *ok).count();
        if written == self.copies.len() && written > 0 {
            for x in std::mem::take(&mut self.extra) {
                if let Some(id) = &x.id
                    && let Err(e) = x.engine.remove(id).await
                {
                    debug!(host = %x.engine.host, error = %e, "ledger: an extra copy stays");
                }
            }
        }
        written
    }
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

    #[tokio::test]
    async fn what_no_copy_took_is_still_carried_by_the_next_write() {
        // No host took a copy (all unreachable at open): the changes stay
        // known, so the release's end still carries its start.
        let mut copies = Copies {
            project: "web".into(),
            env: "prod".into(),
            copies: Vec::new(),
            extra: Vec::new(),
            known: vec![entry("r0", 5, Some(Outcome::Succeeded))],
        };
        let started = entry("r1", 10, None);
        assert_eq!(copies.apply(&|all| upsert(all, &started)).await, 0);
        let finished = entry("r1", 10, Some(Outcome::Failed));
        assert_eq!(copies.apply(&|all| upsert(all, &finished)).await, 0);
        let got: Vec<(String, Option<Outcome>)> = copies
            .entries()
            .into_iter()
            .map(|e| (e.release, e.outcome))
            .collect();
        assert_eq!(
            got,
            [
                ("r0".to_string(), Some(Outcome::Succeeded)),
                ("r1".to_string(), Some(Outcome::Failed))
            ]
        );
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
