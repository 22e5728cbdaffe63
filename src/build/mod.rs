//! `shipdeck build`: render the project's Dockerfile, pack its context, build
//! through the Engine API on the build host (classic builder), keep the whole
//! log under the state dir, optionally push with the registry's credentials,
//! and journal the result (with the pushed digest).

pub mod context;
pub mod template;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptionsBuilder, PushImageOptionsBuilder};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::config::{Config, DockerfileSource, Project};
use crate::engine::connect;
use crate::rollout::journal::{Journal, Record, RecordKind};

pub use context::{ContextError, DOCKERFILE};
pub use template::TemplateError;

/// A build (or push) that runs longer than this is given up.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Lines of the failing step's output kept for the failure report.
const STEP_TAIL: usize = 60;
/// Bytes of output without a newline after which they count as a line.
const PARTIAL_MAX: usize = 64 * 1024;

/// What `build` reports while it runs (`--json`: one object a line).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BuildEvent {
    Started {
        project: String,
        version: String,
        image: String,
        host: String,
        dockerfile: String,
        context_files: usize,
        context_bytes: u64,
        ignored: usize,
        log: String,
    },
    /// `Step N/M : INSTRUCTION` of the classic builder.
    Step {
        step: u32,
        total: u32,
        instruction: String,
    },
    /// A line of build output.
    Output {
        line: String,
    },
    Built {
        image_id: String,
        layers: usize,
        secs: f64,
    },
    PushStarted {
        image: String,
        registry: String,
    },
    /// The push's state changed (`Preparing`, `Pushing`, `Pushed`, `Layer already exists`).
    PushProgress {
        status: String,
    },
    Pushed {
        digest: String,
        secs: f64,
    },
    Failed {
        /// `build` or `push`.
        stage: String,
        /// `3/7 RUN make` for a build step.
        step: Option<String>,
        error: String,
        /// The failing step's output (its last lines).
        output: Vec<String>,
    },
    Finished {
        outcome: String,
        version: String,
        image: String,
        digest: Option<String>,
        log: String,
        secs: f64,
    },
}

impl BuildEvent {
    /// The line(s) a person reads.
    pub fn human(&self) -> String {
        match self {
            BuildEvent::Started {
                project,
                version,
                image,
                host,
                dockerfile,
                context_files,
                context_bytes,
                ignored,
                log,
            } => format!(
                "build: {project} {version} → {image} on {host} ({dockerfile}; context {context_files} files, {} KiB, {ignored} left out by .dockerignore)\nbuild: log {log}",
                context_bytes.div_ceil(1024)
            ),
            BuildEvent::Step {
                step,
                total,
                instruction,
            } => format!("Step {step}/{total} : {instruction}"),
            BuildEvent::Output { line } => line.clone(),
            BuildEvent::Built {
                image_id,
                layers,
                secs,
            } => format!(
                "build: built {} ({layers} layers) in {secs:.1}s",
                short_id(image_id)
            ),
            BuildEvent::PushStarted { image, registry } => {
                format!("push: {image} to {registry}")
            }
            BuildEvent::PushProgress { status } => format!("push: {status}"),
            BuildEvent::Pushed { digest, secs } => format!("push: pushed {digest} in {secs:.1}s"),
            BuildEvent::Failed {
                stage,
                step,
                error,
                output,
            } => {
                let mut s = match step {
                    Some(st) => format!("{stage} failed at step {st}: {error}"),
                    None => format!("{stage} failed: {error}"),
                };
                if !output.is_empty() {
                    s.push_str("\noutput of the failing step:");
                    for l in output {
                        s.push_str("\n  | ");
                        s.push_str(l);
                    }
                }
                s
            }
            BuildEvent::Finished {
                outcome,
                version,
                image,
                digest,
                log,
                secs,
            } => match digest {
                Some(d) => {
                    format!("build: {outcome}: {image}:{version} ({d}) in {secs:.1}s; log {log}")
                }
                None => format!("build: {outcome}: {image}:{version} in {secs:.1}s; log {log}"),
            },
        }
    }
}

fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

#[derive(Debug, Error)]
pub enum BuildError {
    #[error("unknown project \"{name}\"; known projects: {known}")]
    UnknownProject { name: String, known: String },
    #[error(
        "project \"{project}\" has no [projects.build] table in {config}; add one with context, host and template (see config/example.toml)"
    )]
    NoBuild { project: String, config: String },
    #[error(
        "version \"{version}\" is not a valid image tag; use letters, digits, '_', '.' and '-' (up to 128, not starting with '.' or '-')"
    )]
    BadVersion { version: String },
    #[error(
        "no version for project \"{project}\": its context {context} is not a git checkout ({reason}); name one: `shipdeck build {project} --version V`"
    )]
    NoVersion {
        project: String,
        context: String,
        reason: String,
    },
    #[error(transparent)]
    Missing(Box<Missing>),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(
        "build host \"{host}\" ({endpoint}): {reason}; check that its engine is up (`shipdeck status`)"
    )]
    Host {
        host: String,
        endpoint: String,
        reason: String,
    },
    #[error("cannot write the build log {path}: {reason}; check the state dir's permissions")]
    Log { path: String, reason: String },
    #[error("registry \"{registry}\": {reason}")]
    Credentials { registry: String, reason: String },
    #[error("build of {project} {version} failed{}: {error} (whole log: {log})", step.as_ref().map(|s| format!(" at step {s}")).unwrap_or_default())]
    Failed {
        project: String,
        version: String,
        step: Option<String>,
        error: String,
        log: String,
    },
    #[error("push of {image} failed: {error}{hint} (whole log: {log})")]
    Push {
        image: String,
        error: String,
        hint: String,
        log: String,
    },
    #[error(
        "{image} is already in the registry ({digest}); a release tag is not moved silently: pick another --version, or pass --force to move it"
    )]
    TagExists { image: String, digest: String },
    #[error("{0}")]
    Journal(String),
}

impl BuildError {
    /// 1: the build or push ran and failed; 2: nothing was built (bad input).
    pub fn exit_code(&self) -> i32 {
        match self {
            BuildError::Failed { .. } | BuildError::Push { .. } | BuildError::Journal(_) => 1,
            _ => 2,
        }
    }
}

/// A file a build needs that is not there.
#[derive(Debug, Error)]
#[error(
    "{what} {path} does not exist ([projects.build] {key} of project \"{project}\" in {config}); {hint}"
)]
pub struct Missing {
    pub what: &'static str,
    pub path: String,
    pub key: String,
    pub project: String,
    pub config: String,
    pub hint: String,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub project: String,
    /// Explicit tag; else git short sha + UTC timestamp.
    pub version: Option<String>,
    pub push: bool,
    /// Push even when the registry already has this tag (it then moves).
    pub force: bool,
    /// `user@machine`.
    pub user: String,
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub version: String,
    /// `repo:version`.
    pub image: String,
    pub image_id: String,
    pub digest: Option<String>,
    pub log: PathBuf,
    pub secs: f64,
}

/// Whether `v` is a valid Docker tag.
pub fn check_tag(v: &str) -> Result<(), BuildError> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && !v.starts_with(['.', '-'])
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(BuildError::BadVersion {
            version: v.to_string(),
        })
    }
}

/// `SHORTSHA-YYYYMMDDTHHMMSSZ` from the git checkout `dir`.
pub fn version_from_git(dir: &Path, now: DateTime<Utc>) -> Result<String, String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err
            .lines()
            .next()
            .unwrap_or("git failed")
            .trim()
            .to_string());
    }
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("git rev-parse printed \"{sha}\""));
    }
    // Uncommitted changes in the context: the tag must not claim the commit.
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "status",
            "--porcelain",
            "--untracked-files=normal",
            "--",
            ".",
        ])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let dirty = if status.status.success() && !status.stdout.is_empty() {
        "-dirty"
    } else {
        ""
    };
    Ok(format!("{sha}{dirty}-{}", now.format("%Y%m%dT%H%M%SZ")))
}

/// The project and its build table, or the error that names what is missing.
pub fn build_target<'c>(
    config: &'c Config,
    name: &str,
) -> Result<(&'c Project, &'c crate::config::BuildSpec), BuildError> {
    let Some(p) = config.project(name) else {
        let known: Vec<&str> = config.projects.iter().map(|p| p.name.as_str()).collect();
        return Err(BuildError::UnknownProject {
            name: name.to_string(),
            known: if known.is_empty() {
                "(none)".into()
            } else {
                known.join(", ")
            },
        });
    };
    let Some(b) = &p.build else {
        return Err(BuildError::NoBuild {
            project: name.to_string(),
            config: config.path.display().to_string(),
        });
    };
    check_sources(config, p, b)?;
    Ok((p, b))
}

/// The build's files exist here (checked at build time, not when the config
/// loads: a machine that only deploys need not have the sources).
fn check_sources(
    config: &Config,
    project: &Project,
    spec: &crate::config::BuildSpec,
) -> Result<(), BuildError> {
    let missing = |what: &'static str, path: &Path, key: String, hint: String| {
        BuildError::Missing(Box::new(Missing {
            what,
            path: path.display().to_string(),
            key,
            project: project.name.clone(),
            config: config.path.display().to_string(),
            hint,
        }))
    };
    if !spec.context.is_dir() {
        return Err(missing(
            "build context",
            &spec.context,
            "context".into(),
            "point `context` at the project's source directory (relative paths start at the config file's directory)".into(),
        ));
    }
    match &spec.dockerfile {
        DockerfileSource::Template { name, path } if !path.is_file() => {
            let dir = &config.settings.templates;
            let mut known: Vec<String> = std::fs::read_dir(dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .filter_map(|e| {
                            e.file_name()
                                .to_str()
                                .and_then(|n| n.strip_suffix(".Dockerfile"))
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            known.sort();
            let mut hint = if known.is_empty() {
                format!(
                    "no templates in {} (set [settings] templates to their directory)",
                    dir.display()
                )
            } else {
                format!("templates in {}: {}", dir.display(), known.join(", "))
            };
            if let Some(s) = crate::config::suggest(name, known.iter().map(String::as_str)) {
                hint = format!("did you mean \"{s}\"? {hint}");
            }
            Err(missing(
                "template file",
                path,
                format!("template = \"{name}\""),
                hint,
            ))
        }
        DockerfileSource::File(rel) if !spec.context.join(rel).is_file() => Err(missing(
            "Dockerfile",
            &spec.context.join(rel),
            format!("dockerfile = \"{}\"", rel.display()),
            "the path is relative to the build context".into(),
        )),
        _ => Ok(()),
    }
}

/// Registry host of an image reference (`10.213.0.1:5000/demo/web` →
/// `10.213.0.1:5000`); Docker Hub when the first part is not a host.
pub fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// Push credentials for `project` from its `[[registries]]` entry, if it has
/// a username. The password is resolved here and goes only into the engine call.
fn credentials(
    config: &Config,
    project: &Project,
) -> Result<(String, Option<DockerCredentials>), BuildError> {
    let host = registry_host(&project.image).to_string();
    let Some(reg) = project
        .registry
        .as_deref()
        .and_then(|n| config.registries.iter().find(|r| r.name == n))
    else {
        return Ok((host, None));
    };
    let Some(user) = &reg.username else {
        return Ok((format!("{} ({})", reg.name, reg.url), None));
    };
    let password = match &reg.password {
        Some(r) => Some(
            r.resolve()
                .map_err(|e| BuildError::Credentials {
                    registry: reg.name.clone(),
                    reason: format!(
                        "cannot read the password {}: {}; fix the reference",
                        e.reference(),
                        e.reason()
                    ),
                })?
                .expose()
                .to_string(),
        ),
        None => None,
    };
    Ok((
        format!(
            "{} ({}, user '{user}', password {})",
            reg.name,
            reg.url,
            reg.password
                .as_ref()
                .map(|r| format!("{r:?}"))
                .unwrap_or_else(|| "(none)".into())
        ),
        Some(DockerCredentials {
            username: Some(user.clone()),
            password,
            serveraddress: Some(host),
            ..Default::default()
        }),
    ))
}

/// The build log: every line also goes to the file.
struct Log {
    path: PathBuf,
    /// Buffered: flushed when the build ends (and on drop).
    file: std::io::BufWriter<std::fs::File>,
}

impl Log {
    fn open(state_dir: &Path, project: &str, version: &str) -> Result<Self, BuildError> {
        let dir = state_dir.join("builds").join(project);
        let path = dir.join(format!("{version}.log"));
        let err = |e: std::io::Error| BuildError::Log {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&dir).map_err(err)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        Ok(Self {
            path,
            file: std::io::BufWriter::new(file),
        })
    }

    fn line(&mut self, l: &str) {
        let _ = writeln!(self.file, "{l}");
    }
}

/// Builds (and pushes) one project. Events go to `events`; the result is
/// journaled either way.
pub struct Builder<'a> {
    pub config: &'a Config,
    pub state_dir: &'a Path,
    pub events: mpsc::UnboundedSender<BuildEvent>,
}

impl Builder<'_> {
    fn emit(&self, log: &mut Log, e: BuildEvent) {
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
        // git and the template files: blocking work, off the async workers.
        let (p, sp, explicit) = (project.clone(), spec.clone(), req.version.clone());
        let (version, dockerfile) = tokio::task::spawn_blocking(move || {
            let version = match explicit {
                Some(v) => v,
                None => version_from_git(&sp.context, Utc::now()).map_err(|reason| {
                    BuildError::NoVersion {
                        project: p.name.clone(),
                        context: sp.context.display().to_string(),
                        reason,
                    }
                })?,
            };
            let dockerfile = template::dockerfile(&p, &sp)?;
            Ok::<_, BuildError>((version, dockerfile))
        })
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
        let (registry_shown, creds) = match credentials(self.config, project) {
            Ok(c) => c,
            Err(e) if req.push => return Err(e),
            Err(_) => (String::new(), None),
        };
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
        let timeout = Duration::from_secs(self.config.settings.docker_timeout_secs.max(1));
        // Reachability is checked with the usual timeout; the build itself
        // (context upload, steps, push) is bounded by BUILD_TIMEOUT, since the
        // engine answers the build call only once it has the whole context.
        let docker = connect::connect(&host.endpoint, timeout)
            .await
            .map_err(|e| host_err(e.short()))?
            .with_timeout(BUILD_TIMEOUT);

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
            self.build(
                &docker,
                &mut log,
                project,
                spec,
                &version,
                &image,
                ctx.tar,
                creds.clone(),
            ),
        )
        .await
        .unwrap_or_else(|_| {
            Err(StepFailure {
                step: None,
                error: format!("no result within {} min", BUILD_TIMEOUT.as_secs() / 60),
                output: Vec::new(),
            })
        });
        let image_id = match built {
            Ok(id) => id,
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
                let _ = self.finish(
                    &mut log,
                    &req,
                    project,
                    &host.name,
                    &version,
                    &image,
                    None,
                    None,
                    Some(format!("build: {}", f.error)),
                    t0,
                );
                return Err(BuildError::Failed {
                    project: project.name.clone(),
                    version,
                    step: f.step,
                    error: f.error,
                    log: log_shown,
                });
            }
        };
        let layers = docker
            .inspect_image(&image)
            .await
            .ok()
            .and_then(|i| i.root_fs)
            .and_then(|r| r.layers)
            .map(|l| l.len())
            .unwrap_or(0);
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
                self.push(&docker, &mut log, project, &version, creds),
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
                    let error = error
                        .strip_prefix("Docker stream error: ")
                        .unwrap_or(&error)
                        .to_string();
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
                    let _ = self.finish(
                        &mut log,
                        &req,
                        project,
                        &host.name,
                        &version,
                        &image,
                        Some(&image_id),
                        None,
                        Some(format!("push: {error}")),
                        t0,
                    );
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
        self.finish(
            &mut log,
            &req,
            project,
            &host.name,
            &version,
            &image,
            Some(&image_id),
            digest.clone(),
            None,
            t0,
        )
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
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        log: &mut Log,
        req: &BuildRequest,
        project: &Project,
        host: &str,
        version: &str,
        image: &str,
        image_id: Option<&str>,
        digest: Option<String>,
        error: Option<String>,
        t0: Instant,
    ) -> Result<(), String> {
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

    /// Runs the classic builder; the image id, or what failed.
    #[allow(clippy::too_many_arguments)]
    async fn build(
        &self,
        docker: &Docker,
        log: &mut Log,
        project: &Project,
        spec: &crate::config::BuildSpec,
        version: &str,
        image: &str,
        tar: Vec<u8>,
        creds: Option<DockerCredentials>,
    ) -> Result<String, StepFailure> {
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
        let opts = BuildImageOptionsBuilder::default()
            .dockerfile(DOCKERFILE)
            .t(image)
            .rm(true)
            .forcerm(true)
            .buildargs(&args)
            .labels(&labels)
            .build();
        let auth = creds.map(|c| {
            let key = c.serveraddress.clone().unwrap_or_default();
            HashMap::from([(key, c)])
        });
        let mut stream = docker.build_image(
            opts,
            auth,
            Some(bollard::body_full(bytes::Bytes::from(tar))),
        );
        let mut steps = StepTracker::default();
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(i) => i,
                Err(e) => {
                    steps.flush(self, log);
                    return Err(steps.failure(connect::describe(&e)));
                }
            };
            if let Some(text) = info.stream {
                steps.push_text(self, log, &text);
            }
            if let Some(status) = info.status {
                let line = match info.id {
                    Some(id) => format!("{id}: {status}"),
                    None => status,
                };
                steps.line(self, log, &line);
            }
            let err = info
                .error_detail
                .and_then(|d| d.message)
                .filter(|m| !m.is_empty());
            if let Some(e) = err {
                steps.flush(self, log);
                return Err(steps.failure(e.trim().to_string()));
            }
        }
        steps.flush(self, log);
        // The tag is the truth (a step's own output may say "Successfully built").
        match docker.inspect_image(image).await {
            Ok(i) => Ok(i.id.unwrap_or_default()),
            Err(e) => Err(steps.failure(format!(
                "the engine reported no image {image}: {}",
                connect::describe(&e)
            ))),
        }
    }

    /// Pushes `project.image:version`; the registry digest, or the error.
    async fn push(
        &self,
        docker: &Docker,
        log: &mut Log,
        project: &Project,
        version: &str,
        creds: Option<DockerCredentials>,
    ) -> Result<String, String> {
        let opts = PushImageOptionsBuilder::default().tag(version).build();
        let mut stream = docker.push_image(&project.image, Some(opts), creds);
        let mut last: Option<String> = None;
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| connect::describe(&e))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                log.line(&format!("push error: {e}"));
                return Err(e);
            }
            let Some(status) = info.status else { continue };
            if let Some(d) = status
                .split_whitespace()
                .skip_while(|w| *w != "digest:")
                .nth(1)
            {
                digest = Some(d.to_string());
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

/// What failed in a build.
#[derive(Debug)]
struct StepFailure {
    step: Option<String>,
    error: String,
    output: Vec<String>,
}

/// Splits the builder's stream into lines and follows its `Step N/M` markers.
#[derive(Default)]
struct StepTracker {
    partial: String,
    step: Option<String>,
    output: std::collections::VecDeque<String>,
}

impl StepTracker {
    fn push_text(&mut self, b: &Builder<'_>, log: &mut Log, text: &str) {
        self.partial.push_str(text);
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            self.line(b, log, line.trim_end_matches(['\n', '\r']));
        }
        // Output that never ends its line (a progress bar) is cut into lines.
        if self.partial.len() > PARTIAL_MAX {
            self.flush(b, log);
        }
    }

    fn flush(&mut self, b: &Builder<'_>, log: &mut Log) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(b, log, line.trim_end());
        }
    }

    fn line(&mut self, b: &Builder<'_>, log: &mut Log, line: &str) {
        let clean = strip_ansi(line);
        let line = clean.as_str();
        if let Some((n, total, instr)) = parse_step(line) {
            self.step = Some(format!("{n}/{total} ({instr})"));
            self.output.clear();
            b.emit(
                log,
                BuildEvent::Step {
                    step: n,
                    total,
                    instruction: instr.to_string(),
                },
            );
            return;
        }
        if self.output.len() == STEP_TAIL {
            self.output.pop_front();
        }
        self.output.push_back(line.to_string());
        b.emit(
            log,
            BuildEvent::Output {
                line: line.to_string(),
            },
        );
    }

    fn failure(&self, error: String) -> StepFailure {
        StepFailure {
            step: self.step.clone(),
            error,
            output: self.output.iter().cloned().collect(),
        }
    }
}

/// `line` without terminal escape sequences (the classic builder colours a
/// step's stderr red) and other control characters.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final byte in @..~; other escapes: one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for f in chars.by_ref() {
                    if ('@'..='~').contains(&f) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// `Step 3/7 : RUN make` → (3, 7, "RUN make").
fn parse_step(line: &str) -> Option<(u32, u32, &str)> {
    let rest = line.strip_prefix("Step ")?;
    let (nums, instr) = rest.split_once(" : ")?;
    let (n, total) = nums.split_once('/')?;
    Some((n.parse().ok()?, total.parse().ok()?, instr))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tags() {
        assert!(check_tag("v1.2.3-rc_1").is_ok());
        assert!(check_tag("a1b2c3d-20261122T031500Z").is_ok());
        for bad in ["", "-x", ".x", "a/b", "a:b", "ä"] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn steps() {
        assert_eq!(
            parse_step("Step 3/7 : RUN make all"),
            Some((3, 7, "RUN make all"))
        );
        assert_eq!(parse_step(" ---> Running in abc"), None);
    }

    #[test]
    fn ansi_is_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[91mls: /x: No such file\u{1b}[0m"),
            "ls: /x: No such file"
        );
        assert_eq!(strip_ansi("\u{1b}[0mabout to fail"), "about to fail");
        assert_eq!(strip_ansi("tab\there"), "tab\there");
    }

    #[test]
    fn registry_hosts() {
        assert_eq!(registry_host("10.213.0.1:5000/demo/web"), "10.213.0.1:5000");
        assert_eq!(registry_host("harbor.example/shop/x"), "harbor.example");
        assert_eq!(registry_host("library/nginx"), "docker.io");
        assert_eq!(registry_host("nginx"), "docker.io");
    }

    #[test]
    fn git_version_outside_a_checkout_explains() {
        let dir = tempfile::tempdir().unwrap();
        let e = version_from_git(dir.path(), Utc::now()).unwrap_err();
        assert!(!e.is_empty());
    }
}
