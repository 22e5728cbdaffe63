//! Taking the lock (a create on every reachable host, held with a
//! majority), removing expired objects, and the holder's background tasks:
//! the heartbeat and the control poll.

use super::*;

pub(super) enum Attempt {
    Got(Box<FleetLock>),
    Held(Box<LockInfo>),
    /// Fewer than a majority of creates succeeded and nobody holds a live
    /// lock now: another acquirer raced this one; both back off and retry.
    Raced,
}

pub(super) async fn try_acquire(target: &Target, req: &LockRequest) -> Result<Attempt, LockError> {
    let scan = target.scan().await?;
    let needed = target.needed();
    if scan.reachable.len() < needed {
        return Err(LockError::NoQuorum {
            project: target.project.clone(),
            env: target.env.clone(),
            needed,
            total: target.hosts.len(),
            reached: scan.reachable.len(),
            errors: scan.errors,
        });
    }
    if let Some(live) = holders(
        &target.project,
        &target.env,
        needed,
        scan.objects.iter().map(|(_, o)| o),
    )
    .into_iter()
    .find(|h| !h.expired)
    {
        return Ok(Attempt::Held(Box::new(live)));
    }
    // Only expired objects are left: remove them by ID, never by name (a
    // racing acquirer may already have a fresh one under the same name).
    futures::future::join_all(scan.objects.iter().map(|(eng, stale)| async move {
        info!(holder = %stale.owner, host = %eng.host, id = %stale.id, "removing expired lock");
        if let Err(e) = eng.remove(&stale.id).await {
            warn!(host = %eng.host, error = %e, "could not remove an expired lock object");
        }
    }))
    .await;

    let labels_for = |now: DateTime<Utc>| {
        HashMap::from([
            (L_LOCK.to_string(), "1".to_string()),
            (L_PROJECT.to_string(), target.project.clone()),
            (L_ENV.to_string(), target.env.clone()),
            (L_OWNER.to_string(), req.owner.clone()),
            (L_RELEASE.to_string(), req.release.clone()),
            (L_MESSAGE.to_string(), req.message.clone()),
            (L_ACQUIRED.to_string(), rfc3339(now)),
            (L_TTL_MS.to_string(), req.ttl.as_millis().to_string()),
        ])
    };
    let name = target.container_name();
    let control = ControlState {
        word: Control::Run,
        seq: 0,
    }
    .encode();
    let created = futures::future::join_all(scan.reachable.iter().map(|eng| {
        let name = name.clone();
        let control = control.clone();
        async move {
            let now = eng.engine_time().await.unwrap_or_else(Utc::now);
            let beat = rfc3339(now);
            let r = eng
                .create_object(
                    &name,
                    labels_for(now),
                    &[
                        (HEARTBEAT_FILE, beat.as_str()),
                        (CONTROL_FILE, control.as_str()),
                    ],
                )
                .await;
            (eng.clone(), r)
        }
    }))
    .await;
    let mut ours: Vec<(Engine, String)> = Vec::new();
    let mut failure: Option<EngineError> = None;
    for (eng, r) in created {
        match r {
            Ok(id) => ours.push((eng, id)),
            Err(e) if e.is_conflict() => {
                debug!(host = %eng.host, "lock create: 409, someone else was first there");
            }
            Err(e) => {
                debug!(host = %eng.host, error = %e, "lock create failed");
                failure = Some(e);
            }
        }
    }
    if ours.len() < needed {
        futures::future::join_all(ours.iter().map(|(eng, id)| async move {
            if let Err(e) = eng.remove(id).await {
                warn!(host = %eng.host, %id, error = %e, "could not remove a minority lock object; it expires");
            }
        }))
        .await;
        let again = target.scan().await?;
        if let Some(live) = again.current().filter(|h| !h.expired) {
            return Ok(Attempt::Held(Box::new(live)));
        }
        if ours.is_empty()
            && let Some(e) = failure
        {
            return Err(e.into());
        }
        return Ok(Attempt::Raced);
    }

    let now = Utc::now();
    let hosts: Vec<String> = ours.iter().map(|(e, _)| e.host.clone()).collect();
    let info = LockInfo {
        project: target.project.clone(),
        env: target.env.clone(),
        host: hosts.first().cloned().unwrap_or_default(),
        hosts,
        container_id: ours.first().map(|(_, id)| id.clone()).unwrap_or_default(),
        owner: req.owner.clone(),
        release: req.release.clone(),
        message: req.message.clone(),
        acquired_at: now,
        heartbeat_at: Some(now),
        expires_at: chrono::TimeDelta::from_std(req.ttl).ok().map(|t| now + t),
        expired: false,
        control: Control::Run,
        control_seq: 0,
        state: None,
        held: ours.len(),
        needed,
    };
    info!(hosts = ?info.hosts, "lock acquired");
    let (control, _) = watch::channel(ControlState {
        word: Control::Run,
        seq: 0,
    });
    let (lost, _) = watch::channel(false);
    let channels = Arc::new(Channels { control, lost });
    let tasks = vec![
        tokio::spawn(heartbeat_loop(
            ours.clone(),
            needed,
            req.ttl,
            Arc::clone(&channels),
        )),
        tokio::spawn(control_loop(ours.clone(), Arc::clone(&channels))),
    ];
    Ok(Attempt::Got(Box::new(FleetLock {
        info,
        objects: ours,
        needed,
        channels,
        tasks,
    })))
}

/// Write the heartbeat into every object; lost when fewer than a majority
/// of them exist, or no beat reached a majority for a whole ttl.
async fn heartbeat_loop(
    objects: Vec<(Engine, String)>,
    needed: usize,
    ttl: Duration,
    channels: Arc<Channels>,
) {
    let every = (ttl / 3).max(MIN_BEAT);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; acquire just wrote one
    let mut last_ok = Instant::now();
    loop {
        tick.tick().await;
        let results = futures::future::join_all(objects.iter().map(|(eng, id)| async move {
            let now = eng.engine_time().await.unwrap_or_else(Utc::now);
            let beat = rfc3339(now);
            eng.write_files(id, &[(HEARTBEAT_FILE, beat.as_str())])
                .await
        }))
        .await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let gone = results
            .iter()
            .filter(|r| matches!(r, Err(e) if e.is_not_found()))
            .count();
        if objects.len() - gone < needed {
            warn!(gone, "lock objects are gone (broken?); lock lost");
            channels.lost.send_replace(true);
            return;
        }
        if ok >= needed {
            last_ok = Instant::now();
        } else {
            warn!(ok, needed, "lock heartbeat reached too few hosts");
            if last_ok.elapsed() >= ttl {
                warn!("no heartbeat reached a majority for a whole ttl; lock lost");
                channels.lost.send_replace(true);
                return;
            }
        }
    }
}

/// Read the control word every [`CONTROL_POLL`] from the first object that
/// answers; apply it unless it is older than what is known.
async fn control_loop(objects: Vec<(Engine, String)>, channels: Arc<Channels>) {
    let mut tick = tokio::time::interval(CONTROL_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut primary = 0usize;
    loop {
        tick.tick().await;
        if objects.is_empty() {
            return;
        }
        let mut read = None;
        for k in 0..objects.len() {
            let i = (primary + k) % objects.len();
            let (eng, id) = &objects[i];
            match eng.read_files(id).await {
                Ok(files) => {
                    primary = i;
                    read = files
                        .get(CONTROL_FILE)
                        .and_then(|s| ControlState::decode(s));
                    break;
                }
                Err(e) => debug!(host = %eng.host, error = %e, "control read failed"),
            }
        }
        let Some(read) = read else { continue };
        channels.control.send_if_modified(|known| {
            if known.superseded_by(read) {
                info!(control = %read.word, seq = read.seq, "control word changed");
                *known = read;
                true
            } else {
                false
            }
        });
    }
}
