//! What a rollout does, decided from the fleet: which release it goes to
//! (a deploy's version, the interrupted release a resume finishes, the last
//! release that served for a rollback), and per host whether it is already
//! there (healthy now, on the verified digest), where its new container
//! comes from, and what it goes back to if it fails.

use super::*;

/// One reached host and every container of this project+env on it.
#[derive(Debug, Clone)]
pub(super) struct HostView {
    pub(super) engine: Engine,
    pub(super) address: String,
    pub(super) containers: Vec<AppContainer>,
}

impl HostView {
    /// The container that serves: the one with the serving name, else a
    /// running one that carries no scheme name, newest first.
    pub(super) fn serving(&self) -> Option<&AppContainer> {
        self.containers
            .iter()
            .filter(|c| c.role == Role::Serving)
            .max_by_key(|c| {
                let base = naming::serving(&c.project, &c.env);
                (
                    c.name == base,
                    c.state == ContainerState::Running,
                    deployed_time(c),
                )
            })
    }

    /// Kept containers of releases that served, newest first.
    pub(super) fn good_kept(&self, bad: &HashSet<String>) -> Vec<&AppContainer> {
        let mut v: Vec<&AppContainer> = self
            .containers
            .iter()
            .filter(|c| c.role == Role::Kept)
            .filter(|c| c.release.as_ref().is_none_or(|r| !bad.contains(r)))
            .collect();
        v.sort_by_key(|c| std::cmp::Reverse(deployed_time(c)));
        v
    }
}

/// Where a host's new container comes from.
#[derive(Debug, Clone)]
pub(super) enum Source {
    /// Create from the pulled image.
    Image,
    /// Restart this kept container (a rollback without a pull).
    Kept(Box<AppContainer>),
}

/// One host's part of the rollout, decided under the lock.
#[derive(Debug, Clone)]
pub(super) struct HostPlan {
    pub(super) engine: Engine,
    pub(super) address: String,
    pub(super) serving: Option<AppContainer>,
    /// The serving container answers its health gate now.
    pub(super) healthy: bool,
    pub(super) source: Source,
    /// What this host goes back to when its new container fails.
    pub(super) restore_to: Option<AppContainer>,
    /// Already runs the target, healthy, on the verified digest.
    pub(super) skip: bool,
    /// The serving container is not kept as a rollback target when it is
    /// replaced (a rollback went back from it, or it was broken).
    pub(super) retire_serving: bool,
}

/// The release a rollout goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Intent {
    pub(super) action: Action,
    pub(super) version: String,
    /// Exactly this image, when known (promotion, resume, rollback).
    pub(super) digest: Option<String>,
    pub(super) promoted_from: Option<String>,
    /// The interrupted release this one finishes.
    pub(super) resumes: Option<String>,
    /// Releases a rollback goes back from: marked when it succeeds.
    pub(super) from_releases: Vec<String>,
}

impl Intent {
    /// `repo@digest`, else `repo:version`.
    pub(super) fn image(&self, project: &Project) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", project.image),
            None => format!("{}:{}", project.image, self.version),
        }
    }

    /// Whether two decisions go to the same release the same way.
    pub(super) fn same_target(&self, other: &Intent) -> bool {
        self.action == other.action
            && self.version == other.version
            && self.digest == other.digest
            && self.resumes == other.resumes
    }
}

/// When a container was deployed: its label, else its start time.
pub(super) fn deployed_time(c: &AppContainer) -> Option<chrono::DateTime<Utc>> {
    c.deployed_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or(c.started_at)
}

/// Versions serving now, most common first.
pub(super) fn majority_versions(fleet: &[HostView]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for h in fleet {
        if let Some(c) = h.serving() {
            *counts.entry(c.version.clone()).or_default() += 1;
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(k, _)| k).collect()
}

/// Releases whose containers are no rollback target: they failed, were
/// rolled back, aborted, or a later rollback went back from them.
pub(super) fn bad_releases(history: &[ReleaseSummary]) -> HashSet<String> {
    history
        .iter()
        .filter(|r| {
            r.rolled_back
                || matches!(
                    r.result,
                    Some(Outcome::Failed | Outcome::RolledBack | Outcome::Aborted)
                )
        })
        .map(|r| r.release.clone())
        .collect()
}

/// Decide the release this rollout goes to. `history` is this project+env's
/// releases (journal and ledger, oldest first, this one left out).
pub(super) fn intent(
    req: &Request,
    history: &[ReleaseSummary],
    fleet: &[HostView],
) -> Result<Intent, RolloutError> {
    // Releases that changed (or were about to change) the fleet.
    let real: Vec<&ReleaseSummary> = history.iter().filter(|r| !r.refused()).collect();
    match &req.kind {
        Kind::Deploy {
            version,
            digest,
            promoted_from,
        } => Ok(Intent {
            action: if promoted_from.is_some() {
                Action::Promote
            } else {
                Action::Deploy
            },
            version: version.clone(),
            digest: digest.clone(),
            promoted_from: promoted_from.clone(),
            resumes: None,
            from_releases: Vec::new(),
        }),
        Kind::Resume => {
            let nothing = |why: String| RolloutError::NothingToResume {
                project: req.project.clone(),
                env: req.env.clone(),
                why,
            };
            let Some(last) = real.last() else {
                return Err(nothing(
                    "no release of it in the journal or in the fleet's ledger".into(),
                ));
            };
            if !last.interrupted() {
                return Err(nothing(format!(
                    "its last release {} ({} {} by {} at {}) ended {}",
                    last.release,
                    last.action.word(),
                    last.version,
                    last.user,
                    last.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    last.result_word()
                )));
            }
            let from_releases = if last.action == Action::Rollback {
                let before: Vec<&ReleaseSummary> = real
                    .iter()
                    .filter(|r| r.release != last.release)
                    .copied()
                    .collect();
                newer_than_good(&before, &last.version)
            } else {
                Vec::new()
            };
            Ok(Intent {
                action: last.action,
                version: last.version.clone(),
                digest: last.digest.clone(),
                promoted_from: last.promoted_from.clone(),
                resumes: Some(last.release.clone()),
                from_releases,
            })
        }
        Kind::Rollback {
            to: Some(v),
            digest,
        } => Ok(Intent {
            action: Action::Rollback,
            version: v.clone(),
            digest: digest
                .clone()
                .or_else(|| {
                    real.iter()
                        .rev()
                        .filter(|r| r.version == *v && r.good())
                        .find_map(|r| r.digest.clone())
                })
                .or_else(|| kept_digest(fleet, v)),
            promoted_from: None,
            resumes: None,
            from_releases: newer_than_good(&real, v),
        }),
        Kind::Rollback { to: None, .. } => rollback_target(req, &real, fleet),
    }
}

/// What a rollback to `version` goes back from: the releases of other
/// versions after the newest good one of `version`. With no good release of
/// it, only the newest release (the one that runs now), if it is of another
/// version. Releases of `version` itself are never marked.
fn newer_than_good(real: &[&ReleaseSummary], version: &str) -> Vec<String> {
    match real.iter().rposition(|r| r.version == version && r.good()) {
        Some(i) => real[i + 1..]
            .iter()
            .filter(|r| r.version != version)
            .map(|r| r.release.clone())
            .collect(),
        None => real
            .last()
            .filter(|r| r.version != version)
            .map(|r| vec![r.release.clone()])
            .unwrap_or_default(),
    }
}

/// The digest label of a kept container of `version` anywhere on the fleet.
fn kept_digest(fleet: &[HostView], version: &str) -> Option<String> {
    fleet
        .iter()
        .flat_map(|h| h.containers.iter())
        .filter(|c| c.version == version && c.role != Role::Retired)
        .find_map(|c| c.digest.clone().filter(|d| !d.is_empty()))
}

/// `rollback` without `--to`: the last release that served. When the
/// newest release succeeded, the good release before it (another version);
/// when it failed, was interrupted or rolled back, the newest good release
/// (the fleet goes back to what served last). Failed and rolled-back
/// releases are never chosen. With no history at all, the newest kept
/// container that is not retired, of another version than the newest serving.
fn rollback_target(
    req: &Request,
    real: &[&ReleaseSummary],
    fleet: &[HostView],
) -> Result<Intent, RolloutError> {
    let none = |why: String| RolloutError::NothingToRollBackTo {
        project: req.project.clone(),
        env: req.env.clone(),
        why,
    };
    if let Some(current) = real.last() {
        return match crate::rollout::checks::rollback_choice(real) {
            Some(t) => Ok(Intent {
                action: Action::Rollback,
                version: t.version.clone(),
                digest: t.digest.clone().or_else(|| kept_digest(fleet, &t.version)),
                promoted_from: None,
                resumes: None,
                from_releases: newer_than_good(real, &t.version),
            }),
            None => Err(none(format!(
                "the releases before {} {} ({}) either failed, were rolled back, or ran the same version",
                current.action.word(),
                current.version,
                current.result_word()
            ))),
        };
    }
    // No record anywhere (containers from an older shipdeck): the fleet's names.
    let newest_serving = fleet
        .iter()
        .filter_map(HostView::serving)
        .filter(|c| c.state == ContainerState::Running)
        .max_by_key(|c| deployed_time(c))
        .map(|c| c.version.clone());
    let target = fleet
        .iter()
        .flat_map(|h| h.good_kept(&HashSet::new()))
        .filter(|c| Some(&c.version) != newest_serving.as_ref())
        .max_by_key(|c| deployed_time(c));
    match target {
        Some(c) => Ok(Intent {
            action: Action::Rollback,
            version: c.version.clone(),
            digest: c.digest.clone().filter(|d| !d.is_empty()),
            promoted_from: None,
            resumes: None,
            from_releases: Vec::new(),
        }),
        None => Err(none(
            "no release in the journal or the fleet's ledger, and no kept container of another version".into(),
        )),
    }
}

/// Hosts the pre-pull covers, before the lock: every host for a deploy
/// (the pull tells each host's digest, so "already there" is checked on
/// exactly the verified image); for a rollback only hosts without a kept
/// container of the target.
pub(super) fn provisional_pulls(
    intent: &Intent,
    fleet: &[HostView],
    bad: &HashSet<String>,
) -> Vec<String> {
    fleet
        .iter()
        .filter(|h| intent.action != Action::Rollback || kept_of(h, intent, bad).is_none())
        .map(|h| h.engine.host.clone())
        .collect()
}

/// The newest good kept container of the intent's version (and digest).
fn kept_of<'a>(
    h: &'a HostView,
    intent: &Intent,
    bad: &HashSet<String>,
) -> Option<&'a AppContainer> {
    h.good_kept(bad).into_iter().find(|c| {
        c.version == intent.version
            && match (&intent.digest, &c.digest) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            }
    })
}

/// Whether `c` passes its gate now: running, Docker health (when gated on)
/// not starting or unhealthy, and the HTTP/TCP probes answering.
pub(super) async fn healthy_now(
    runner: &Runner,
    c: &AppContainer,
    address: &str,
    project: &Project,
) -> bool {
    if c.state != ContainerState::Running {
        return false;
    }
    if project.health.docker && matches!(c.health, Health::Starting | Health::Unhealthy) {
        return false;
    }
    health::probe_once(address, &project.health, &runner.http)
        .await
        .is_ok()
}

/// Per-host decisions, all hosts at once.
pub(super) async fn hosts(
    runner: &Runner,
    fleet: &[HostView],
    intent: &Intent,
    digest: Option<&str>,
    project: &Project,
    history: &[ReleaseSummary],
) -> Vec<HostPlan> {
    let bad = bad_releases(history);
    join_all(fleet.iter().map(|h| {
        let bad = &bad;
        async move {
            let serving = h.serving().cloned();
            let healthy = match &serving {
                Some(c) => healthy_now(runner, c, &h.address, project).await,
                None => false,
            };
            let on_target = serving.as_ref().is_some_and(|c| {
                c.version == intent.version
                    && match digest {
                        Some(d) => c.digest.as_deref() == Some(d),
                        None => true,
                    }
            });
            let source = match intent.action {
                Action::Rollback => match kept_of(h, intent, bad) {
                    Some(k) => Source::Kept(Box::new(k.clone())),
                    None => Source::Image,
                },
                Action::Deploy | Action::Promote => Source::Image,
            };
            let source_id = match &source {
                Source::Kept(k) => Some(k.id.clone()),
                Source::Image => None,
            };
            let leftover = serving.as_ref().is_none_or(|c| c.version == intent.version);
            let restore_to = if healthy {
                serving.clone()
            } else if leftover {
                // A broken container of the target itself (an interrupted
                // rollout of it) is no place to go back to: the newest good
                // kept one is.
                h.good_kept(bad)
                    .into_iter()
                    .find(|c| Some(&c.id) != source_id.as_ref())
                    .cloned()
                    .or_else(|| serving.clone())
            } else {
                serving.clone()
            };
            HostPlan {
                engine: h.engine.clone(),
                address: h.address.clone(),
                skip: on_target && healthy,
                retire_serving: intent.action == Action::Rollback || !healthy,
                serving,
                healthy,
                source,
                restore_to,
            }
        }
    }))
    .await
}
