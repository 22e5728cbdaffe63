//! Carry out `update()`'s effects: each becomes a task in the registry (or
//! an immediate call), and its answers come back as `Action`s on the one
//! bounded channel. The only place of the console with side effects.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::bridge;
use super::tasks::{TaskId, TaskRegistry};
use crate::app::{Action, ContainerVerb, Effect};
use crate::config::Config;
use crate::engine::{Engine, FleetWatchers};
use crate::health::probe_client;
use crate::rollout::executor::{Request, Runner as RolloutRunner};
use crate::rollout::journal::Journal;
use crate::rollout::lock::{self, Control};
use crate::rollout::{activity, checks, promote, release};

/// The stop and abort tokens of one of this console's rollouts.
struct RolloutTokens {
    stop: CancellationToken,
    abort: CancellationToken,
}

/// What the effects need.
pub struct EffectRunner {
    pub config: Arc<Config>,
    pub state_dir: PathBuf,
    pub tx: mpsc::Sender<Action>,
    pub tasks: TaskRegistry,
    pub watchers: FleetWatchers,
    rollouts: HashMap<(String, String), RolloutTokens>,
    /// Containers whose stats are read: id → host.
    stats: HashMap<String, String>,
    /// Log batches the loop may still take (see `logs::BATCHES_IN_FLIGHT`).
    pub log_credit: Arc<tokio::sync::Semaphore>,
}

impl EffectRunner {
    pub fn new(
        config: Arc<Config>,
        state_dir: PathBuf,
        tx: mpsc::Sender<Action>,
        tasks: TaskRegistry,
        watchers: FleetWatchers,
    ) -> Self {
        Self {
            config,
            state_dir,
            tx,
            tasks,
            watchers,
            rollouts: HashMap::new(),
            stats: HashMap::new(),
            log_credit: Arc::new(tokio::sync::Semaphore::new(super::logs::BATCHES_IN_FLIGHT)),
        }
    }

    /// Rollouts of this console that have not ended.
    pub fn rollouts_running(&self) -> usize {
        self.rollouts
            .keys()
            .filter(|(p, e)| self.tasks.running(&TaskId::Rollout(p.clone(), e.clone())))
            .count()
    }

    /// Carry out one effect (Quit, Redraw and Shell are the loop's own).
    pub fn run(&mut self, effect: Effect) {
        let config = self.config.clone();
        let tx = self.tx.clone();
        match effect {
            Effect::Quit | Effect::Redraw | Effect::Shell { .. } => {}
            Effect::Reconnect => self.watchers.reconnect_now(),
            Effect::StreamLogs {
                generation,
                targets,
                range,
            } => {
                let credit = self.log_credit.clone();
                // On the reader thread, which reads its sockets once a pace.
                self.tasks
                    .spawn_on(&super::paced::handle(), TaskId::Logs, move |cancel| {
                        super::logs::stream(
                            config,
                            targets,
                            range,
                            generation,
                            (tx, credit),
                            cancel,
                        )
                    });
            }
            Effect::StopLogs => self.tasks.cancel(&TaskId::Logs),
            Effect::SaveLogs { path, text } => {
                self.tasks.spawn(TaskId::SaveLogs, move |_| async move {
                    let lines = text.lines().count();
                    let result = super::logs::write_file(path, text)
                        .await
                        .map(|p| format!("{lines} lines written to {p}"));
                    let _ = tx.send(Action::Done { result }).await;
                });
            }
            Effect::FetchLogs {
                targets,
                range,
                path,
            } => {
                self.tasks.spawn(TaskId::SaveLogs, move |_| async move {
                    let result = super::logs::fetch_to_file(config, targets, range, path).await;
                    let _ = tx.send(Action::Done { result }).await;
                });
            }
            Effect::WatchStats { containers } => {
                let wanted: HashMap<String, String> =
                    containers.into_iter().map(|(h, id)| (id, h)).collect();
                for id in self.stats.keys() {
                    if !wanted.contains_key(id) {
                        self.tasks.cancel(&TaskId::Stats(id.clone()));
                    }
                }
                for (id, host) in &wanted {
                    if !self.stats.contains_key(id) {
                        let (config, tx, host, id2) =
                            (config.clone(), tx.clone(), host.clone(), id.clone());
                        self.tasks.spawn(TaskId::Stats(id.clone()), move |cancel| {
                            super::logs::stats(config, host, id2, tx, cancel)
                        });
                    }
                }
                self.stats = wanted;
            }
            Effect::LoadDockerfile { project } => {
                self.tasks
                    .spawn(TaskId::Dockerfile(project.clone()), move |_| async move {
                        let p = project.clone();
                        let result = tokio::task::spawn_blocking(move || {
                            crate::image::build_target(&config, &p)
                                .and_then(|(p, spec)| {
                                    crate::image::template::dockerfile(p, spec)
                                        .map_err(crate::image::BuildError::from)
                                })
                                .map_err(|e| e.to_string())
                        })
                        .await
                        .unwrap_or_else(|e| Err(format!("rendering ended abnormally: {e}")));
                        let _ = tx.send(Action::Dockerfile { project, result }).await;
                    });
            }
            Effect::LoadTags { project } => {
                self.tasks
                    .spawn(TaskId::Tags(project.clone()), move |_| async move {
                        let result = match config.project(&project) {
                            None => Err(format!("unknown project \"{project}\"")),
                            Some(p) => {
                                match crate::registry::RegistryClient::for_project(&config, p) {
                                    Ok(client) => client.tags().await.map_err(|e| e.to_string()),
                                    Err(e) => Err(e.to_string()),
                                }
                            }
                        };
                        let _ = tx.send(Action::Tags { project, result }).await;
                    });
            }
            Effect::StartBuild {
                project, version, ..
            } => self.build(project, version),
            Effect::LoadPlan {
                project,
                env,
                version,
            } => {
                let journal = Journal::in_dir(&self.state_dir);
                self.tasks.spawn(
                    TaskId::Plan(project.clone(), env.clone()),
                    move |_| async move {
                        let result =
                            checks::preview(&config, &journal, &project, &env, &version).await;
                        let _ = tx
                            .send(Action::Plan {
                                project,
                                env,
                                result,
                            })
                            .await;
                    },
                );
            }
            Effect::LoadPromotion { project, env, from } => {
                self.tasks.spawn(
                    TaskId::Promotion(project.clone(), env.clone()),
                    move |_| async move {
                        let result = match promote::check_path(&config, &project, &from, &env) {
                            Err(e) => Err(e.to_string()),
                            Ok(()) => promote::source(&config, &project, &from, &probe_client())
                                .await
                                .map_err(|e| e.to_string()),
                        };
                        let _ = tx
                            .send(Action::Promotion {
                                project,
                                env,
                                result,
                            })
                            .await;
                    },
                );
            }
            Effect::StartRelease {
                project,
                env,
                kind,
                message,
            } => self.release(project, env, kind, message),
            Effect::StopRollout {
                project,
                env,
                abort,
            } => {
                if let Some(t) = self.rollouts.get(&(project, env)) {
                    t.stop.cancel();
                    if abort {
                        t.abort.cancel();
                    }
                }
            }
            Effect::Control {
                project,
                env,
                control,
            } => {
                self.tasks.spawn(
                    TaskId::Control(project.clone(), env.clone()),
                    move |_| async move {
                        let result = control_and_wait(&config, &project, &env, control).await;
                        let _ = tx.send(Action::Done { result }).await;
                    },
                );
            }
            Effect::BreakLock { project, env } => {
                let journal = Journal::in_dir(&self.state_dir);
                self.tasks.spawn(
                    TaskId::Lock(project.clone(), env.clone()),
                    move |_| async move {
                        let result = match lock::break_lock(&config, &project, &env).await {
                            Ok(Some(info)) => {
                                let rec = crate::rollout::journal::Record::lock_broken(
                                    &project,
                                    &env,
                                    lock::current_owner(),
                                    &info.owner,
                                    &info.release,
                                );
                                let appended =
                                    tokio::task::spawn_blocking(move || journal.append(&rec)).await;
                                let note = match appended {
                                    Ok(Ok(())) => String::new(),
                                    Ok(Err(e)) => format!(" (not journaled: {e})"),
                                    Err(e) => format!(" (not journaled: {e})"),
                                };
                                Ok(format!(
                                    "{project}/{env}: broke the lock of {} (release {}){note}",
                                    info.owner, info.release
                                ))
                            }
                            Ok(None) => Ok(format!("{project}/{env}: not locked")),
                            Err(e) => Err(e.to_string()),
                        };
                        let _ = tx.send(Action::Done { result }).await;
                    },
                );
            }
            Effect::PollActivity { project, env, full } => {
                let journal = Journal::in_dir(&self.state_dir);
                self.tasks.spawn(
                    TaskId::Activity(project.clone(), env.clone()),
                    move |_| async move {
                        let activity = if full {
                            activity::activity(&config, &journal, &project, &env).await
                        } else {
                            activity::lock_only(&config, &project, &env).await
                        };
                        let _ = tx
                            .send(Action::Activity {
                                project,
                                env,
                                activity,
                                full,
                            })
                            .await;
                    },
                );
            }
            Effect::LoadHistory { project, env } => {
                let journal = Journal::in_dir(&self.state_dir);
                self.tasks.spawn(
                    TaskId::History(project.clone(), env.clone()),
                    move |_| async move {
                        let releases = activity::releases(&config, &journal, &project, &env).await;
                        let _ = tx
                            .send(Action::History {
                                project,
                                env,
                                result: Ok(releases),
                            })
                            .await;
                    },
                );
            }
            Effect::LoadReleaseEvents { release } => {
                let journal = Journal::in_dir(&self.state_dir);
                self.tasks.spawn(
                    TaskId::ReleaseEvents(release.clone()),
                    move |_| async move {
                        let id = release.clone();
                        let result = tokio::task::spawn_blocking(move || journal.records())
                            .await
                            .map_err(|e| e.to_string())
                            .and_then(|r| r.map_err(|e| e.to_string()))
                            .map(|records| release_lines(&records, &id));
                        let _ = tx.send(Action::ReleaseEvents { release, result }).await;
                    },
                );
            }
            Effect::ContainerAction {
                host,
                container,
                verb,
            } => {
                self.tasks.spawn(
                    TaskId::Container(host.clone(), container.clone()),
                    move |_| async move {
                        let result = async {
                            let e = Engine::connect_host(&config, &host).await?;
                            match verb {
                                ContainerVerb::Restart => e.restart(&container).await,
                                ContainerVerb::Stop => {
                                    e.stop(&container, Duration::from_secs(10)).await
                                }
                                ContainerVerb::Start => e.start(&container).await,
                            }
                        }
                        .await
                        .map(|()| format!("{host}: {} done", verb.word()))
                        .map_err(|e| format!("{host}: {} failed: {e}", verb.word()));
                        let _ = tx.send(Action::Done { result }).await;
                    },
                );
            }
            Effect::RemoveProject { project, env } => {
                self.tasks.spawn(
                    TaskId::RemoveProject(project.clone(), env.clone()),
                    move |_| async move {
                        let result = remove_project(&config, &project, &env).await;
                        let _ = tx.send(Action::Done { result }).await;
                    },
                );
            }
        }
    }

    fn build(&mut self, project: String, version: Option<String>) {
        let config = self.config.clone();
        let tx = self.tx.clone();
        let state_dir = self.state_dir.clone();
        self.tasks
            .spawn(TaskId::Build(project.clone()), move |cancel| async move {
                let (ev_tx, ev_rx) = mpsc::unbounded_channel();
                let forward = tokio::spawn(bridge::build(ev_rx, tx.clone(), project.clone()));
                let req = crate::image::BuildRequest {
                    project: project.clone(),
                    version,
                    push: true,
                    force: false,
                    user: lock::current_owner(),
                };
                // Its own task: whatever happens to it (even a panic), the
                // pane hears how it ended.
                let run = tokio::spawn(async move {
                    let builder = crate::image::Builder {
                        config: &config,
                        state_dir: &state_dir,
                        events: ev_tx,
                    };
                    builder.run(req).await
                });
                let abort = run.abort_handle();
                let result = tokio::select! {
                    r = run => match r {
                        Ok(r) => r.map(|report| report.digest).map_err(|e| e.to_string()),
                        Err(e) => Err(format!("the build task ended abnormally: {e}")),
                    },
                    _ = cancel.cancelled() => {
                        abort.abort();
                        Err("the console closed during the build".into())
                    }
                };
                // Every event is forwarded before the end is reported.
                let _ = forward.await;
                let _ = tx.send(Action::BuildDone { project, result }).await;
            });
    }

    fn release(
        &mut self,
        project: String,
        env: String,
        kind: crate::rollout::executor::Kind,
        message: String,
    ) {
        let config = self.config.clone();
        let tx = self.tx.clone();
        let journal = Journal::in_dir(&self.state_dir);
        let tokens = RolloutTokens {
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
        };
        let (stop, abort) = (tokens.stop.clone(), tokens.abort.clone());
        self.rollouts.insert((project.clone(), env.clone()), tokens);
        self.tasks.spawn(
            TaskId::Rollout(project.clone(), env.clone()),
            move |cancel| async move {
                let (ev_tx, ev_rx) = mpsc::unbounded_channel();
                let forward = tokio::spawn(bridge::rollout(
                    ev_rx,
                    tx.clone(),
                    project.clone(),
                    env.clone(),
                ));
                let runner = RolloutRunner {
                    config,
                    journal,
                    events: ev_tx,
                    http: probe_client(),
                    stop: stop.clone(),
                    abort,
                    stop_grace: Duration::from_secs(10),
                };
                let req = Request {
                    project: project.clone(),
                    env: env.clone(),
                    kind,
                    user: lock::current_owner(),
                    message,
                    lock_wait: None,
                    lock_ttl: checks::lock_ttl(),
                };
                // Its own task, so that a console that closes stops it the
                // way a first Ctrl-C does (no new host; the lock released).
                let run = tokio::spawn(async move { release::start(&runner, req).await });
                let stopper = tokio::spawn(async move {
                    cancel.cancelled().await;
                    stop.cancel();
                });
                let result = match run.await {
                    Ok(Ok(_report)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(format!("the rollout task crashed: {e}")),
                };
                stopper.abort();
                let _ = forward.await;
                let _ = tx
                    .send(Action::RolloutDone {
                        project,
                        env,
                        result,
                    })
                    .await;
            },
        );
    }
}

/// Write `control` into the lock, then wait for the rollout to act on it
/// (the same request as the headless `control`).
async fn control_and_wait(
    config: &Config,
    p: &str,
    e: &str,
    control: Control,
) -> Result<String, String> {
    match lock::control_request(config, p, e, control, |_| {}).await {
        Ok(lock::Answer::Done(m)) => Ok(m),
        Ok(lock::Answer::NotDone(m)) => Err(m),
        Err(err) => Err(err.to_string()),
    }
}

/// Stop and remove every container of `project` in `env`, host by host.
async fn remove_project(config: &Config, project: &str, env: &str) -> Result<String, String> {
    let hosts = Engine::connect_env(config, project, env).await;
    let count = hosts.len();
    let results = futures::future::join_all(hosts.into_iter().map(|(h, e)| async move {
        let remove = async {
            let e = e?;
            let containers = e.app_containers(project, env).await?;
            let n = containers.len();
            for c in containers {
                e.remove(&c.id).await?;
            }
            Ok::<usize, crate::engine::EngineError>(n)
        };
        (h, remove.await)
    }))
    .await;
    let mut removed = 0;
    let mut failed = Vec::new();
    for (h, r) in results {
        match r {
            Ok(n) => removed += n,
            Err(e) => failed.push(format!("{h}: {e}")),
        }
    }
    if failed.is_empty() {
        Ok(format!(
            "{project} removed from {env}: {removed} container(s) on {count} host(s)"
        ))
    } else {
        Err(format!(
            "{project}/{env}: removed {removed} container(s); failed on {}",
            failed.join("; ")
        ))
    }
}

/// The journal's lines of one release, as the release view shows them.
fn release_lines(records: &[crate::rollout::journal::Record], release: &str) -> Vec<String> {
    let lines: Vec<String> = records
        .iter()
        .filter(|r| r.release == release)
        .map(|r| {
            let mut kind = serde_json::to_value(&r.kind).unwrap_or_default();
            let what = kind
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or("?")
                .to_string();
            if let Some(o) = kind.as_object_mut() {
                o.remove("kind");
            }
            format!(
                "{}  {:<10} {:<20} {}",
                r.ts.format("%Y-%m-%d %H:%M:%S"),
                what,
                r.user,
                kind
            )
        })
        .collect();
    if lines.is_empty() {
        return vec![format!(
            "this machine's journal has no events of release {release}: it ran elsewhere (the fleet's ledger has only its summary)"
        )];
    }
    lines
}
