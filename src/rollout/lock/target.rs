//! Reading the lock objects of an environment's hosts: which hosts, what
//! each holds, times shifted onto this machine's clock, and which holder
//! counts.

use super::*;

/// One project+environment resolved against the config.
pub(super) struct Target {
    pub(super) project: String,
    pub(super) env: String,
    pub(super) hosts: Vec<(String, Endpoint)>,
    pub(super) timeout: Duration,
}

/// One lock object as read from one engine.
#[derive(Debug, Clone)]
pub(super) struct LockObject {
    pub(super) host: String,
    pub(super) id: String,
    pub(super) owner: String,
    pub(super) release: String,
    pub(super) message: String,
    pub(super) acquired_at: DateTime<Utc>,
    pub(super) heartbeat_at: Option<DateTime<Utc>>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) expired: bool,
    pub(super) control: ControlState,
    pub(super) state: Option<HolderState>,
}

impl Target {
    pub(super) fn resolve(config: &Config, project: &str, env: &str) -> Result<Self, LockError> {
        let Some(p) = config.project(project) else {
            let known: Vec<&str> = config.projects.iter().map(|p| p.name.as_str()).collect();
            return Err(LockError::UnknownTarget {
                what: format!("unknown project {project:?} (known: {})", known.join(", ")),
            });
        };
        let names = p.hosts_in(env);
        if names.is_empty() {
            let known: Vec<&str> = p.hosts.keys().map(String::as_str).collect();
            return Err(LockError::UnknownTarget {
                what: format!(
                    "project {project} has no hosts in environment {env:?} (its environments: {})",
                    known.join(", ")
                ),
            });
        }
        let mut hosts = Vec::with_capacity(names.len());
        for name in names {
            let Some(h) = config.host(name) else {
                return Err(LockError::UnknownTarget {
                    what: format!("host {name:?} of {project}/{env} is not in [[hosts]]"),
                });
            };
            hosts.push((h.name.clone(), h.endpoint.clone()));
        }
        Ok(Self {
            project: project.to_string(),
            env: env.to_string(),
            hosts,
            timeout: config.settings.docker_timeout(),
        })
    }

    pub(super) fn container_name(&self) -> String {
        crate::domain::naming::lock(&self.project, &self.env)
    }

    pub(super) fn needed(&self) -> usize {
        majority(self.hosts.len())
    }

    pub(super) fn hosts_shown(&self) -> String {
        let names: Vec<&str> = self.hosts.iter().map(|(n, _)| n.as_str()).collect();
        names.join(", ")
    }

    pub(super) fn no_reachable_host(&self, errors: Vec<(String, String)>) -> LockError {
        LockError::NoReachableHost {
            project: self.project.clone(),
            env: self.env.clone(),
            errors,
        }
    }

    /// Connect to every host at once; the ones that answered, config order.
    pub(super) async fn connect_all(&self) -> Vec<Engine> {
        futures::future::join_all(
            self.hosts
                .iter()
                .map(|(name, ep)| Engine::connect(name, ep, self.timeout)),
        )
        .await
        .into_iter()
        .flatten()
        .collect()
    }

    /// Connect to every host of the environment at once and read its lock
    /// object. Errors only when no host answered.
    pub(super) async fn scan(&self) -> Result<Scan, LockError> {
        self.scan_as(false).await
    }

    /// [`Target::scan`], with what the holder last reported (one archive
    /// read per host more).
    pub(super) async fn scan_with_state(&self) -> Result<Scan, LockError> {
        self.scan_as(true).await
    }

    async fn scan_as(&self, with_state: bool) -> Result<Scan, LockError> {
        let probes = futures::future::join_all(self.hosts.iter().map(|(name, endpoint)| async {
            let eng = Engine::connect(name, endpoint, self.timeout)
                .await
                .map_err(|e| e.to_string())?;
            let found = read_lock(&eng, self, with_state)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((eng, found))
        }))
        .await;
        let mut scan = Scan {
            needed: self.needed(),
            project: self.project.clone(),
            env: self.env.clone(),
            ..Scan::default()
        };
        for ((name, _), probe) in self.hosts.iter().zip(probes) {
            match probe {
                Ok((eng, found)) => {
                    if let Some(obj) = found {
                        scan.objects.push((eng.clone(), obj));
                    }
                    scan.reachable.push(eng);
                }
                Err(e) => {
                    debug!(host = %name, error = %e, "lock scan: host did not answer");
                    scan.errors.push((name.clone(), e));
                }
            }
        }
        if scan.reachable.is_empty() {
            return Err(self.no_reachable_host(scan.errors));
        }
        Ok(scan)
    }
}

/// What one scan of an environment's hosts found, in config order.
#[derive(Default)]
pub(super) struct Scan {
    pub(super) project: String,
    pub(super) env: String,
    pub(super) needed: usize,
    pub(super) reachable: Vec<Engine>,
    pub(super) errors: Vec<(String, String)>,
    pub(super) objects: Vec<(Engine, LockObject)>,
}

impl Scan {
    /// The lock that counts: the holder with the most live objects, else the
    /// one with the most expired ones.
    pub(super) fn current(&self) -> Option<LockInfo> {
        holders(
            &self.project,
            &self.env,
            self.needed,
            self.objects.iter().map(|(_, o)| o),
        )
        .into_iter()
        .next()
    }
}

/// Every holder among `objects`, the one that counts first.
pub(super) fn holders<'a>(
    project: &str,
    env: &str,
    needed: usize,
    objects: impl Iterator<Item = &'a LockObject>,
) -> Vec<LockInfo> {
    let mut by_release: Vec<(String, Vec<&LockObject>)> = Vec::new();
    for o in objects {
        match by_release.iter_mut().find(|(r, _)| *r == o.release) {
            Some((_, v)) => v.push(o),
            None => by_release.push((o.release.clone(), vec![o])),
        }
    }
    let mut infos: Vec<LockInfo> = by_release
        .into_iter()
        .filter_map(|(_, objs)| {
            let first = *objs.first()?;
            let live: Vec<&&LockObject> = objs.iter().filter(|o| !o.expired).collect();
            let expired = live.is_empty();
            let newest_beat = objs.iter().filter_map(|o| o.heartbeat_at).max();
            let expires_at = if objs.iter().any(|o| !o.expired && o.expires_at.is_none()) {
                None
            } else {
                objs.iter().filter_map(|o| o.expires_at).max()
            };
            let control = objs
                .iter()
                .map(|o| o.control)
                .max_by_key(|c| c.rank())
                .unwrap_or(ControlState {
                    word: Control::Run,
                    seq: 0,
                });
            let state = objs
                .iter()
                .filter_map(|o| o.state.clone())
                .max_by_key(|s| s.seq);
            Some(LockInfo {
                project: project.to_string(),
                env: env.to_string(),
                host: first.host.clone(),
                hosts: objs.iter().map(|o| o.host.clone()).collect(),
                container_id: first.id.clone(),
                owner: first.owner.clone(),
                release: first.release.clone(),
                message: first.message.clone(),
                acquired_at: first.acquired_at,
                heartbeat_at: newest_beat,
                expires_at,
                expired,
                control: control.word,
                control_seq: control.seq,
                state,
                held: if expired { objs.len() } else { live.len() },
                needed,
            })
        })
        .collect();
    infos.sort_by_key(|i| (i.expired, std::cmp::Reverse(i.held)));
    infos
}

/// Read the lock objects of `engines` (those that answer), with their
/// holder's state. Without `clock`, the lock hosts' clocks are not asked
/// (one `/info` per object less): no expiry is known then.
pub(super) async fn read_all(engines: &[Engine], target: &Target, clock: bool) -> Vec<LockObject> {
    futures::future::join_all(engines.iter().map(|e| read_lock_as(e, target, true, clock)))
        .await
        .into_iter()
        .filter_map(|r| r.ok().flatten())
        .collect()
}

/// The lock object on `eng`, if there is one. Its heartbeat and control
/// word come from its registers (an inspect); with `with_state`, the
/// holder's last report is read from its files too. An object made by an
/// older shipdeck keeps both in files.
pub(super) async fn read_lock(
    eng: &Engine,
    target: &Target,
    with_state: bool,
) -> Result<Option<LockObject>, EngineError> {
    read_lock_as(eng, target, with_state, true).await
}

async fn read_lock_as(
    eng: &Engine,
    target: &Target,
    with_state: bool,
    clock: bool,
) -> Result<Option<LockObject>, EngineError> {
    let Some(obj) = eng.find_object(&target.container_name()).await? else {
        return Ok(None);
    };
    let label = |k: &str| obj.labels.get(k).cloned().unwrap_or_default();
    let legacy = obj.registers.clock_ms.is_none();
    // The state file is on a few of the holder's objects only.
    let carries_state = obj
        .labels
        .get(L_STATE_HOSTS)
        .is_none_or(|hosts| hosts.split(',').any(|h| h == eng.host));
    let files = if legacy || (with_state && carries_state) {
        match eng.read_files(&obj.id).await {
            Ok(f) => f,
            // Gone since the inspect: no lock here.
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        }
    } else {
        Default::default()
    };
    // Shift the lock host's clock onto ours; unknown skew: the lock lives.
    let skew = if clock {
        eng.engine_time().await.map(|t| t - Utc::now())
    } else {
        None
    };
    let local = |t: DateTime<Utc>| t - skew.unwrap_or_default();
    let acquired_at = parse_time(&label(L_ACQUIRED))
        .map(local)
        .unwrap_or(DateTime::UNIX_EPOCH);
    let heartbeat_at = match obj.registers.clock_ms {
        Some(ms) => DateTime::from_timestamp_millis(ms),
        None => files.get(HEARTBEAT_FILE).and_then(|s| parse_time(s)),
    }
    .map(local);
    let ttl = label(L_TTL_MS)
        .parse::<u64>()
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TTL);
    let last_sign = heartbeat_at.unwrap_or(acquired_at);
    let expires_at = skew.and_then(|_| {
        last_sign.checked_add_signed(chrono::TimeDelta::from_std(ttl).unwrap_or_default())
    });
    let expired = expires_at.is_some_and(|t| Utc::now() > t);
    let control = obj
        .registers
        .word
        .and_then(ControlState::from_register)
        .or_else(|| {
            files
                .get(CONTROL_FILE)
                .and_then(|s| ControlState::decode(s))
        })
        .unwrap_or(ControlState {
            word: Control::Run,
            seq: 0,
        });
    let state = files
        .get(STATE_FILE)
        .and_then(|s| serde_json::from_str(s).ok());
    Ok(Some(LockObject {
        host: eng.host.clone(),
        id: obj.id,
        owner: label(L_OWNER),
        release: label(L_RELEASE),
        message: label(L_MESSAGE),
        acquired_at,
        heartbeat_at,
        expires_at,
        expired,
        control,
        state,
    }))
}

pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
