//! Taking the lock (atomic create, expiry, races), the lock image, and the
//! holder's heartbeat task.

use super::*;

pub(super) enum Attempt {
    Got(Box<FleetLock>),
    Held(Box<LockInfo>),
    /// Create said 409 but no lock was there a moment later.
    Raced,
}

pub(super) async fn try_acquire(target: &Target, req: &LockRequest) -> Result<Attempt, LockError> {
    let scan = target.scan().await?;
    if let Some((_, live)) = scan.locks.iter().find(|(_, l)| !l.expired) {
        return Ok(Attempt::Held(Box::new(live.clone())));
    }
    for (conn, stale) in &scan.locks {
        // By ID, never by name: a racing breaker may already have put a fresh
        // lock under the same name.
        info!(holder = %stale.owner, host = %stale.host, id = %stale.container_id, "removing expired lock");
        remove_by_id(conn, &stale.container_id).await?;
    }
    let Some(first) = scan.reachable.first() else {
        return Err(target.no_reachable_host(scan.errors));
    };

    ensure_image(first).await?;
    let now = engine_time(first).await.unwrap_or_else(Utc::now);
    let labels = HashMap::from([
        (L_LOCK.to_string(), "1".to_string()),
        (L_PROJECT.to_string(), target.project.clone()),
        (L_ENV.to_string(), target.env.clone()),
        (L_OWNER.to_string(), req.owner.clone()),
        (L_RELEASE.to_string(), req.release.clone()),
        (L_MESSAGE.to_string(), req.message.clone()),
        (L_ACQUIRED.to_string(), now.to_rfc3339()),
        (L_TTL_MS.to_string(), req.ttl.as_millis().to_string()),
    ]);
    let body = ContainerCreateBody {
        image: Some(LOCK_IMAGE.to_string()),
        cmd: Some(vec!["/lock".to_string()]),
        labels: Some(labels),
        network_disabled: Some(true),
        ..Default::default()
    };
    let opts = CreateContainerOptions {
        name: Some(target.container_name()),
        ..Default::default()
    };
    let created = call(
        &first.shown,
        "lock create",
        first.timeout,
        first.docker.create_container(Some(opts), body),
    )
    .await;
    let id = match created {
        Ok(c) => c.id,
        Err(e) if e.status == Some(409) => {
            debug!(host = %first.name, "lock create: 409, someone else was first");
            let again = target.scan().await?;
            // Gone again, or an expired one the next attempt removes: try again.
            return Ok(match again.current() {
                Some((_, info)) if !info.expired => Attempt::Held(Box::new(info.clone())),
                _ => Attempt::Raced,
            });
        }
        Err(e) => return Err(e.error.into()),
    };

    let heartbeat = rfc3339(now);
    let files = files_tar(&[
        (HEARTBEAT_FILE, heartbeat.as_str()),
        (CONTROL_FILE, Control::Run.as_str()),
    ])?;
    if let Err(e) = upload(first, &id, files).await {
        if let Err(cleanup) = remove_by_id(first, &id).await {
            warn!(host = %first.name, %id, error = %cleanup, "could not remove a half-made lock; it expires");
        }
        return Err(e.error.into());
    }

    // A host that was down for an earlier acquirer may hold its lock: if any
    // other reachable host has a live one, back off. Both sides backing off is
    // safe; both proceeding is not.
    for other in scan.reachable.iter().skip(1) {
        match read_lock(other, target).await {
            Ok(Some(theirs)) if !theirs.expired && theirs.container_id != id => {
                warn!(holder = %theirs.owner, host = %theirs.host, "another host holds a lock; backing off");
                remove_by_id(first, &id).await?;
                return Ok(Attempt::Held(Box::new(theirs)));
            }
            Ok(_) => {}
            Err(e) => debug!(host = %other.name, error = %e, "re-check after create failed"),
        }
    }

    let local_now = Utc::now();
    let info = LockInfo {
        project: target.project.clone(),
        env: target.env.clone(),
        host: first.name.clone(),
        container_id: id.clone(),
        owner: req.owner.clone(),
        release: req.release.clone(),
        message: req.message.clone(),
        acquired_at: local_now,
        heartbeat_at: Some(local_now),
        expired: false,
        control: Control::Run,
    };
    info!(host = %first.name, id = %id, "lock acquired");
    let (control, _) = watch::channel(Control::Run);
    let (lost, _) = watch::channel(false);
    let channels = Arc::new(Channels { control, lost });
    let task = tokio::spawn(heartbeat_loop(
        first.clone(),
        id,
        req.ttl,
        Arc::clone(&channels),
    ));
    Ok(Attempt::Got(Box::new(FleetLock {
        info,
        conn: first.clone(),
        channels,
        heartbeat: task,
    })))
}

/// Import `shipdeck/lock:1` on `conn` unless it is there: one small file, no
/// registry, works offline.
pub(super) async fn ensure_image(conn: &Conn) -> Result<(), EngineError> {
    match call(
        &conn.shown,
        "lock image inspect",
        conn.timeout,
        conn.docker.inspect_image(LOCK_IMAGE),
    )
    .await
    {
        Ok(_) => return Ok(()),
        Err(e) if e.status == Some(404) => {}
        Err(e) => return Err(e.error),
    }
    info!(host = %conn.name, "importing {LOCK_IMAGE}");
    let rootfs = image_tar()?;
    let opts = CreateImageOptions {
        from_src: Some("-".to_string()),
        repo: Some(LOCK_IMAGE_REPO.to_string()),
        tag: Some(LOCK_IMAGE_TAG.to_string()),
        message: Some("shipdeck fleet lock object (created, never started)".to_string()),
        ..Default::default()
    };
    let import = async {
        let mut progress =
            conn.docker
                .create_image(Some(opts), Some(bollard::body_full(rootfs.into())), None);
        while let Some(item) = progress.next().await {
            item?;
        }
        Ok(())
    };
    call(&conn.shown, "lock image import", conn.timeout, import)
        .await
        .map_err(|e| e.error)
}

// ---------------------------------------------------------------- heartbeat

pub(super) async fn heartbeat_loop(conn: Conn, id: String, ttl: Duration, channels: Arc<Channels>) {
    let every = (ttl / 3).max(MIN_BEAT);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; acquire just wrote one
    let mut last_ok = Instant::now();
    loop {
        tick.tick().await;
        match beat(&conn, &id).await {
            Ok(control) => {
                last_ok = Instant::now();
                channels.control.send_if_modified(|c| {
                    let changed = *c != control;
                    *c = control;
                    changed
                });
            }
            Err(e) if e.status == Some(404) => {
                warn!(host = %conn.name, %id, "lock object is gone (broken?); lock lost");
                channels.lost.send_replace(true);
                return;
            }
            Err(e) => {
                warn!(host = %conn.name, error = %e.error, "lock heartbeat failed");
                if last_ok.elapsed() >= ttl {
                    warn!(host = %conn.name, "no heartbeat got through for a whole ttl; lock lost");
                    channels.lost.send_replace(true);
                    return;
                }
            }
        }
    }
}

/// Write the heartbeat, read the control word.
pub(super) async fn beat(conn: &Conn, id: &str) -> Result<Control, CallError> {
    let now = engine_time(conn).await.unwrap_or_else(Utc::now);
    let tar = files_tar(&[(HEARTBEAT_FILE, rfc3339(now).as_str())]).map_err(CallError::from)?;
    upload(conn, id, tar).await?;
    let files = download(conn, id).await?;
    Ok(match files.control.as_deref().map(Control::parse) {
        Some(Some(c)) => c,
        Some(None) => {
            warn!(value = ?files.control, "unknown control word in lock; ignoring it");
            Control::Run
        }
        None => Control::Run,
    })
}
