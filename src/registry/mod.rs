//! Registry v2 client over reqwest: a repository's tags with digest, creation
//! time and size, and one manifest's digest. Auth is anonymous first, then on a
//! 401 the registry's challenge: Basic, or the Bearer token flow of Distribution
//! and Harbor (tokens cached per scope for the client's life).
//! Must not import ratatui, bollard or app/ui. A password or token never
//! reaches an error, a log line, `Debug` output or JSON.

mod auth;
mod error;
mod manifest;
mod transport;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::{Method, Response, StatusCode};
use serde::Serialize;

use crate::config::{Config, Project, Registry, Secret};
use auth::AuthState;

pub use error::RegistryError;

/// Connect timeout of every request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of every request, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Manifests fetched at once by [`RegistryClient::tags`].
const MANIFEST_CONCURRENCY: usize = 8;
/// `tags/list` pages followed at most.
const MAX_PAGES: usize = 100;
/// Largest manifest / image config / token answer read.
const MAX_BODY: usize = 8 << 20;

/// One tag of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagInfo {
    pub tag: String,
    /// `sha256:…` of the tag's manifest (of the index, for a multi-platform
    /// image); `None` when the tag vanished while listing.
    pub digest: Option<String>,
    /// The image config's `created` (of the linux/amd64 image of an index).
    pub created: Option<DateTime<Utc>>,
    /// Compressed size: config plus layers.
    pub size: Option<u64>,
}

/// User name and password of a registry; the password only as a [`Secret`]
/// and the reference it came from (for messages).
#[derive(Debug)]
struct Login {
    user: String,
    password: Secret,
    reference: String,
}

/// A client for one repository on one registry.
pub struct RegistryClient {
    /// `[[registries]]` name, or the image's host for a derived registry.
    name: String,
    /// Base URL without a trailing slash (`http://10.213.0.1:5000`).
    url: String,
    repository: String,
    login: Option<Login>,
    /// The user configured without a password reference (for the hint).
    user_without_password: Option<String>,
    project: Option<String>,
    config_file: Option<String>,
    /// The URL was derived from the image (no `[[registries]]` entry).
    derived_from: Option<String>,
    page_size: Option<u32>,
    http: reqwest::Client,
    auth: Mutex<AuthState>,
    /// Image config digest → created, shared by tags of the same image.
    created: Mutex<HashMap<String, Option<DateTime<Utc>>>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("repository", &self.repository)
            .field("user", &self.login.as_ref().map(|l| &l.user))
            .finish_non_exhaustive()
    }
}

/// Splits an image into its registry host (when the first path component is
/// one: it has a `.` or `:` or is `localhost`) and the repository.
pub(crate) fn split_image(image: &str) -> (Option<&str>, &str) {
    match image.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, image),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RegistryClient {
    /// The client for `project`'s image: its `[[registries]]` entry (url,
    /// username, password reference, resolved now), or without one, `https://`
    /// and the image's first path component (`10.213.0.1:5000/demo/web` →
    /// host `10.213.0.1:5000`, repository `demo/web`).
    pub fn for_project(config: &Config, project: &Project) -> Result<Self, RegistryError> {
        let (host, path) = split_image(&project.image);
        let mut client = match &project.registry {
            Some(name) => {
                let reg = config
                    .registries
                    .iter()
                    .find(|r| &r.name == name)
                    .ok_or_else(|| RegistryError::UnknownRegistry {
                        project: project.name.clone(),
                        registry: name.clone(),
                        config: config.path.display().to_string(),
                    })?;
                Self::new(reg, if host.is_some() { path } else { &project.image })?
            }
            None => {
                let Some(host) = host else {
                    return Err(RegistryError::NoRegistryHost {
                        project: project.name.clone(),
                        image: project.image.clone(),
                    });
                };
                // Docker Hub's registry is not at its image name's host.
                let (url, repository) = if host == "docker.io" {
                    let repo = if path.contains('/') {
                        path.to_string()
                    } else {
                        format!("library/{path}")
                    };
                    ("https://registry-1.docker.io".to_string(), repo)
                } else {
                    (format!("https://{host}"), path.to_string())
                };
                let reg = Registry {
                    name: host.to_string(),
                    url,
                    username: None,
                    password: None,
                };
                let mut c = Self::new(&reg, &repository)?;
                c.derived_from = Some(project.image.clone());
                c
            }
        };
        client.project = Some(project.name.clone());
        client.config_file = Some(config.path.display().to_string());
        Ok(client)
    }

    /// A client for `repository` (`demo/web`) on `registry`; the password
    /// reference is resolved now.
    pub fn new(registry: &Registry, repository: &str) -> Result<Self, RegistryError> {
        let url = registry.url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&url).map_err(|e| RegistryError::BadUrl {
            registry: registry.name.clone(),
            url: url.clone(),
            problem: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(RegistryError::BadUrl {
                registry: registry.name.clone(),
                url,
                problem: "not an http:// or https:// URL with a host".into(),
            });
        }
        let login = match (&registry.username, &registry.password) {
            (Some(user), Some(reference)) => Some(Login {
                user: user.clone(),
                password: reference
                    .resolve()
                    .map_err(|source| RegistryError::Password {
                        registry: registry.name.clone(),
                        url: url.clone(),
                        user: user.clone(),
                        source,
                    })?,
                reference: format!("{reference:?}"),
            }),
            _ => None,
        };
        crate::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // Blob downloads may redirect to storage; reqwest drops the
            // Authorization header when the host changes.
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("shipdeck/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Unreachable {
                registry: registry.name.clone(),
                url: url.clone(),
                cause: format!("cannot build an HTTP client: {e}"),
                hint: String::new(),
            })?;
        Ok(Self {
            name: registry.name.clone(),
            repository: repository.trim_matches('/').to_string(),
            user_without_password: match (&registry.username, &registry.password) {
                (Some(u), None) => Some(u.clone()),
                _ => None,
            },
            login,
            url,
            project: None,
            config_file: None,
            derived_from: None,
            page_size: None,
            http,
            auth: Mutex::new(AuthState::default()),
            created: Mutex::new(HashMap::new()),
        })
    }

    /// Ask for `n` tags per `tags/list` page (default: the registry's).
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n.max(1));
        self
    }

    /// The repository on the registry (`demo/web`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The registry's base URL (`http://10.213.0.1:5000`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The registry's name (the `[[registries]]` name, or the image's host).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every tag of the repository with digest, creation time and size,
    /// newest first (unknown creation times last, then by tag).
    pub async fn tags(&self) -> Result<Vec<TagInfo>, RegistryError> {
        let names = self.tag_names().await?;
        let mut infos: Vec<TagInfo> = futures::stream::iter(names)
            .map(|tag| self.tag_info(tag))
            .buffer_unordered(MANIFEST_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        manifest::sort_newest_first(&mut infos);
        Ok(infos)
    }

    /// The digest of manifest `reference` (a tag or `sha256:…`), by HEAD;
    /// `None` when the registry has no such manifest (404, which is also the
    /// answer for a repository that does not exist yet).
    pub async fn manifest_digest(&self, reference: &str) -> Result<Option<String>, RegistryError> {
        if !manifest::valid_reference(reference) {
            return Err(RegistryError::BadReference {
                reference: reference.to_string(),
            });
        }
        let url = self.manifest_url(reference);
        let what = format!("HEAD of manifest '{reference}'");
        let resp = self
            .send(Method::HEAD, &url, Some(manifest::ACCEPT))
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => match digest_header(&resp) {
                Some(d) => Ok(Some(d)),
                // Without Docker-Content-Digest: hash the manifest itself.
                None => {
                    let resp = self.send(Method::GET, &url, Some(manifest::ACCEPT)).await?;
                    let resp = self.check(resp, &what).await?;
                    let body = self.body(resp, &what).await?;
                    Ok(manifest::sha256_digest(&body))
                }
            },
            _ => Err(self.status_error(resp, &what).await),
        }
    }

    fn manifest_url(&self, reference: &str) -> String {
        format!("{}/v2/{}/manifests/{reference}", self.url, self.repository)
    }

    /// All tag names, following `Link: <…>; rel="next"` (same origin only).
    async fn tag_names(&self) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let mut url = format!("{}/v2/{}/tags/list", self.url, self.repository);
        if let Some(n) = self.page_size {
            url.push_str(&format!("?n={n}"));
        }
        let what = "the tag list".to_string();
        let mut names = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self.send(Method::GET, &url, None).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Err(self.not_found());
            }
            let resp = self.check(resp, &what).await?;
            let next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(manifest::next_link)
                .map(|target| self.same_origin(resp.url(), &target))
                .transpose()?;
            let body = self.body(resp, &what).await?;
            let page: TagList = serde_json::from_slice(&body)
                .map_err(|e| self.bad(&what, format!("not JSON ({e})")))?;
            names.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) => url = n,
                None => return Ok(names),
            }
        }
        Err(self.bad(
            &what,
            format!("still more pages after {MAX_PAGES}; stopped following `Link` headers"),
        ))
    }

    /// `target` of a `Link` header resolved against `base`, refused when it
    /// points elsewhere (it would get our Authorization header).
    fn same_origin(&self, base: &reqwest::Url, target: &str) -> Result<String, RegistryError> {
        let next = base
            .join(target)
            .map_err(|e| self.bad("the tag list", format!("bad Link target '{target}': {e}")))?;
        if next.origin() != base.origin() {
            return Err(self.bad(
                "the tag list",
                format!("the next page '{next}' is on another host; not following it"),
            ));
        }
        Ok(next.to_string())
    }

    async fn tag_info(&self, tag: String) -> Result<TagInfo, RegistryError> {
        let mut info = TagInfo {
            tag,
            digest: None,
            created: None,
            size: None,
        };
        let what = format!("manifest '{}'", info.tag);
        let url = self.manifest_url(&info.tag);
        let resp = self.send(Method::GET, &url, Some(manifest::ACCEPT)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            // Deleted between listing and now.
            tracing::warn!(registry = %self.name, repository = %self.repository, tag = %info.tag, "tag vanished while listing");
            return Ok(info);
        }
        let resp = self.check(resp, &what).await?;
        let header = digest_header(&resp);
        let body = self.body(resp, &what).await?;
        info.digest = header.or_else(|| manifest::sha256_digest(&body));
        let mut parsed = manifest::parse(&body).map_err(|p| self.bad(&what, p))?;
        if let manifest::Manifest::Index { pick: Some(child) } = &parsed {
            let what = format!("manifest '{child}' (linux/amd64 of '{}')", info.tag);
            let resp = self
                .send(
                    Method::GET,
                    &self.manifest_url(child),
                    Some(manifest::ACCEPT),
                )
                .await?;
            let resp = self.check(resp, &what).await?;
            let body = self.body(resp, &what).await?;
            parsed = manifest::parse(&body).map_err(|p| self.bad(&what, p))?;
        }
        if let manifest::Manifest::Image { config, size } = parsed {
            info.size = Some(size);
            info.created = self.created(&config).await?;
        }
        Ok(info)
    }

    /// `created` of image config blob `digest` (cached per digest).
    async fn created(&self, digest: &str) -> Result<Option<DateTime<Utc>>, RegistryError> {
        if let Some(c) = lock(&self.created).get(digest) {
            return Ok(*c);
        }
        if !manifest::valid_reference(digest) {
            return Err(self.bad("a manifest", format!("bad config digest '{digest}'")));
        }
        let what = format!("image config '{digest}'");
        let url = format!("{}/v2/{}/blobs/{digest}", self.url, self.repository);
        let resp = self.send(Method::GET, &url, None).await?;
        let resp = self.check(resp, &what).await?;
        let body = self.body(resp, &what).await?;
        let created = manifest::created(&body).map_err(|p| self.bad(&what, p))?;
        lock(&self.created).insert(digest.to_string(), created);
        Ok(created)
    }
}

fn digest_header(resp: &Response) -> Option<String> {
    resp.headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .filter(|d| manifest::valid_reference(d) && d.contains(':'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretRef;
    use auth::Sent;

    #[test]
    fn image_host_and_repository() {
        assert_eq!(
            split_image("10.213.0.1:5000/demo/web"),
            (Some("10.213.0.1:5000"), "demo/web")
        );
        assert_eq!(
            split_image("harbor.example.com/lib/web"),
            (Some("harbor.example.com"), "lib/web")
        );
        assert_eq!(split_image("localhost/web"), (Some("localhost"), "web"));
        assert_eq!(split_image("demo/web"), (None, "demo/web"));
        assert_eq!(split_image("web"), (None, "web"));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "hunter2-very-secret\n").unwrap_or_else(|_| unreachable!());
        let reg = Registry {
            name: "r".into(),
            url: "http://127.0.0.1:1/".into(),
            username: Some("u".into()),
            password: Some(SecretRef::File(pw)),
        };
        let c = RegistryClient::new(&reg, "demo/web").unwrap_or_else(|_| unreachable!());
        assert_eq!(c.url(), "http://127.0.0.1:1");
        assert_eq!(c.repository(), "demo/web");
        let dbg = format!("{c:?} {:?}", c.login);
        assert!(!dbg.contains("hunter2"), "{dbg}");
        let err = c.refused(&Sent::Basic, None).to_string();
        assert!(err.contains("refused the credentials of user 'u'"), "{err}");
        assert!(err.contains("file:"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn bad_urls_are_refused_with_the_value() {
        let reg = Registry {
            name: "r".into(),
            url: "ftp://x".into(),
            username: None,
            password: None,
        };
        let err = RegistryClient::new(&reg, "a/b")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("bad url 'ftp://x'")));
    }
}
