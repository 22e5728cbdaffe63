//! Reading the lock objects of an environment's hosts: which hosts, what
//! each holds, and times on the lock host's clock.

use super::*;

// ---------------------------------------------------------------- reading

/// One project+environment resolved against the config.
pub(super) struct Target {
    pub(super) project: String,
    pub(super) env: String,
    pub(super) hosts: Vec<(String, Endpoint)>,
    pub(super) timeout: Duration,
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
            timeout: Duration::from_secs(config.settings.docker_timeout_secs.max(1)),
        })
    }

    pub(super) fn container_name(&self) -> String {
        format!("shipdeck-lock.{}.{}", self.project, self.env)
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

    /// Connect to every host of the environment at once and read its lock.
    /// Errors only when no host answered.
    pub(super) async fn scan(&self) -> Result<Scan, LockError> {
        let probes = futures::future::join_all(self.hosts.iter().map(|(name, endpoint)| async {
            let docker = connect(endpoint, self.timeout)
                .await
                .map_err(|e| e.to_string())?;
            let conn = Conn {
                name: name.clone(),
                shown: endpoint.to_string(),
                docker,
                timeout: self.timeout,
            };
            let found = read_lock(&conn, self).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((conn, found))
        }))
        .await;
        let mut scan = Scan::default();
        for ((name, _), probe) in self.hosts.iter().zip(probes) {
            match probe {
                Ok((conn, found)) => {
                    if let Some(info) = found {
                        scan.locks.push((conn.clone(), info));
                    }
                    scan.reachable.push(conn);
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
        if !scan.errors.is_empty() {
            warn!(
                project = %self.project, env = %self.env, unreachable = scan.errors.len(),
                "lock scan: some hosts did not answer; a lock taken there is not seen"
            );
        }
        Ok(scan)
    }
}

/// What one scan of an environment's hosts found, in config order.
#[derive(Default)]
pub(super) struct Scan {
    pub(super) reachable: Vec<Conn>,
    pub(super) errors: Vec<(String, String)>,
    pub(super) locks: Vec<(Conn, LockInfo)>,
}

impl Scan {
    /// The lock that counts: the first live one, else the first expired one.
    pub(super) fn current(&self) -> Option<(&Conn, &LockInfo)> {
        self.locks
            .iter()
            .find(|(_, l)| !l.expired)
            .or_else(|| self.locks.first())
            .map(|(c, l)| (c, l))
    }
}

/// A connected host.
#[derive(Clone)]
pub(super) struct Conn {
    pub(super) name: String,
    pub(super) shown: String,
    pub(super) docker: Docker,
    pub(super) timeout: Duration,
}

/// The lock object on `conn`, if there is one.
pub(super) async fn read_lock(
    conn: &Conn,
    target: &Target,
) -> Result<Option<LockInfo>, EngineError> {
    let name = target.container_name();
    let details = match call(
        &conn.shown,
        "lock inspect",
        conn.timeout,
        conn.docker.inspect_container(
            &name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        ),
    )
    .await
    {
        Ok(d) => d,
        Err(e) if e.status == Some(404) => return Ok(None),
        Err(e) => return Err(e.error),
    };
    let Some(id) = details.id else {
        return Ok(None);
    };
    let labels = details.config.and_then(|c| c.labels).unwrap_or_default();
    let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
    let files = match download(conn, &id).await {
        Ok(f) => f,
        // Gone since the inspect, or never got its files: judge by acquired_at.
        Err(e) if e.status == Some(404) => LockFiles::default(),
        Err(e) => return Err(e.error),
    };
    // Shift the lock host's clock onto ours.
    let skew = match engine_time(conn).await {
        Some(engine_now) => engine_now - Utc::now(),
        None => TimeDelta::zero(),
    };
    let local = |t: DateTime<Utc>| t - skew;
    let acquired_at = parse_time(&label(L_ACQUIRED))
        .map(local)
        .unwrap_or(DateTime::UNIX_EPOCH);
    let heartbeat_at = files.heartbeat.as_deref().and_then(parse_time).map(local);
    let ttl = label(L_TTL_MS)
        .parse::<u64>()
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TTL);
    let last_sign = heartbeat_at.unwrap_or(acquired_at);
    let silent = (Utc::now() - last_sign).to_std().unwrap_or_default();
    let control = files
        .control
        .as_deref()
        .and_then(Control::parse)
        .unwrap_or(Control::Run);
    Ok(Some(LockInfo {
        project: target.project.clone(),
        env: target.env.clone(),
        host: conn.name.clone(),
        container_id: id,
        owner: label(L_OWNER),
        release: label(L_RELEASE),
        message: label(L_MESSAGE),
        acquired_at,
        heartbeat_at,
        expired: silent > ttl,
        control,
    }))
}

/// The engine's clock, from `/info`; `None` (logged) when it cannot be read.
pub(super) async fn engine_time(conn: &Conn) -> Option<DateTime<Utc>> {
    match call(&conn.shown, "info", conn.timeout, conn.docker.info()).await {
        Ok(info) => {
            let parsed = info.system_time.as_deref().and_then(parse_time);
            if parsed.is_none() {
                debug!(host = %conn.name, raw = ?info.system_time, "engine time unreadable; using ours");
            }
            parsed
        }
        Err(e) => {
            debug!(host = %conn.name, error = %e.error, "engine time unavailable; using ours");
            None
        }
    }
}

pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
