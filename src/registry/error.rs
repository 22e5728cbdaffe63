//! `RegistryError`, and how a client builds one: what failed, where (registry
//! name, URL, repository), the quoted bad value and what to do. Never carries
//! a password or a token: a password is named by its reference (`file:…` /
//! `env:…`) only.

use super::auth::{Challenge, Sent};
use super::{CONNECT_TIMEOUT, REQUEST_TIMEOUT, RegistryClient};
use crate::config::SecretError;

/// Why a registry request (or building the client) failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The project's `registry = "…"` names no `[[registries]]` entry.
    #[error(
        "project '{project}' names registry '{registry}', which has no [[registries]] entry in {config}: add one or fix `registry` of the project"
    )]
    UnknownRegistry {
        project: String,
        registry: String,
        config: String,
    },

    /// No `registry = "…"` and the image does not start with a registry host.
    #[error(
        "cannot tell the registry of project '{project}': image '{image}' does not start with a registry host (like 10.213.0.1:5000/…); add a [[registries]] entry with its url (e.g. url = \"http://10.213.0.1:5000\") and set registry = \"NAME\" on the project"
    )]
    NoRegistryHost { project: String, image: String },

    /// The registry's URL cannot be used.
    #[error(
        "registry '{registry}': bad url '{url}': {problem}; write the base URL, e.g. \"http://10.213.0.1:5000\" or \"https://harbor.example.com\""
    )]
    BadUrl {
        registry: String,
        url: String,
        problem: String,
    },

    /// The password reference of the registry could not be read.
    #[error("registry '{registry}' ({url}): cannot read the password of user '{user}': {source}")]
    Password {
        registry: String,
        url: String,
        user: String,
        #[source]
        source: SecretError,
    },

    /// No connection, TLS failure, or no answer in time.
    #[error(
        "cannot reach registry '{registry}' at {url}: {cause}; is it running and is the url right?{hint}"
    )]
    Unreachable {
        registry: String,
        url: String,
        cause: String,
        /// Extra advice (leading space included), e.g. for a URL derived from the image.
        hint: String,
    },

    /// 401 and nothing to log in with.
    #[error(
        "registry '{registry}' ({url}) wants a login for repository '{repository}' (401 Unauthorized) and {missing}: {fix}"
    )]
    LoginRequired {
        registry: String,
        url: String,
        repository: String,
        missing: String,
        fix: String,
    },

    /// 401 although credentials were sent.
    #[error(
        "registry '{registry}' ({url}) refused the credentials of user '{user}' (401 Unauthorized{via}): check the password reference {reference} and the user name"
    )]
    CredentialsRefused {
        registry: String,
        url: String,
        user: String,
        /// `file:/path` or `env:NAME`, never the value.
        reference: String,
        /// `, token service http://…` when the bearer flow's token service refused.
        via: String,
    },

    /// 403, or a token without access to the repository.
    #[error(
        "registry '{registry}' ({url}) denied {who} access to repository '{repository}' ({status}): check the account's pull permission on it and the project's `image`"
    )]
    Denied {
        registry: String,
        url: String,
        repository: String,
        /// `user 'U'` or `anonymous`.
        who: String,
        status: String,
    },

    /// 404 on the repository.
    #[error("repository '{repository}' not found on registry '{registry}' ({url}): {fix}")]
    NotFound {
        registry: String,
        url: String,
        repository: String,
        fix: String,
    },

    /// Any other unexpected status.
    #[error("registry '{registry}' ({url}) answered {status} to {what}{detail}")]
    Status {
        registry: String,
        url: String,
        what: String,
        status: String,
        /// `: <the registry's own error message>` when it sent one.
        detail: String,
    },

    /// An answer that is not what the Registry v2 API promises.
    #[error("registry '{registry}' ({url}): {what}: {problem}")]
    BadResponse {
        registry: String,
        url: String,
        what: String,
        problem: String,
    },

    /// A manifest reference that is neither a tag nor a digest.
    #[error(
        "bad manifest reference '{reference}': expected a tag (letters, digits, '_', '.', '-'; up to 128) or a digest like sha256:<64 hex>"
    )]
    BadReference { reference: String },
}

impl RegistryError {
    /// True when the inventory (or the caller's input) is at fault and no
    /// registry was asked anything: callers exit 2 for these, 1 for the rest.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            RegistryError::UnknownRegistry { .. }
                | RegistryError::NoRegistryHost { .. }
                | RegistryError::BadUrl { .. }
                | RegistryError::Password { .. }
                | RegistryError::BadReference { .. }
        )
    }
}

/// A rustls error, possibly inside (nested) `io::Error`s, whose `source()`
/// skips the wrapped error itself.
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    e.is::<rustls::Error>()
        || e.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| is_tls(inner))
}

/// The innermost cause of a reqwest error ("Connection refused (os error 111)").
fn root_cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return if e.is_connect() {
            format!("no connection within {} s", CONNECT_TIMEOUT.as_secs())
        } else {
            format!("no complete answer within {} s", REQUEST_TIMEOUT.as_secs())
        };
    }
    let mut cause: &dyn std::error::Error = e;
    let mut tls = false;
    loop {
        tls |= is_tls(cause);
        match cause.source() {
            Some(next) => cause = next,
            None => break,
        }
    }
    // "received corrupt message" alone does not say that TLS was the problem
    // (typically an https:// url for a plain-HTTP registry).
    if tls {
        format!("TLS handshake failed: {cause}")
    } else {
        cause.to_string()
    }
}

/// Errors of a client name its registry, URL, repository and project.
impl RegistryClient {
    pub(super) fn unreachable(&self, url: &str, e: &reqwest::Error) -> RegistryError {
        let hint = match &self.derived_from {
            Some(image) => format!(
                " (the url was derived from image '{image}'{}; if the registry speaks plain HTTP, add a [[registries]] entry with url = \"{}\" and set registry = \"NAME\" on the project)",
                self.project
                    .as_ref()
                    .map(|p| format!(" of project '{p}'"))
                    .unwrap_or_default(),
                self.url.replacen("https://", "http://", 1)
            ),
            None => String::new(),
        };
        RegistryError::Unreachable {
            registry: self.name.clone(),
            url: url.to_string(),
            cause: root_cause(e),
            hint,
        }
    }

    pub(super) fn login_required(&self) -> RegistryError {
        let config = self.config_file.as_deref().unwrap_or("the config");
        let (missing, fix) = if self.derived_from.is_some() {
            (
                "no [[registries]] entry holds a login for it".to_string(),
                format!(
                    "add a [[registries]] entry with url = \"{}\", username = \"…\" and password = \"file:/path/to/password\" (or \"env:NAME\") to {config}, and set registry = \"NAME\" on project '{}'",
                    self.url,
                    self.project.as_deref().unwrap_or("…")
                ),
            )
        } else if let Some(user) = &self.user_without_password {
            (
                format!("user '{user}' has no password reference"),
                format!(
                    "add password = \"file:/path/to/password\" (or \"env:NAME\") to [[registries]] '{}' in {config}",
                    self.name
                ),
            )
        } else {
            (
                "no credentials are configured".to_string(),
                format!(
                    "add username = \"…\" and password = \"file:/path/to/password\" (or \"env:NAME\") to [[registries]] '{}' in {config}",
                    self.name
                ),
            )
        };
        RegistryError::LoginRequired {
            registry: self.name.clone(),
            url: self.url.clone(),
            repository: self.repository.clone(),
            missing,
            fix,
        }
    }

    /// A second 401 in a row, after answering the challenge.
    pub(super) fn refused(&self, sent: &Sent, challenge: Option<&Challenge>) -> RegistryError {
        match (&self.login, sent) {
            (None, _) => self.login_required(),
            (Some(l), Sent::Basic | Sent::Anonymous) => RegistryError::CredentialsRefused {
                registry: self.name.clone(),
                url: self.url.clone(),
                user: l.user.clone(),
                reference: l.reference.clone(),
                via: String::new(),
            },
            // A token was issued but does not grant the repository.
            (Some(_), Sent::Bearer(_)) => {
                let why = match challenge {
                    Some(Challenge::Bearer { error: Some(e), .. }) => {
                        format!("401 Unauthorized, {e}")
                    }
                    _ => "401 Unauthorized".to_string(),
                };
                self.denied(&why)
            }
        }
    }

    pub(super) fn denied(&self, status: &str) -> RegistryError {
        RegistryError::Denied {
            registry: self.name.clone(),
            url: self.url.clone(),
            repository: self.repository.clone(),
            who: match &self.login {
                Some(l) => format!("user '{}'", l.user),
                None => "anonymous".to_string(),
            },
            status: status.to_string(),
        }
    }

    pub(super) fn bad(&self, what: &str, problem: String) -> RegistryError {
        RegistryError::BadResponse {
            registry: self.name.clone(),
            url: self.url.clone(),
            what: what.to_string(),
            problem,
        }
    }
}
