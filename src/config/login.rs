//! A project's registry login (user, resolved password, server address) as
//! an engine needs it for a pull or a push. Owns the lookup and the secret's
//! resolution; must not import bollard (the engine converts it) or do I/O
//! beyond reading the password's file. The password never reaches `Debug`,
//! [`RegistryLogin::describe`] or an error.

use std::fmt;

use thiserror::Error;

use super::model::{Config, Project, Secret, SecretRef};

/// What an engine needs to log in to a project's registry for a pull or push.
#[derive(Clone)]
pub struct RegistryLogin {
    /// The `[[registries]]` entry's name.
    pub registry: String,
    /// Its `url`.
    pub url: String,
    /// Registry `host[:port]` as Docker wants it in `serveraddress`, from the
    /// project's image (`10.213.0.1:5000/demo/web` → `10.213.0.1:5000`;
    /// `docker.io` when the image names no registry host).
    pub server: String,
    pub username: String,
    /// The resolved password, if the entry has one. Never print or log it.
    pub password: Option<Secret>,
    /// Where the password came from (`env:NAME` / `file:PATH`), for messages.
    pub password_ref: Option<SecretRef>,
}

impl RegistryLogin {
    /// The login for messages, never the password's value:
    /// `sandbox (http://10.213.0.1:5001, user 'shipdeck', password file:/x)`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, user '{}', password {})",
            self.registry,
            self.url,
            self.username,
            self.password_ref
                .as_ref()
                .map(|r| format!("{r:?}"))
                .unwrap_or_else(|| "(none)".into())
        )
    }
}

impl fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryLogin")
            .field("registry", &self.registry)
            .field("url", &self.url)
            .field("server", &self.server)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "••••"))
            .field("password_ref", &self.password_ref)
            .finish()
    }
}

/// Why a project's registry login could not be put together. Never carries
/// the password's value.
#[derive(Debug, Error)]
pub enum LoginError {
    /// The project names a registry the config does not define (the loader
    /// refuses that; a config built in code may not).
    #[error(
        "project \"{project}\" uses registry \"{registry}\", which is not a [[registries]] entry in {config}; define it there, or fix the project's `registry` key"
    )]
    UnknownRegistry {
        project: String,
        registry: String,
        config: String,
    },
    /// The password reference could not be resolved.
    #[error(
        "registry \"{registry}\": cannot read the password {reference}: {reason}; fix the reference (its `password` in {config}) or provide what it names"
    )]
    Password {
        registry: String,
        /// `env:NAME` / `file:PATH`.
        reference: String,
        reason: String,
        config: String,
    },
}

impl LoginError {
    /// The `[[registries]]` entry the error is about.
    pub fn registry(&self) -> &str {
        match self {
            LoginError::UnknownRegistry { registry, .. }
            | LoginError::Password { registry, .. } => registry,
        }
    }
}

impl Config {
    /// The login for `project`'s registry, its password resolved now. `None`
    /// when the project has no registry or the registry has no username.
    pub fn registry_login(&self, project: &Project) -> Result<Option<RegistryLogin>, LoginError> {
        let Some(name) = project.registry.as_deref() else {
            return Ok(None);
        };
        let Some(reg) = self.registries.iter().find(|r| r.name == name) else {
            return Err(LoginError::UnknownRegistry {
                project: project.name.clone(),
                registry: name.to_string(),
                config: self.path.display().to_string(),
            });
        };
        let Some(username) = &reg.username else {
            return Ok(None);
        };
        let password = match &reg.password {
            Some(r) => Some(r.resolve().map_err(|e| LoginError::Password {
                registry: reg.name.clone(),
                reference: e.reference(),
                reason: e.reason(),
                config: self.path.display().to_string(),
            })?),
            None => None,
        };
        Ok(Some(RegistryLogin {
            registry: reg.name.clone(),
            url: reg.url.clone(),
            server: image_registry_host(&project.image).to_string(),
            username: username.clone(),
            password,
            password_ref: reg.password.clone(),
        }))
    }
}

/// The registry host of an image reference: its first path component when
/// that looks like a host (has a '.' or ':', or is `localhost`), else
/// `docker.io`. Docker's own rule, the same as `registry::split_image`
/// (kept here so the config layer imports no network code).
fn image_registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::PathBuf;

    fn config(dir: &std::path::Path, password: Option<SecretRef>, user: Option<&str>) -> Config {
        let src = r#"
[[hosts]]
name = "h1"
endpoint = "unix:///var/run/docker.sock"

[[environments]]
name = "dev"

[[projects]]
name = "web"
image = "10.213.0.1:5001/demo/web"
registry = "sandbox"
[projects.hosts]
dev = ["h1"]

[[registries]]
name = "sandbox"
url = "http://10.213.0.1:5001"
"#;
        let mut c = crate::config::load_str(src, &dir.join("shipdeck.toml")).unwrap();
        c.registries[0].username = user.map(str::to_string);
        c.registries[0].password = password;
        c
    }

    #[test]
    fn login_resolves_and_never_shows_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "hunter2-secret\n").unwrap();
        let c = config(
            dir.path(),
            Some(SecretRef::File(pw.clone())),
            Some("shipdeck"),
        );
        let login = c.registry_login(&c.projects[0]).unwrap().unwrap();
        assert_eq!(login.server, "10.213.0.1:5001");
        assert_eq!(login.username, "shipdeck");
        assert_eq!(
            login.password.as_ref().map(Secret::expose),
            Some("hunter2-secret")
        );
        assert_eq!(
            login.describe(),
            format!(
                "sandbox (http://10.213.0.1:5001, user 'shipdeck', password file:{})",
                pw.display()
            )
        );
        let debug = format!("{login:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("shipdeck"), "{debug}");
    }

    #[test]
    fn no_login_without_registry_or_username() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), None, None);
        assert!(c.registry_login(&c.projects[0]).unwrap().is_none());
        let mut p = c.projects[0].clone();
        p.registry = None;
        assert!(c.registry_login(&p).unwrap().is_none());
        let c = config(dir.path(), None, Some("u"));
        let login = c.registry_login(&c.projects[0]).unwrap().unwrap();
        assert!(login.password.is_none());
        assert!(login.describe().ends_with("user 'u', password (none))"));
    }

    #[test]
    fn errors_name_the_registry_and_the_reference() {
        let dir = tempfile::tempdir().unwrap();
        let missing = PathBuf::from("/nonexistent/shipdeck/pw");
        let c = config(dir.path(), Some(SecretRef::File(missing)), Some("u"));
        let e = c.registry_login(&c.projects[0]).unwrap_err();
        assert_eq!(e.registry(), "sandbox");
        let shown = e.to_string();
        assert!(
            shown.starts_with("registry \"sandbox\": cannot read the password file:/nonexistent/shipdeck/pw: cannot read the file"),
            "{shown}"
        );
        assert!(shown.contains("fix the reference"), "{shown}");

        let mut p = c.projects[0].clone();
        p.registry = Some("elsewhere".into());
        let e = c.registry_login(&p).unwrap_err();
        assert_eq!(e.registry(), "elsewhere");
        assert!(e.to_string().contains("\"web\""), "{e}");
    }

    #[test]
    fn registry_hosts() {
        assert_eq!(
            image_registry_host("10.213.0.1:5000/demo/web"),
            "10.213.0.1:5000"
        );
        assert_eq!(
            image_registry_host("harbor.example/shop/x"),
            "harbor.example"
        );
        assert_eq!(image_registry_host("localhost/x"), "localhost");
        assert_eq!(image_registry_host("library/nginx"), "docker.io");
        assert_eq!(image_registry_host("nginx"), "docker.io");
    }
}
