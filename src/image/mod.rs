//! `shipdeck build`: render the project's Dockerfile, pack its context, build
//! through the Engine API on the build host (classic builder), keep the whole
//! log under the state dir, optionally push with the registry's credentials,
//! and journal the result (with the pushed digest). Must not import bollard
//! or ratatui: engine calls go through `crate::engine::build`, and every
//! subprocess (git) runs with a timeout.

pub mod context;
mod events;
mod output;
mod run;
pub mod template;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::config::{Config, DockerfileSource, Project};

pub use context::{ContextError, DOCKERFILE};
pub use events::BuildEvent;
pub use run::Builder;
pub use template::TemplateError;

/// A build (or push) that runs longer than this is given up.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

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
    #[error(
        "no version for project \"{project}\" from git: {reason}; or name one: `shipdeck build {project} --version V`"
    )]
    Git { project: String, reason: String },
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
    /// The registry login could not be put together (its message names the
    /// registry, the reference and what to fix).
    #[error(transparent)]
    Credentials(#[from] crate::config::LoginError),
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

/// Each git command a version is made from must finish within this.
const GIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why no version could be taken from git.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GitError {
    /// git ran and refused: not a checkout, no commit yet (git's first line).
    #[error("{0}")]
    NotACheckout(String),
    /// git could not be run, or did not finish in time (it was killed).
    #[error("{0}")]
    Failed(String),
}

/// How a bounded command did not give its output.
#[derive(Debug)]
enum RunError {
    Spawn(std::io::Error),
    Timeout,
}

/// Runs `cmd` (stdin closed) and waits at most `bound` for it to exit; a
/// child still running then is killed.
async fn output_within(
    cmd: &mut tokio::process::Command,
    bound: Duration,
) -> Result<std::process::Output, RunError> {
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    match tokio::time::timeout(bound, cmd.output()).await {
        Ok(r) => r.map_err(RunError::Spawn),
        // Dropping the `output()` future drops the child: kill_on_drop kills it.
        Err(_) => Err(RunError::Timeout),
    }
}

/// `git -C DIR ARGS…` with [`GIT_TIMEOUT`]; errors name the command and `dir`.
async fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, GitError> {
    let shown = format!("`git {}` in {}", args.join(" "), dir.display());
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(args)
        // Never wait for a password prompt; `status` need not take the index lock.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0");
    output_within(&mut cmd, GIT_TIMEOUT)
        .await
        .map_err(|e| match e {
            RunError::Spawn(e) => GitError::Failed(format!(
                "cannot run {shown}: {e}; check that git is installed and on PATH"
            )),
            RunError::Timeout => GitError::Failed(format!(
                "{shown} did not finish within {}s and was killed; check that the directory is not on a hung network mount and that no other git process holds its lock",
                GIT_TIMEOUT.as_secs()
            )),
        })
}

/// `SHORTSHA-YYYYMMDDTHHMMSSZ` from the git checkout `dir` (`-dirty` after
/// the sha when the context has uncommitted changes). Each git command is
/// bounded by [`GIT_TIMEOUT`].
pub async fn version_from_git(dir: &Path, now: DateTime<Utc>) -> Result<String, GitError> {
    let out = git(dir, &["rev-parse", "--short", "HEAD"]).await?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(GitError::NotACheckout(
            err.lines()
                .next()
                .unwrap_or("git failed")
                .trim()
                .to_string(),
        ));
    }
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(GitError::NotACheckout(format!(
            "git rev-parse printed \"{sha}\""
        )));
    }
    // Uncommitted changes in the context: the tag must not claim the commit.
    let status = git(
        dir,
        &[
            "status",
            "--porcelain",
            "--untracked-files=normal",
            "--",
            ".",
        ],
    )
    .await?;
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
    crate::registry::split_image(image).0.unwrap_or("docker.io")
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
    fn registry_hosts() {
        assert_eq!(registry_host("10.213.0.1:5000/demo/web"), "10.213.0.1:5000");
        assert_eq!(registry_host("harbor.example/shop/x"), "harbor.example");
        assert_eq!(registry_host("library/nginx"), "docker.io");
        assert_eq!(registry_host("nginx"), "docker.io");
    }

    #[tokio::test]
    async fn git_version_outside_a_checkout_explains() {
        let dir = tempfile::tempdir().unwrap();
        let e = version_from_git(dir.path(), Utc::now()).await.unwrap_err();
        assert!(
            matches!(&e, GitError::NotACheckout(m) if !m.is_empty()),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_command_past_its_bound_is_killed() {
        let t0 = std::time::Instant::now();
        let mut cmd = tokio::process::Command::new("sleep");
        cmd.arg("5");
        let r = output_within(&mut cmd, Duration::from_millis(200)).await;
        assert!(matches!(r, Err(RunError::Timeout)), "{r:?}");
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        let mut cmd = tokio::process::Command::new("true");
        let r = output_within(&mut cmd, Duration::from_secs(5)).await;
        assert!(r.is_ok_and(|o| o.status.success()));
        let mut cmd = tokio::process::Command::new("/nonexistent/shipdeck-no-such-binary");
        let r = output_within(&mut cmd, Duration::from_secs(5)).await;
        assert!(matches!(r, Err(RunError::Spawn(_))), "{r:?}");
    }
}
