//! Registry logins for pulls and pushes (placeholder until the build work lands).

use super::model::{Config, Project, Secret, SecretRef};

/// What an engine needs to log in to a project's registry for a pull or push.
#[derive(Clone)]
pub struct RegistryLogin {
    pub registry: String,
    pub url: String,
    pub server: String,
    pub username: String,
    pub password: Option<Secret>,
    pub password_ref: Option<SecretRef>,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl RegistryLogin {
    /// `name (url, user 'u', password ref)`: never the value.
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

/// A registry password that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("registry {registry}: cannot read the password {reference}: {reason}; fix the reference")]
pub struct LoginError {
    pub registry: String,
    pub reference: String,
    pub reason: String,
}

impl Config {
    /// The login for `project`'s registry; `None` without a username.
    pub fn registry_login(&self, project: &Project) -> Result<Option<RegistryLogin>, LoginError> {
        let Some(reg) = project
            .registry
            .as_deref()
            .and_then(|n| self.registries.iter().find(|r| r.name == n))
        else {
            return Ok(None);
        };
        let Some(user) = &reg.username else {
            return Ok(None);
        };
        let password = match &reg.password {
            Some(r) => Some(r.resolve().map_err(|e| LoginError {
                registry: reg.name.clone(),
                reference: e.reference(),
                reason: e.reason(),
            })?),
            None => None,
        };
        let server = project
            .image
            .split_once('/')
            .map(|(h, _)| h)
            .unwrap_or("docker.io")
            .to_string();
        Ok(Some(RegistryLogin {
            registry: reg.name.clone(),
            url: reg.url.clone(),
            server,
            username: user.clone(),
            password,
            password_ref: reg.password.clone(),
        }))
    }
}
