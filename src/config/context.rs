//! The Docker CLI's contexts and environment: which engine a host's
//! `context = "NAME"` names, and which engine the console opens on without
//! an inventory (`DOCKER_HOST`, else `DOCKER_CONTEXT`, else the store's
//! `currentContext`, else the local socket), in the Docker CLI's order.
//!
//! The store is `$DOCKER_CONFIG` (default `~/.docker`): `config.json`
//! (`currentContext`), `contexts/meta/<sha256 of the name>/meta.json` (the
//! endpoint) and `contexts/tls/<sha256>/docker/{ca,cert,key}.pem` (its TLS
//! material). Files only: no Docker call, no ratatui, no bollard.
//!
//! shipdeck never skips verification: a context with `SkipTLSVerify` (or
//! `DOCKER_TLS` without `DOCKER_TLS_VERIFY`) is refused, not half-honoured.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::endpoint::parse_endpoint;
use super::model::{Endpoint, TlsFiles};

/// The local engine's socket: the `default` context without `DOCKER_HOST`.
pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// What to check when a context is not what it should be.
const LS_HINT: &str = "list the contexts with `docker context ls` (it reads the same store; set DOCKER_CONFIG when yours is elsewhere)";

/// A context that cannot be used: what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}\n  hint: {hint}")]
pub struct ContextError {
    pub problem: String,
    pub hint: String,
}

fn err(problem: impl Into<String>, hint: impl Into<String>) -> ContextError {
    ContextError {
        problem: problem.into(),
        hint: hint.into(),
    }
}

/// The variables and the store the Docker CLI would read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerEnv {
    /// `$DOCKER_CONFIG`, else `~/.docker`.
    pub config_dir: PathBuf,
    /// `$DOCKER_HOST` (unset or empty: `None`).
    pub docker_host: Option<String>,
    /// `$DOCKER_CONTEXT` (unset or empty: `None`).
    pub docker_context: Option<String>,
    /// `$DOCKER_TLS_VERIFY` is set: `DOCKER_HOST` over TLS, verified.
    pub tls_verify: bool,
    /// `$DOCKER_TLS` is set: TLS (without verification unless `tls_verify`).
    pub tls: bool,
    /// `$DOCKER_CERT_PATH`: where `DOCKER_HOST`'s TLS files are (default: `config_dir`).
    pub cert_path: Option<PathBuf>,
}

/// Where the engine the console opens on came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineSource {
    /// `$DOCKER_HOST`.
    DockerHost,
    /// A context named by `$DOCKER_CONTEXT`.
    EnvContext(String),
    /// The store's `currentContext` (`docker context use NAME`).
    CurrentContext(String),
    /// Nothing said otherwise: the local socket.
    DefaultSocket,
}

impl EngineSource {
    /// The context's name, when a context was used.
    pub fn context(&self) -> Option<&str> {
        match self {
            EngineSource::EnvContext(n) | EngineSource::CurrentContext(n) => Some(n),
            EngineSource::DockerHost | EngineSource::DefaultSocket => None,
        }
    }
}

impl fmt::Display for EngineSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineSource::DockerHost => f.write_str("DOCKER_HOST"),
            EngineSource::EnvContext(n) => write!(f, "Docker context {n:?} (DOCKER_CONTEXT)"),
            EngineSource::CurrentContext(n) => write!(f, "current Docker context {n:?}"),
            EngineSource::DefaultSocket => f.write_str("the local Docker socket"),
        }
    }
}

/// `meta.json` of one context, as the Docker CLI writes it.
#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(rename = "Endpoints", default)]
    endpoints: BTreeMap<String, MetaEndpoint>,
}

#[derive(Debug, Deserialize)]
struct MetaEndpoint {
    #[serde(rename = "Host")]
    host: Option<String>,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// `config.json`: only the key shipdeck reads.
#[derive(Debug, Deserialize)]
struct CliConfig {
    #[serde(rename = "currentContext", default)]
    current_context: Option<String>,
}

/// `$VAR` when set and not empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The directory name the Docker CLI gives a context: its name's SHA-256, in hex.
pub fn context_dir_name(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl DockerEnv {
    /// Read from the environment, as the Docker CLI does.
    pub fn from_env() -> Self {
        let config_dir = var("DOCKER_CONFIG").map(PathBuf::from).unwrap_or_else(|| {
            dirs::home_dir()
                .unwrap_or_else(|| PathBuf::from("/"))
                .join(".docker")
        });
        Self {
            config_dir,
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            tls: var("DOCKER_TLS").is_some(),
            cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
        }
    }

    /// `contexts/meta` of the store.
    pub fn meta_dir(&self) -> PathBuf {
        self.config_dir.join("contexts").join("meta")
    }

    /// The `meta.json` of context `name`.
    pub fn meta_file(&self, name: &str) -> PathBuf {
        self.meta_dir()
            .join(context_dir_name(name))
            .join("meta.json")
    }

    /// The directory of context `name`'s TLS files for the Docker endpoint.
    pub fn tls_dir(&self, name: &str) -> PathBuf {
        self.config_dir
            .join("contexts")
            .join("tls")
            .join(context_dir_name(name))
            .join("docker")
    }

    /// The engine context `name` points at, with its TLS material.
    /// `default` is `DOCKER_HOST`, else the local socket (as for the CLI).
    pub fn resolve(&self, name: &str) -> Result<Endpoint, ContextError> {
        if name == "default" {
            return self.default_endpoint();
        }
        let meta_file = self.meta_file(name);
        let text = match std::fs::read_to_string(&meta_file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(err(
                    format!(
                        "no Docker context {name:?} in the store {} (looked for {})",
                        self.meta_dir().display(),
                        meta_file.display()
                    ),
                    format!(
                        "{LS_HINT}; create it with `docker context create {name} --docker host=…`"
                    ),
                ));
            }
            Err(e) => {
                return Err(err(
                    format!(
                        "cannot read Docker context {name:?} ({}): {e}",
                        meta_file.display()
                    ),
                    "check the file's permissions",
                ));
            }
        };
        let meta: Meta = serde_json::from_str(&text).map_err(|e| {
            err(
                format!(
                    "Docker context {name:?} ({}) is not valid context JSON: {e}",
                    meta_file.display()
                ),
                format!("{LS_HINT}; recreate the context with `docker context create`"),
            )
        })?;
        let Some(docker) = meta.endpoints.get("docker") else {
            return Err(err(
                format!(
                    "Docker context {name:?} ({}) has no docker endpoint",
                    meta_file.display()
                ),
                format!(
                    "{LS_HINT}; give it one with `docker context update {name} --docker host=…`"
                ),
            ));
        };
        if docker.skip_tls_verify {
            return Err(err(
                format!(
                    "Docker context {name:?} skips TLS verification (SkipTLSVerify = true in {}); shipdeck never skips it",
                    meta_file.display()
                ),
                format!(
                    "give the context the engine's CA (`docker context update {name} --docker host=…,ca=…,cert=…,key=…`), or use a host `endpoint` with tls = {{ ca, cert, key }}"
                ),
            ));
        }
        let host = docker.host.as_deref().unwrap_or_default();
        if host.is_empty() {
            return Err(err(
                format!(
                    "Docker context {name:?} ({}) has an empty docker host",
                    meta_file.display()
                ),
                format!("set it with `docker context update {name} --docker host=…`"),
            ));
        }
        let tls = self.context_tls(name)?;
        endpoint_from(host, tls).map_err(|(problem, hint)| {
            err(
                format!("Docker context {name:?}: host {host:?}: {problem}"),
                format!("{hint}; fix it with `docker context update {name} --docker host=…`"),
            )
        })
    }

    /// The context's TLS files: all three, none, or an error naming the missing ones.
    fn context_tls(&self, name: &str) -> Result<Option<TlsFiles>, ContextError> {
        let dir = self.tls_dir(name);
        let files = tls_files_in(&dir);
        if files.is_none()
            && ["ca.pem", "cert.pem", "key.pem"]
                .iter()
                .any(|f| dir.join(f).exists())
        {
            let missing: Vec<&str> = ["ca.pem", "cert.pem", "key.pem"]
                .into_iter()
                .filter(|f| !dir.join(f).is_file())
                .collect();
            return Err(err(
                format!(
                    "Docker context {name:?} has TLS material in {} without {}",
                    dir.display(),
                    missing.join(", ")
                ),
                "shipdeck needs the CA (it trusts only that one), the client certificate and its key: `docker context update NAME --docker host=…,ca=…,cert=…,key=…`",
            ));
        }
        Ok(files)
    }

    /// The `default` context: `DOCKER_HOST` (with `DOCKER_TLS_VERIFY`), else the local socket.
    fn default_endpoint(&self) -> Result<Endpoint, ContextError> {
        let Some(host) = &self.docker_host else {
            return endpoint_from(DEFAULT_SOCKET, None).map_err(|(p, h)| err(p, h));
        };
        if self.tls && !self.tls_verify {
            return Err(err(
                format!(
                    "DOCKER_TLS is set without DOCKER_TLS_VERIFY (DOCKER_HOST = {host:?}): TLS without verifying the engine; shipdeck never skips verification"
                ),
                "set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to a directory with ca.pem, cert.pem and key.pem",
            ));
        }
        let tls = if self.tls_verify && host.starts_with("tcp://") {
            let dir = self
                .cert_path
                .clone()
                .unwrap_or_else(|| self.config_dir.clone());
            let Some(files) = tls_files_in(&dir) else {
                return Err(err(
                    format!(
                        "DOCKER_TLS_VERIFY is set, but {} lacks ca.pem, cert.pem or key.pem",
                        dir.display()
                    ),
                    "point DOCKER_CERT_PATH at the directory holding the engine's CA and your client certificate and key",
                ));
            };
            Some(files)
        } else {
            None
        };
        endpoint_from(host, tls).map_err(|(problem, hint)| {
            err(
                format!("DOCKER_HOST = {host:?}: {problem}"),
                format!("{hint}; fix DOCKER_HOST (or unset it to use the current Docker context)"),
            )
        })
    }

    /// The engine the console opens on without an inventory, and where that came from.
    pub fn current(&self) -> Result<(EngineSource, Endpoint), ContextError> {
        if self.docker_host.is_some() {
            return Ok((EngineSource::DockerHost, self.default_endpoint()?));
        }
        let source = match &self.docker_context {
            Some(n) => EngineSource::EnvContext(n.clone()),
            None => match self.current_context()? {
                Some(n) => EngineSource::CurrentContext(n),
                None => EngineSource::DefaultSocket,
            },
        };
        let endpoint = match source.context() {
            Some(name) => self.resolve(name)?,
            None => self.default_endpoint()?,
        };
        Ok((source, endpoint))
    }

    /// `currentContext` of `config.json`; `None` when there is no file, no
    /// key, or it says `default`.
    fn current_context(&self) -> Result<Option<String>, ContextError> {
        let path = self.config_dir.join("config.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(err(
                    format!(
                        "cannot read the Docker CLI's config {}: {e}",
                        path.display()
                    ),
                    "check the file's permissions, or set DOCKER_HOST to the engine to open",
                ));
            }
        };
        let cfg: CliConfig = serde_json::from_str(&text).map_err(|e| {
            err(
                format!("the Docker CLI's config {} is not valid JSON: {e}", path.display()),
                "fix the file (`docker context use NAME` rewrites it), or set DOCKER_HOST to the engine to open",
            )
        })?;
        Ok(cfg
            .current_context
            .filter(|n| !n.is_empty() && n != "default"))
    }
}

/// `ca.pem`, `cert.pem` and `key.pem` in `dir`, when all three are files.
fn tls_files_in(dir: &Path) -> Option<TlsFiles> {
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    [&files.ca, &files.cert, &files.key]
        .iter()
        .all(|p| p.is_file())
        .then_some(files)
}

/// A Docker CLI host string as an endpoint. As the CLI does, `tcp://HOST`
/// without a port means 2375, or 2376 with TLS.
fn endpoint_from(host: &str, tls: Option<TlsFiles>) -> Result<Endpoint, (String, String)> {
    let with_port = match host.strip_prefix("tcp://") {
        Some(rest) => {
            let hostport = rest.trim_end_matches('/');
            let has_port = match hostport.rsplit_once(']') {
                Some((_, after)) => after.starts_with(':'),
                None => hostport.contains(':'),
            };
            if has_port || hostport.is_empty() {
                host.to_string()
            } else {
                let port = if tls.is_some() { 2376 } else { 2375 };
                format!("tcp://{hostport}:{port}")
            }
        }
        None => host.to_string(),
    };
    let mut endpoint = parse_endpoint(&with_port).map_err(|p| (p.problem, p.hint))?;
    if let Endpoint::Tcp { tls: t, .. } = &mut endpoint {
        *t = tls;
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn env(dir: &Path) -> DockerEnv {
        DockerEnv {
            config_dir: dir.to_path_buf(),
            docker_host: None,
            docker_context: None,
            tls_verify: false,
            tls: false,
            cert_path: None,
        }
    }

    fn write_context(dir: &Path, name: &str, host: &str, skip: bool) {
        let meta = dir.join("contexts/meta").join(context_dir_name(name));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(
                r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":{skip}}}}}}}"#
            ),
        )
        .unwrap();
    }

    #[test]
    fn directory_names_are_the_docker_clis() {
        // `docker context create sbx` made contexts/meta/c98a…f0d4.
        assert_eq!(
            context_dir_name("sbx"),
            "c98a5865f0e7eee4c5f77ccbc5cb81117c168e28333f6273c1d3b17f9bcff0d4"
        );
    }

    #[test]
    fn a_context_resolves_to_its_endpoint_and_tls_files() {
        let tmp = tempfile::tempdir().unwrap();
        let e = env(tmp.path());
        write_context(tmp.path(), "plain", "tcp://10.0.0.5:2375", false);
        assert_eq!(
            e.resolve("plain").unwrap(),
            Endpoint::Tcp {
                addr: "10.0.0.5:2375".into(),
                tls: None
            }
        );
        write_context(
            tmp.path(),
            "sock",
            "unix:///run/user/1000/docker.sock",
            false,
        );
        assert_eq!(
            e.resolve("sock").unwrap(),
            Endpoint::Unix {
                path: "/run/user/1000/docker.sock".into()
            }
        );
        write_context(tmp.path(), "secure", "tcp://edge.example", false);
        let tls = e.tls_dir("secure");
        std::fs::create_dir_all(&tls).unwrap();
        for f in ["ca.pem", "cert.pem"] {
            std::fs::write(tls.join(f), "x").unwrap();
        }
        let partial = e.resolve("secure").unwrap_err();
        assert!(partial.problem.contains("without key.pem"), "{partial}");
        std::fs::write(tls.join("key.pem"), "x").unwrap();
        assert_eq!(
            e.resolve("secure").unwrap(),
            Endpoint::Tcp {
                addr: "edge.example:2376".into(),
                tls: Some(TlsFiles {
                    ca: tls.join("ca.pem"),
                    cert: tls.join("cert.pem"),
                    key: tls.join("key.pem"),
                })
            }
        );
    }

    #[test]
    fn refusals_say_what_and_where() {
        let tmp = tempfile::tempdir().unwrap();
        let e = env(tmp.path());
        let missing = e.resolve("nope").unwrap_err();
        assert!(
            missing.problem.contains("no Docker context \"nope\""),
            "{missing}"
        );
        assert!(
            missing
                .problem
                .contains(&e.meta_file("nope").display().to_string()),
            "{missing}"
        );
        assert!(missing.hint.contains("docker context ls"), "{missing}");

        write_context(tmp.path(), "skip", "tcp://10.0.0.5:2376", true);
        let skip = e.resolve("skip").unwrap_err();
        assert!(skip.problem.contains("SkipTLSVerify"), "{skip}");

        write_context(tmp.path(), "bad", "tcp://10.0.0.5:docker", false);
        let bad = e.resolve("bad").unwrap_err();
        assert!(bad.problem.contains("\"tcp://10.0.0.5:docker\""), "{bad}");

        let meta = e.meta_file("junk");
        std::fs::create_dir_all(meta.parent().unwrap()).unwrap();
        std::fs::write(&meta, "{not json").unwrap();
        assert!(e.resolve("junk").unwrap_err().problem.contains("not valid"));
    }

    #[test]
    fn the_current_engine_follows_the_clis_order() {
        let tmp = tempfile::tempdir().unwrap();
        let mut e = env(tmp.path());
        let (source, endpoint) = e.current().unwrap();
        assert_eq!(source, EngineSource::DefaultSocket);
        assert_eq!(endpoint.to_string(), DEFAULT_SOCKET);

        write_context(tmp.path(), "sbx", "tcp://10.0.0.7:2375", false);
        std::fs::write(
            tmp.path().join("config.json"),
            r#"{"currentContext":"sbx"}"#,
        )
        .unwrap();
        let (source, endpoint) = e.current().unwrap();
        assert_eq!(source, EngineSource::CurrentContext("sbx".into()));
        assert_eq!(endpoint.to_string(), "tcp://10.0.0.7:2375");

        write_context(tmp.path(), "other", "tcp://10.0.0.8:2375", false);
        e.docker_context = Some("other".into());
        assert_eq!(e.current().unwrap().1.to_string(), "tcp://10.0.0.8:2375");

        e.docker_host = Some("unix:///tmp/d.sock".into());
        let (source, endpoint) = e.current().unwrap();
        assert_eq!(source, EngineSource::DockerHost);
        assert_eq!(endpoint.to_string(), "unix:///tmp/d.sock");
        assert_eq!(e.resolve("default").unwrap(), endpoint);

        e.tls = true;
        assert!(e.current().unwrap_err().problem.contains("DOCKER_TLS"));
        e.tls_verify = true;
        e.docker_host = Some("tcp://10.0.0.9".into());
        let no_certs = e.current().unwrap_err();
        assert!(no_certs.problem.contains("DOCKER_TLS_VERIFY"), "{no_certs}");
    }
}
