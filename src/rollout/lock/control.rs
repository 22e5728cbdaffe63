//! Steering a rollout from any terminal: write a control word into the
//! live lock's objects, then wait for the holder's answer in its state file.

use super::*;

/// What [`send_control`] wrote and to whom.
#[derive(Debug, Clone)]
pub struct Sent {
    pub info: LockInfo,
    pub seq: u64,
}

/// Write `control` into the live lock's objects; error if no lock is held.
#[tracing::instrument(skip(config))]
pub async fn send_control(
    config: &Config,
    project: &str,
    env: &str,
    control: Control,
) -> Result<Sent, LockError> {
    Ok(send_control_on_scan(config, project, env, control).await?.0)
}

/// [`send_control`], with the engines that answered the scan.
async fn send_control_on_scan(
    config: &Config,
    project: &str,
    env: &str,
    control: Control,
) -> Result<(Sent, Vec<Engine>), LockError> {
    let target = Target::resolve(config, project, env)?;
    let scan = target.scan().await?;
    let Some(info) = scan.current().filter(|i| !i.expired) else {
        return Err(LockError::NoLock {
            project: project.to_string(),
            env: env.to_string(),
        });
    };
    let theirs: Vec<&(Engine, LockObject)> = scan
        .objects
        .iter()
        .filter(|(_, o)| o.release == info.release)
        .collect();
    let seq = theirs.iter().map(|(_, o)| o.control.seq).max().unwrap_or(0) + 1;
    let registers = Registers {
        clock_ms: None,
        word: Some(ControlState { word: control, seq }.register()),
    };
    let results = futures::future::join_all(
        theirs
            .iter()
            .map(|(eng, o)| eng.set_registers(&o.id, registers)),
    )
    .await;
    if results.iter().all(Result::is_err) {
        return match results.into_iter().find_map(Result::err) {
            Some(e) if e.is_not_found() => Err(LockError::NoLock {
                project: project.to_string(),
                env: env.to_string(),
            }),
            Some(e) => Err(e.into()),
            None => Err(LockError::NoLock {
                project: project.to_string(),
                env: env.to_string(),
            }),
        };
    }
    info!(holder = %info.owner, %control, seq, "control sent");
    let sent = Sent {
        info: LockInfo {
            control,
            control_seq: seq,
            ..info
        },
        seq,
    };
    Ok((sent, scan.reachable))
}

/// How a rollout answered a control word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// The holder reported this state for our sequence number (or a later one).
    State(HolderState),
    /// The lock of that release is gone: the rollout ended.
    Finished,
    /// Nothing within the wait.
    Silent,
}

/// What [`await_ack`] waits for: rollout `release` answering control
/// sequence `seq`, for at most `limit`.
#[derive(Debug, Clone)]
pub struct AckWait {
    pub release: String,
    pub seq: u64,
    pub limit: Duration,
}

/// Wait until the rollout answers with a state `done` accepts, or its lock
/// disappears, or the wait ends. `seen` hears every intermediate state once.
pub async fn await_ack(
    config: &Config,
    project: &str,
    env: &str,
    wait: &AckWait,
    done: impl Fn(&HolderState) -> bool,
    seen: impl Fn(&HolderState),
) -> Result<Ack, LockError> {
    let target = Target::resolve(config, project, env)?;
    let engines = target.connect_all().await;
    Ok(await_ack_on(&engines, &target, wait, done, seen).await)
}

/// [`await_ack`] on engines already connected. Only the holder's release
/// and state matter here, so the lock hosts' clocks are not read.
async fn await_ack_on(
    engines: &[Engine],
    target: &Target,
    wait: &AckWait,
    done: impl Fn(&HolderState) -> bool,
    seen: impl Fn(&HolderState),
) -> Ack {
    let AckWait {
        release,
        seq,
        limit,
    } = wait.clone();
    let release = release.as_str();
    let deadline = Instant::now() + limit;
    let mut last: Option<HolderState> = None;
    loop {
        let objects = read_all(engines, target, false).await;
        let ours: Vec<&LockObject> = objects.iter().filter(|o| o.release == release).collect();
        if !engines.is_empty() && ours.is_empty() {
            return Ack::Finished;
        }
        let newest = ours
            .iter()
            .filter_map(|o| o.state.clone())
            .filter(|s| s.seq >= seq)
            .max_by_key(|s| s.seq);
        if let Some(s) = newest {
            if done(&s) {
                return Ack::State(s);
            }
            if last.as_ref() != Some(&s) {
                seen(&s);
                last = Some(s);
            }
        }
        if Instant::now() >= deadline {
            return match last {
                Some(s) => Ack::State(s),
                None => Ack::Silent,
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How long a control request waits for the rollout's answer.
pub const CONTROL_ACK: Duration = Duration::from_secs(10);
/// How long a pause waits for the hosts in flight to finish.
pub const PAUSE_WAIT: Duration = Duration::from_secs(180);

/// How a control request ended, with the sentence that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The rollout did what was asked ("paused after h07", "resumed"…).
    Done(String),
    /// Received but not done within the wait, finished already, or silent.
    NotDone(String),
}

/// Write `control` into the lock of `project`/`env`, then wait for the
/// rollout to act on it: what the headless `control` and the console's
/// pause, resume and abort keys both do. `seen` hears intermediate states.
pub async fn request(
    config: &Config,
    project: &str,
    env: &str,
    control: Control,
    seen: impl Fn(&HolderState),
) -> Result<Answer, LockError> {
    let (p, e) = (project, env);
    let what = match control {
        Control::Pause => "pause",
        Control::Run => "resume",
        Control::Abort => "abort",
    };
    let (sent, engines) = send_control_on_scan(config, p, e, control).await?;
    let target = Target::resolve(config, p, e)?;
    let who = format!(
        "the rollout of {} (release {})",
        sent.info.owner, sent.info.release
    );
    let (limit, done): (Duration, fn(&HolderState) -> bool) = match control {
        Control::Pause => (PAUSE_WAIT, |s| s.phase == Phase::Paused),
        Control::Run => (CONTROL_ACK, |s| s.phase == Phase::Running),
        Control::Abort => (CONTROL_ACK, |s| s.phase == Phase::Aborting),
    };
    let wait = AckWait {
        release: sent.info.release.clone(),
        seq: sent.seq,
        limit,
    };
    Ok(
        match await_ack_on(&engines, &target, &wait, done, seen).await {
            Ack::State(s) if done(&s) => Answer::Done(format!("{p}/{e}: {} ({who})", s.detail)),
            Ack::State(s) => Answer::NotDone(format!(
                "{p}/{e}: {what} received by {who}, not done within {}s: {}",
                limit.as_secs(),
                s.detail
            )),
            Ack::Finished => Answer::NotDone(format!(
                "{p}/{e}: {who} had already finished (its lock is gone); nothing to {what}"
            )),
            Ack::Silent => {
                let beat = sent
                    .info
                    .heartbeat_at
                    .map(|t| format!("{}s ago", (chrono::Utc::now() - t).num_seconds().max(0)))
                    .unwrap_or_else(|| "never".into());
                Answer::NotDone(format!(
                    "{p}/{e}: wrote {what} into the lock, but {who} did not answer within {}s (last heartbeat {beat}); it may be an older shipdeck, or stuck",
                    CONTROL_ACK.as_secs()
                ))
            }
        },
    )
}
