//! The request path of [`RegistryClient`]: send with what the registry asked
//! for last, answer a 401 challenge once (Basic, or the Bearer token flow),
//! read bounded bodies and turn unexpected statuses into errors.

use reqwest::{Method, Response, StatusCode};

use super::auth::{self, Challenge, Sent};
use super::{MAX_BODY, RegistryClient, RegistryError, lock};
use crate::config::Secret;

impl RegistryClient {
    /// Sends a request with what the registry asked for last; on a 401,
    /// answers the challenge once and retries.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        accept: Option<&str>,
    ) -> Result<Response, RegistryError> {
        let mut answered = false;
        loop {
            let sent = lock(&self.auth).current();
            let mut req = self.http.request(method.clone(), url);
            if let Some(a) = accept {
                req = req.header(reqwest::header::ACCEPT, a);
            }
            req = match (&sent, &self.login) {
                (Sent::Basic, Some(l)) => req.basic_auth(&l.user, Some(l.password.expose())),
                (Sent::Bearer(token), _) => req.bearer_auth(token.expose()),
                _ => req,
            };
            let resp = req
                .send()
                .await
                .map_err(|e| self.unreachable(&self.url, &e))?;
            tracing::debug!(registry = %self.name, %method, url, status = %resp.status(), "registry request");
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let challenge = auth::challenge(resp.headers());
            if answered {
                return Err(self.refused(&sent, challenge.as_ref()));
            }
            match challenge {
                Some(Challenge::Basic) => {
                    if self.login.is_none() {
                        return Err(self.login_required());
                    }
                    if matches!(sent, Sent::Basic) {
                        return Err(self.refused(&sent, None));
                    }
                    lock(&self.auth).use_basic();
                }
                Some(ch @ Challenge::Bearer { .. }) => {
                    let scope = ch.scope_key().to_string();
                    let cached = lock(&self.auth).cached(&scope, &sent);
                    let token = match cached {
                        Some(t) => t,
                        None => self.fetch_token(&ch).await?,
                    };
                    lock(&self.auth).use_token(&scope, token);
                }
                None => {
                    return Err(match &self.login {
                        None => self.login_required(),
                        Some(_) => self.refused(&sent, None),
                    });
                }
            }
            answered = true;
        }
    }

    /// The bearer flow: GET the realm with service and scope (with the basic
    /// credentials when configured) and read `token` / `access_token`.
    pub(super) async fn fetch_token(&self, ch: &Challenge) -> Result<Secret, RegistryError> {
        let Challenge::Bearer {
            realm,
            service,
            scope,
            ..
        } = ch
        else {
            return Err(self.bad("the login", "not a bearer challenge".into()));
        };
        let mut realm_url = reqwest::Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| self.bad("the 401 challenge", format!("bad token realm '{realm}'")))?;
        {
            let mut q = realm_url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            if let Some(s) = scope {
                q.append_pair("scope", s);
            }
        }
        // The password goes to the token service: never over plain HTTP when
        // the registry itself is reached over HTTPS.
        if self.url.starts_with("https://") && realm_url.scheme() == "http" {
            return Err(self.bad(
                "the 401 challenge",
                format!(
                    "the registry (https) names a plain-http token realm '{realm}'; the login is not sent there: fix the registry's token realm"
                ),
            ));
        }
        let mut req = self.http.get(realm_url);
        if let Some(l) = &self.login {
            req = req.basic_auth(&l.user, Some(l.password.expose()));
        }
        let what = format!("the token request to {realm}");
        let resp = req.send().await.map_err(|e| self.unreachable(realm, &e))?;
        tracing::debug!(registry = %self.name, realm, scope = scope.as_deref().unwrap_or(""), status = %resp.status(), "token request");
        match resp.status() {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(match &self.login {
                None => self.login_required(),
                Some(l) => RegistryError::CredentialsRefused {
                    registry: self.name.clone(),
                    url: self.url.clone(),
                    user: l.user.clone(),
                    reference: l.reference.clone(),
                    via: format!(", token service {realm}"),
                },
            }),
            s if s.is_success() => {
                let body = self.body(resp, &what).await?;
                auth::token_from(&body).map_err(|p| self.bad(&what, p))
            }
            _ => Err(self.status_error(resp, &what).await),
        }
    }

    /// Passes 2xx through; anything else becomes an error.
    pub(super) async fn check(
        &self,
        resp: Response,
        what: &str,
    ) -> Result<Response, RegistryError> {
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.status_error(resp, what).await)
        }
    }

    pub(super) fn not_found(&self) -> RegistryError {
        RegistryError::NotFound {
            registry: self.name.clone(),
            url: self.url.clone(),
            repository: self.repository.clone(),
            fix: match &self.project {
                Some(p) => format!("check `image` of project '{p}'"),
                None => "check the repository name".to_string(),
            },
        }
    }

    /// An unexpected status, with the registry's own error message if any.
    pub(super) async fn status_error(&self, resp: Response, what: &str) -> RegistryError {
        let status = resp.status();
        if matches!(status, StatusCode::FORBIDDEN) {
            return self.denied("403 Forbidden");
        }
        #[derive(serde::Deserialize)]
        struct Errors {
            errors: Vec<ErrorItem>,
        }
        #[derive(serde::Deserialize)]
        struct ErrorItem {
            code: Option<String>,
            message: Option<String>,
        }
        let detail = self
            .body(resp, what)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<Errors>(&b).ok())
            .and_then(|e| e.errors.into_iter().next())
            .map(|e| {
                let text = [e.code, e.message]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                let short: String = text.chars().take(200).collect();
                format!(": {short}")
            })
            .unwrap_or_default();
        RegistryError::Status {
            registry: self.name.clone(),
            url: self.url.clone(),
            what: what.to_string(),
            status: status.to_string(),
            detail,
        }
    }

    /// The body, at most `MAX_BODY` bytes.
    pub(super) async fn body(
        &self,
        mut resp: Response,
        what: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut out = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if out.len() + chunk.len() > MAX_BODY {
                        return Err(self.bad(what, format!("larger than {MAX_BODY} bytes")));
                    }
                    out.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(out),
                Err(e) => return Err(self.unreachable(&self.url, &e)),
            }
        }
    }
}
