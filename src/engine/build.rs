//! Image builds and pushes through the engine (classic builder): the build
//! and push streams as bollard-free items, the built image's facts, and the
//! registry login handed to the engine. The only place `shipdeck build`
//! reaches bollard; must not import ratatui, app/ui or the build module.
//! A password goes only into the engine call, never into an item or error.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{BuildImageOptionsBuilder, PushImageOptionsBuilder};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::connect::{EngineError, timed};
use super::ops::Engine;
use crate::config::{Config, RegistryLogin};

/// What to build: the tag, where the Dockerfile is in the context, build
/// arguments and image labels.
#[derive(Debug, Clone, Default)]
pub struct ImageBuild {
    /// `repo:tag` given to the built image.
    pub tag: String,
    /// The Dockerfile's path inside the context tar.
    pub dockerfile: String,
    pub args: HashMap<String, String>,
    pub labels: HashMap<String, String>,
}

/// One item of a build's output stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOutput {
    /// Builder output text (may hold several lines, or part of one).
    pub stream: Option<String>,
    /// A status line (a base image pull's progress), with its layer `id`.
    pub status: Option<String>,
    pub id: Option<String>,
    /// The engine's error for this build (a step failed); the stream ends.
    pub error: Option<String>,
    /// The image id the builder announced (`aux`).
    pub image_id: Option<String>,
}

/// One item of a push's progress stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOutput {
    /// `Preparing`, `Pushing`, `Pushed`, … or the final `TAG: digest: … size: …`.
    pub status: Option<String>,
    /// The registry digest (`sha256:…`), from the final status line.
    pub digest: Option<String>,
    /// The engine's (or the registry's) error for this push; the stream ends.
    pub error: Option<String>,
}

/// A local image, as the engine reports it after a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// `sha256:…`.
    pub id: String,
    /// Number of layers of its root filesystem.
    pub layers: usize,
}

use super::credentials;

/// `v1: digest: sha256:… size: 528` → `sha256:…`.
fn push_digest(status: &str) -> Option<String> {
    status
        .split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .map(str::to_string)
}

impl Engine {
    /// A client for build host `name` whose calls may each take up to `long`
    /// (a build's context upload, its steps, a push): the engine answers the
    /// build call only once it has the whole context. Reachability is still
    /// checked with the config's Docker timeout, and [`Engine::timeout`]
    /// stays that short one for plain queries.
    pub async fn connect_host_for_builds(
        config: &Config,
        name: &str,
        long: Duration,
    ) -> Result<Engine, EngineError> {
        let mut engine = Self::connect_host(config, name).await?;
        engine.docker = engine.docker.with_timeout(long);
        Ok(engine)
    }

    /// Builds `build` from the context tar `context` with the classic
    /// builder; `login` lets it pull `FROM` images from the project's
    /// registry. Unbounded: the caller bounds the whole stream.
    pub fn build_image(
        &self,
        build: ImageBuild,
        context: Vec<u8>,
        login: Option<&RegistryLogin>,
    ) -> BoxStream<'_, Result<BuildOutput, EngineError>> {
        let opts = BuildImageOptionsBuilder::default()
            .dockerfile(&build.dockerfile)
            .t(&build.tag)
            .rm(true)
            .forcerm(true)
            .buildargs(&build.args)
            .labels(&build.labels)
            .build();
        let auth = login.map(|l| HashMap::from([(l.server.clone(), credentials(l))]));
        let endpoint = self.endpoint.clone();
        self.docker
            .build_image(
                opts,
                auth,
                Some(bollard::body_full(bytes::Bytes::from(context))),
            )
            .map(move |item| match item {
                Ok(info) => Ok(BuildOutput {
                    stream: info.stream,
                    status: info.status,
                    id: info.id,
                    error: info
                        .error_detail
                        .and_then(|d| d.message)
                        .filter(|m| !m.is_empty()),
                    image_id: info.aux.and_then(|a| a.id),
                }),
                // bollard turns the engine's in-stream error into this.
                Err(bollard::errors::Error::DockerStreamError { error }) => Ok(BuildOutput {
                    error: Some(error),
                    ..Default::default()
                }),
                Err(e) => Err(EngineError::from_bollard(&endpoint, "build", &e)),
            })
            .boxed()
    }

    /// Pushes `repo:tag` with `login` (anonymous without one). Unbounded:
    /// the caller bounds the whole stream.
    pub fn push_image(
        &self,
        repo: &str,
        tag: &str,
        login: Option<&RegistryLogin>,
    ) -> BoxStream<'_, Result<PushOutput, EngineError>> {
        let opts = PushImageOptionsBuilder::default().tag(tag).build();
        let endpoint = self.endpoint.clone();
        self.docker
            .push_image(repo, Some(opts), login.map(credentials))
            .map(move |item| match item {
                Ok(info) => Ok(PushOutput {
                    digest: info.status.as_deref().and_then(push_digest),
                    status: info.status,
                    error: info.error_detail.and_then(|d| d.message),
                }),
                Err(bollard::errors::Error::DockerStreamError { error }) => Ok(PushOutput {
                    error: Some(error),
                    ..Default::default()
                }),
                Err(e) => Err(EngineError::from_bollard(&endpoint, "push", &e)),
            })
            .boxed()
    }

    /// The local image `image` (`repo:tag`): its id and layer count. A
    /// missing image is an error with status 404.
    pub async fn built_image(&self, image: &str) -> Result<BuiltImage, EngineError> {
        let info = timed(
            &self.endpoint,
            "inspect image",
            self.timeout,
            self.docker.inspect_image(image),
        )
        .await?;
        Ok(BuiltImage {
            id: info.id.unwrap_or_default(),
            layers: info.root_fs.and_then(|r| r.layers).map_or(0, |l| l.len()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, SecretRef};

    #[test]
    fn digest_from_the_final_status() {
        assert_eq!(
            push_digest("v1: digest: sha256:0123abcd size: 528").as_deref(),
            Some("sha256:0123abcd")
        );
        assert_eq!(push_digest("Pushed"), None);
        assert_eq!(push_digest("digest:"), None);
    }

    #[test]
    fn credentials_carry_the_login_to_the_engine() {
        let login = RegistryLogin {
            registry: "sandbox".into(),
            url: "http://10.213.0.1:5001".into(),
            server: "10.213.0.1:5001".into(),
            username: "shipdeck".into(),
            password: Some(Secret::new("pw".into())),
            password_ref: Some(SecretRef::Env("PW".into())),
        };
        let c = credentials(&login);
        assert_eq!(c.username.as_deref(), Some("shipdeck"));
        assert_eq!(c.password.as_deref(), Some("pw"));
        assert_eq!(c.serveraddress.as_deref(), Some("10.213.0.1:5001"));
    }
}
