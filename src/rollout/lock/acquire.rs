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
    // Objects of this very release are leftovers of an earlier attempt of
    // ours (a minority that could not be removed): not someone else's lock.
    let theirs = scan
        .objects
        .iter()
        .filter(|(_, o)| o.release != req.release);
    if let Some(live) = holders(&target.project, &target.env, needed, theirs.map(|(_, o)| o))
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

    let state_hosts: Vec<String> = scan
        .reachable
        .iter()
        .take(STATE_COPIES)
        .map(|e| e.host.clone())
        .collect();
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
            (L_STATE_HOSTS.to_string(), state_hosts.join(",")),
        ])
    };
    let name = target.container_name();
    let control = ControlState {
        word: Control::Run,
        seq: 0,
    }
    .register();
    let round_start = Instant::now();
    // A strict majority is all the lock needs: create on the first `needed`
    // hosts that answer, and on the next ones only for those that failed
    // (fewer objects: less to create, heartbeat and remove on a big fleet).
    let create = |eng: &Engine| {
        let name = name.clone();
        let eng = eng.clone();
        async move {
            // Times in the lock are the lock host's clock, never ours: an
            // engine whose clock cannot be read gets no lock object.
            // Taken before the call: later beats are this engine time plus
            // the monotonic time since, which can overstate a beat's time by
            // one round trip at most, in the safe direction (the holder's own
            // deadline comes first), and no wall-clock step moves it.
            let since = Instant::now();
            let Some(now) = eng.engine_time().await else {
                let e = EngineError::api(
                    &eng.endpoint,
                    "lock create",
                    "the engine's clock (/info) could not be read",
                );
                return (eng, Err(e));
            };
            let registers = Registers {
                clock_ms: Some(now.timestamp_millis()),
                word: Some(control),
            };
            let r = match eng
                .create_object(&name, labels_for(now), registers, &[])
                .await
            {
                Ok(id) => {
                    // An engine without the pids cgroup drops PidsLimit
                    // without an error: that object beats into a file.
                    let stored = eng
                        .find_object(&id)
                        .await
                        .ok()
                        .flatten()
                        .is_some_and(|o| o.registers.clock_ms.is_some());
                    let clock = Clock {
                        engine_at: now,
                        since,
                        in_file: !stored,
                    };
                    let beat = rfc3339(now);
                    if clock.in_file
                        && let Err(e) = eng
                            .write_files(&id, &[(HEARTBEAT_FILE, beat.as_str())])
                            .await
                    {
                        let _ = eng.remove(&id).await;
                        Err(e)
                    } else {
                        Ok((id, clock))
                    }
                }
                Err(e) => Err(e),
            };
            (eng, r)
        }
    };
    let mut ours: Vec<(Engine, String)> = Vec::new();
    let mut skews: Vec<Clock> = Vec::new();
    let mut failure: Option<EngineError> = None;
    let mut untried = scan.reachable.iter();
    // One object more than a majority where there is a host for it: one slow
    // or restarting lock host then costs no heartbeat round.
    let want = (needed + 1).min(scan.reachable.len());
    while ours.len() < want {
        let wave: Vec<&Engine> = untried.by_ref().take(want - ours.len()).collect();
        if wave.is_empty() {
            break;
        }
        for (eng, r) in futures::future::join_all(wave.into_iter().map(create)).await {
            match r {
                Ok((id, skew)) => {
                    ours.push((eng, id));
                    skews.push(skew);
                }
                Err(e) if e.is_conflict() => {
                    debug!(host = %eng.host, "lock create: 409, someone else was first there");
                }
                Err(e) => {
                    debug!(host = %eng.host, error = %e, "lock create failed");
                    failure = Some(e);
                }
            }
        }
    }
    // Config order, so the first objects are the state carriers.
    let order: Vec<&str> = scan.reachable.iter().map(|e| e.host.as_str()).collect();
    let mut paired: Vec<((Engine, String), Clock)> = ours.into_iter().zip(skews).collect();
    paired.sort_by_key(|((e, _), _)| order.iter().position(|h| *h == e.host));
    let (ours, skews): (Vec<(Engine, String)>, Vec<Clock>) = paired.into_iter().unzip();
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
    let channels = Arc::new(Channels {
        control,
        lost,
        last_quorum: std::sync::Mutex::new(round_start),
        ttl: req.ttl,
    });
    let tasks = vec![
        tokio::spawn(heartbeat_loop(
            ours.iter().cloned().zip(skews).collect(),
            needed,
            req.ttl,
            Arc::clone(&channels),
        )),
        tokio::spawn(control_loop(ours.clone(), Arc::clone(&channels))),
    ];
    Ok(Attempt::Got(Box::new(FleetLock {
        info,
        state_hosts,
        objects: ours,
        needed,
        channels,
        tasks,
    })))
}

/// Write the heartbeat into every object: the lock host's clock, from the
/// offset measured when the object was made (one call per beat, not two).
/// The lock is lost when fewer than a majority of the objects exist, or no
/// round reached a majority in time (see `Channels::deadline_passed`). Each
/// host's beat is bounded on its own: a slow one cannot stretch the round,
/// nor hide the others' answers.
async fn heartbeat_loop(
    objects: Vec<((Engine, String), Clock)>,
    needed: usize,
    ttl: Duration,
    channels: Arc<Channels>,
) {
    // Six beats a ttl: a slow host or two may miss a few rounds before the
    // holder's deadline (5/6 of the ttl) without a quorum passes.
    let every = (ttl / 6).max(MIN_BEAT);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await; // the first tick is immediate; acquire just wrote one
    loop {
        let due = tick.tick().await;
        let round_start = Instant::now();
        debug!(
            late_ms = (round_start - due).as_millis() as u64,
            "lock heartbeat round"
        );
        let results =
            futures::future::join_all(objects.iter().map(|((eng, id), clock)| async move {
                let at = clock.now();
                let write = async {
                    if clock.in_file {
                        let text = rfc3339(at);
                        eng.write_files(id, &[(HEARTBEAT_FILE, text.as_str())])
                            .await
                    } else {
                        let beat = Registers {
                            clock_ms: Some(at.timestamp_millis()),
                            word: None,
                        };
                        eng.set_registers(id, beat).await
                    }
                };
                match tokio::time::timeout(every, write).await {
                    Ok(r) => r,
                    Err(_) => Err(EngineError::Timeout {
                        endpoint: eng.endpoint.clone(),
                        what: "lock heartbeat",
                        secs: every.as_secs().max(1),
                    }),
                }
            }))
            .await;
        for ((eng, _), r) in objects.iter().map(|(o, _)| o).zip(&results) {
            if let Err(e) = r {
                debug!(host = %eng.host, error = %e, "lock heartbeat failed");
            }
        }
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
            channels.mark_quorum(round_start);
        } else {
            warn!(ok, needed, "lock heartbeat reached too few hosts");
        }
        if channels.deadline_passed() {
            warn!("no heartbeat reached a majority in time; lock lost");
            channels.lost.send_replace(true);
            return;
        }
    }
}

/// The newest control word among `objects` (all read at once, bounded).
pub(super) async fn read_control(objects: &[(Engine, String)]) -> Option<ControlState> {
    // Each read bounded on its own: one slow engine hides nothing.
    let reads = futures::future::join_all(objects.iter().map(|(eng, id)| async move {
        tokio::time::timeout(CONTROL_POLL, eng.find_object(id))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .and_then(|o| o.registers.word)
            .and_then(ControlState::from_register)
    }))
    .await;
    reads.into_iter().flatten().max_by_key(|c| c.rank())
}

/// Where a lock object's heartbeat time comes from: the lock host's clock
/// read when the object was made, plus the monotonic time since.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    engine_at: DateTime<Utc>,
    since: Instant,
    /// The engine does not keep the heartbeat register (no pids cgroup):
    /// the beat goes into a file.
    in_file: bool,
}

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::TimeDelta::from_std(self.since.elapsed()).unwrap_or_default();
        self.engine_at
            .checked_add_signed(elapsed)
            .unwrap_or(self.engine_at)
    }
}

/// Read the control word every [`CONTROL_POLL`] from every object (an
/// operator's write that reached only some of them is still seen); apply it
/// unless it is older than what is known.
async fn control_loop(objects: Vec<(Engine, String)>, channels: Arc<Channels>) {
    let mut tick = tokio::time::interval(CONTROL_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(read) = read_control(&objects).await else {
            continue;
        };
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
