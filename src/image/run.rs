//! Running a build: the engine's build and push streams (as plain items from
//! `crate::engine::build`), the build log, the journal record, and the step
//! tracking that finds the failing step. Must not import bollard: every
//! engine call goes through `crate::engine`. No password reaches a log line
//! or an event: logins are shown by `RegistryLogin::describe`.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::output::{Log, StepFailure, StepTracker};
use super::*;
use crate::config::{Config, DockerfileSource, Project, RegistryLogin};
use crate::engine::build::{BuiltImage, ImageBuild};
use crate::engine::{Engine, EngineError};
use crate::rollout::journal::{Journal, Record, RecordKind};

/// The registry a push goes to, for messages: the login's description, the
/// `[[registries]]` entry without a login, or the image's registry host.
fn registry_shown(config: &Config, project: &Project, login: Option<&RegistryLogin>) -> String {
    if let Some(l) = login {
        return l.describe();
    }
    match project
        .registry
        .as_deref()
        .and_then(|n| config.registries.iter().find(|r| r.name == n))
    {
        Some(reg) => format!("{} ({})", reg.name, reg.url),
        None => registry_host(&project.image).to_string(),
    }
}

/// What the engine said, without the endpoint prefix (the build host is
/// already named wherever this is shown).
fn engine_reason(e: &EngineError) -> String {
    match e {
        EngineError::Api { reason, .. } => reason.clone(),
        other => other.short(),
    }
}

/// What a build is about, once it has started (for its end report).
#[derive(Clone, Copy)]
struct Run<'a> {
    req: &'a BuildRequest,
    project: &'a Project,
    host: &'a str,
    version: &'a str,
    image: &'a str,
    t0: Instant,
}

/// Builds (and pushes) one project. Events go to `events`; the result is
/// journaled either way.
pub struct Builder<'a> {
    pub config: &'a Config,
    pub state_dir: &'a Path,
    pub events: mpsc::UnboundedSender<BuildEvent>,
}

impl Builder<'_> {
    pub(super) fn emit(&self, log: &mut Log, e: BuildEvent) {
        match &e {
            BuildEvent::Output { line } => log.line(line),
            other => log.line(&other.human()),
        }
        let _ = self.events.send(e);
    }

    pub async fn run(&self, req: BuildRequest) -> Result<BuildReport, BuildError> {
        let t0 = Instant::now();
        let (project, spec) = build_target(self.config, &req.project)?;
        if let Some(v) = &req.version {
            check_tag(v)?;
        }
        // git is bounded by its own timeouts; the template files are blocking
        // work, off the async workers.
        let version = match &req.version {
            Some(v) => v.clone(),
            None => version_from_git(&spec.context, Utc::now())
                .await
                .map_err(|e| match e {
                    GitError::NotACheckout(reason) => BuildError::NoVersion {
                        project: project.name.clone(),
                        context: spec.context.display().to_string(),
                        reason,
                    },
                    GitError::Failed(reason) => BuildError::Git {
                        project: project.name.clone(),
                        reason,
                    },
                })?,
        };
        let (p, sp) = (project.clone(), spec.clone());
        let dockerfile = tokio::task::spawn_blocking(move || template::dockerfile(&p, &sp))
            .await
            .map_err(|e| {
                BuildError::Context(ContextError::Io {
                    path: spec.context.clone(),
                    reason: format!("preparing the build ended abnormally: {e}"),
                })
            })??;
        if req.push && !req.force {
            self.check_tag_free(project, &version).await?;
        }
        // The registry login also lets the builder pull FROM images there; a
        // build that does not push can go on without it.
        let login = match self.config.registry_login(project) {
            Ok(l) => l,
            Err(e) if req.push => return Err(e.into()),
            Err(_) => None,
        };
        let registry_shown = registry_shown(self.config, project, login.as_ref());
        let host = self
            .config
            .host(&spec.host)
            .ok_or_else(|| BuildError::Host {
                host: spec.host.clone(),
                endpoint: "-".into(),
                reason: "not in the inventory".into(),
            })?;
        let host_err = |reason: String| BuildError::Host {
            host: host.name.clone(),
            endpoint: host.endpoint.to_string(),
            reason,
        };
        // Reachability is checked with the usual timeout; the build itself
        // (context upload, steps, push) is bounded by BUILD_TIMEOUT, since the
        // engine answers the build call only once it has the whole context.
        let engine = Engine::connect_host_for_builds(self.config, &host.name, BUILD_TIMEOUT)
            .await
            .map_err(|e| host_err(e.short()))?;

        let dir = spec.context.clone();
        let df = dockerfile.clone();
        let ctx = tokio::task::spawn_blocking(move || context::pack(&dir, &df))
            .await
            .map_err(|e| {
                BuildError::Context(ContextError::Io {
                    path: spec.context.clone(),
                    reason: e.to_string(),
                })
            })??;

        let image = format!("{}:{version}", project.image);
        let mut log = Log::open(self.state_dir, &project.name, &version)?;
        log.line(&format!(
            "=== {} shipdeck build {} {version} by {} on {} ({})",
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            project.name,
            req.user,
            host.name,
            host.endpoint
        ));
        log.line("--- Dockerfile");
        for l in dockerfile.lines() {
            log.line(l);
        }
        log.line("---");
        let shown_df = match &spec.dockerfile {
            DockerfileSource::Template { name, .. } => format!("template {name}"),
            DockerfileSource::File(p) => format!("Dockerfile {}", p.display()),
        };
        let log_shown = log.path.display().to_string();
        let run = Run {
            req: &req,
            project,
            host: &host.name,
            version: &version,
            image: &image,
            t0,
        };
        self.emit(
            &mut log,
            BuildEvent::Started {
                project: project.name.clone(),
                version: version.clone(),
                image: image.clone(),
                host: host.name.clone(),
                dockerfile: shown_df,
                context_files: ctx.files,
                context_bytes: ctx.bytes,
                ignored: ctx.ignored,
                log: log_shown.clone(),
            },
        );

        let built = tokio::time::timeout(
            BUILD_TIMEOUT,
            self.build(&engine, &mut log, &run, spec, ctx.tar, login.as_ref()),
        )
        .await
        .unwrap_or_else(|_| {
            Err(StepFailure {
                step: None,
                error: format!("no result within {} min", BUILD_TIMEOUT.as_secs() / 60),
                output: Vec::new(),
            })
        });
        let BuiltImage {
            id: image_id,
            layers,
        } = match built {
            Ok(b) => b,
            Err(f) => {
                self.emit(
                    &mut log,
                    BuildEvent::Failed {
                        stage: "build".into(),
                        step: f.step.clone(),
                        error: f.error.clone(),
                        output: f.output,
                    },
                );
                let error = Some(format!("build: {}", f.error));
                let _ = self.finish(&mut log, &run, None, None, error);
                return Err(BuildError::Failed {
                    project: project.name.clone(),
                    version,
                    step: f.step,
                    error: f.error,
                    log: log_shown,
                });
            }
        };
        self.emit(
            &mut log,
            BuildEvent::Built {
                image_id: image_id.clone(),
                layers,
                secs: t0.elapsed().as_secs_f64(),
            },
        );

        let mut digest = None;
        if req.push {
            self.emit(
                &mut log,
                BuildEvent::PushStarted {
                    image: image.clone(),
                    registry: registry_shown.clone(),
                },
            );
            let tp = Instant::now();
            let pushed = tokio::time::timeout(
                BUILD_TIMEOUT,
                self.push(&engine, &mut log, project, &version, login.as_ref()),
            )
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no result within {} min",
                    BUILD_TIMEOUT.as_secs() / 60
                ))
            });
            // The registry must now serve that tag at that digest.
            let pushed = match pushed {
                Ok(d) => self.confirm_push(&mut log, project, &version, d).await,
                Err(e) => Err(e),
            };
            match pushed {
                Ok(d) => {
                    self.emit(
                        &mut log,
                        BuildEvent::Pushed {
                            digest: d.clone(),
                            secs: tp.elapsed().as_secs_f64(),
                        },
                    );
                    digest = Some(d);
                }
                Err(error) => {
                    let hint = if error.contains("unauthorized")
                        || error.contains("authentication required")
                    {
                        format!(
                            " (401 Unauthorized); the registry refused the login: check the user name and the password reference of registry {registry_shown}"
                        )
                    } else if error.contains("denied") {
                        format!(
                            "; the registry denied the push: check that the repository exists and that the user of registry {registry_shown} may push to it"
                        )
                    } else {
                        String::new()
                    };
                    self.emit(
                        &mut log,
                        BuildEvent::Failed {
                            stage: "push".into(),
                            step: None,
                            error: format!("{error}{hint}"),
                            output: Vec::new(),
                        },
                    );
                    let failed = Some(format!("push: {error}"));
                    let _ = self.finish(&mut log, &run, Some(&image_id), None, failed);
                    return Err(BuildError::Push {
                        image,
                        error,
                        hint,
                        log: log_shown,
                    });
                }
            }
        }

        let secs = t0.elapsed().as_secs_f64();
        self.finish(&mut log, &run, Some(&image_id), digest.clone(), None)
        .map_err(|e| {
            BuildError::Journal(format!(
                "{image} was built{} but the journal could not be written: {e}; do not build it again, the image is there",
                digest
                    .as_deref()
                    .map(|d| format!(" and pushed ({d})"))
                    .unwrap_or_default()
            ))
        })?;
        Ok(BuildReport {
            version,
            image,
            image_id,
            digest,
            log: log.path,
            secs,
        })
    }

    /// Journals the build (failed ones too) and reports its end.
    fn finish(
        &self,
        log: &mut Log,
        run: &Run<'_>,
        image_id: Option<&str>,
        digest: Option<String>,
        error: Option<String>,
    ) -> Result<(), String> {
        let Run {
            req,
            project,
            host,
            version,
            image,
            t0,
        } = *run;
        let ok = error.is_none();
        let shown = log.path.display().to_string();
        let record = Record {
            ts: Utc::now(),
            release: crate::rollout::executor::new_release_id(),
            project: project.name.clone(),
            env: String::new(),
            user: req.user.clone(),
            kind: RecordKind::Built {
                version: version.to_string(),
                image: image.to_string(),
                image_id: image_id.unwrap_or_default().to_string(),
                digest: digest.clone(),
                pushed: ok && req.push,
                host: host.to_string(),
                log: shown.clone(),
                duration_secs: t0.elapsed().as_secs_f64(),
                outcome: if ok { "succeeded" } else { "failed" }.into(),
                error,
            },
        };
        let journaled = Journal::in_dir(self.state_dir)
            .append(&record)
            .map_err(|e| e.to_string());
        if let Err(e) = &journaled {
            log.line(&format!("journal: {e}"));
        }
        self.emit(
            log,
            BuildEvent::Finished {
                outcome: if ok { "succeeded" } else { "failed" }.into(),
                version: version.to_string(),
                image: project.image.clone(),
                digest,
                log: shown,
                secs: t0.elapsed().as_secs_f64(),
            },
        );
        let _ = log.file.flush();
        journaled
    }

    /// Refuses a push that would move an existing tag. A registry that cannot
    /// be asked here is no reason to refuse (the push will tell).
    async fn check_tag_free(&self, project: &Project, version: &str) -> Result<(), BuildError> {
        let Ok(client) = crate::registry::RegistryClient::for_project(self.config, project) else {
            return Ok(());
        };
        match client.manifest_digest(version).await {
            Ok(Some(digest)) => Err(BuildError::TagExists {
                image: format!("{}:{version}", project.image),
                digest,
            }),
            _ => Ok(()),
        }
    }

    /// Asks the registry for the tag just pushed: it must resolve to the digest
    /// the engine reported. A registry that cannot be asked (no API access
    /// from here) leaves the engine's word standing, with a note in the log.
    async fn confirm_push(
        &self,
        log: &mut Log,
        project: &Project,
        version: &str,
        digest: String,
    ) -> Result<String, String> {
        let client = match crate::registry::RegistryClient::for_project(self.config, project) {
            Ok(c) => c,
            Err(e) => {
                self.emit(
                    log,
                    BuildEvent::Output {
                        line: format!("push: digest not confirmed with the registry: {e}"),
                    },
                );
                return Ok(digest);
            }
        };
        match client.manifest_digest(version).await {
            Ok(Some(d)) if d == digest => Ok(digest),
            Ok(Some(d)) => Err(format!(
                "the engine pushed {digest} but the registry serves {d} for tag {version}; another push raced this one"
            )),
            Ok(None) => Err(format!("the registry has no tag {version} after the push")),
            Err(e) => {
                self.emit(
                    log,
                    BuildEvent::Output {
                        line: format!("push: digest not confirmed with the registry: {e}"),
                    },
                );
                Ok(digest)
            }
        }
    }

    /// Runs the classic builder; the built image, or what failed.
    async fn build(
        &self,
        engine: &Engine,
        log: &mut Log,
        run: &Run<'_>,
        spec: &crate::config::BuildSpec,
        tar: Vec<u8>,
        login: Option<&RegistryLogin>,
    ) -> Result<BuiltImage, StepFailure> {
        let (project, version, image) = (run.project, run.version, run.image);
        let mut args: HashMap<String, String> = spec.args.clone().into_iter().collect();
        args.insert("SHIPDECK_VERSION".into(), version.to_string());
        // Differs on every build: the layers after `ARG SHIPDECK_CACHE_BUST` are rebuilt.
        args.insert(
            "SHIPDECK_CACHE_BUST".into(),
            format!(
                "{version}.{}",
                Utc::now().timestamp_nanos_opt().unwrap_or(0)
            ),
        );
        let labels: HashMap<String, String> = HashMap::from([
            (
                "org.opencontainers.image.version".to_string(),
                version.to_string(),
            ),
            (
                "org.opencontainers.image.title".to_string(),
                project.name.clone(),
            ),
        ]);
        let build = ImageBuild {
            tag: image.to_string(),
            dockerfile: DOCKERFILE.to_string(),
            args,
            labels,
        };
        let mut stream = engine.build_image(build, tar, login);
        let mut steps = StepTracker::default();
        while let Some(item) = stream.next().await {
            let out = match item {
                Ok(o) => o,
                Err(e) => {
                    steps.flush(self, log);
                    return Err(steps.failure(engine_reason(&e)));
                }
            };
            if let Some(text) = out.stream {
                steps.push_text(self, log, &text);
            }
            if let Some(status) = out.status {
                let line = match out.id {
                    Some(id) => format!("{id}: {status}"),
                    None => status,
                };
                steps.line(self, log, &line);
            }
            if let Some(e) = out.error.filter(|m| !m.trim().is_empty()) {
                steps.flush(self, log);
                return Err(steps.failure(e.trim().to_string()));
            }
        }
        drop(stream);
        steps.flush(self, log);
        // The tag is the truth (a step's own output may say "Successfully built").
        engine.built_image(image).await.map_err(|e| {
            steps.failure(format!(
                "the engine reported no image {image}: {}",
                engine_reason(&e)
            ))
        })
    }

    /// Pushes `project.image:version`; the registry digest, or the error.
    async fn push(
        &self,
        engine: &Engine,
        log: &mut Log,
        project: &Project,
        version: &str,
        login: Option<&RegistryLogin>,
    ) -> Result<String, String> {
        let mut stream = engine.push_image(&project.image, version, login);
        let mut last: Option<String> = None;
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let out = item.map_err(|e| engine_reason(&e))?;
            if let Some(e) = out.error {
                log.line(&format!("push error: {e}"));
                return Err(e);
            }
            let Some(status) = out.status else { continue };
            if let Some(d) = out.digest {
                digest = Some(d);
                log.line(&status);
                continue;
            }
            // State changes only ("Preparing", "Pushing", "Pushed"…), not every tick.
            if last.as_deref() != Some(status.as_str()) {
                last = Some(status.clone());
                self.emit(log, BuildEvent::PushProgress { status });
            }
        }
        match digest {
            Some(d) => Ok(d),
            None => Err("the engine reported no digest for the pushed image".into()),
        }
    }
}
