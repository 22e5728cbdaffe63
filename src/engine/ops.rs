//! Container and image operations a rollout is made of: pull (with the digest
//! it resolved to), create with shipdeck's labels, stop, rename, start,
//! remove. Every call is bounded by a timeout and errors name the host.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
    RenameContainerOptions, StartContainerOptions, StopContainerOptions,
};
use futures::StreamExt;

use super::connect::{EngineError, timed};
use super::inventory::inspect_app_container;
use crate::config::{Config, NetworkMode, Project};
use crate::domain::{AppContainer, labels};

/// One host's engine with what every call needs.
#[derive(Clone)]
pub struct Engine {
    pub host: String,
    pub endpoint: String,
    pub docker: Docker,
    pub timeout: Duration,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine({} at {})", self.host, self.endpoint)
    }
}

fn api(endpoint: &str, what: &'static str, e: &bollard::errors::Error) -> EngineError {
    EngineError::from_bollard(endpoint, what, e)
}

/// Split `repo:tag` into its parts (a registry port is not a tag).
pub fn split_image(image: &str) -> (&str, &str) {
    // `repo@sha256:…`: the digest is the reference the engine pulls.
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo, digest);
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

impl Engine {
    /// A client for inventory host `name`, with the config's Docker timeout.
    pub async fn connect_host(config: &Config, name: &str) -> Result<Engine, EngineError> {
        let timeout = config.settings.docker_timeout();
        let Some(h) = config.host(name) else {
            return Err(EngineError::Client {
                endpoint: name.to_string(),
                reason: "not in the inventory".into(),
            });
        };
        Self::connect(name, &h.endpoint, timeout).await
    }

    /// A client for every host of `project` in `env`, all connected at
    /// once, in inventory order, with what failed.
    pub async fn connect_env(
        config: &Config,
        project: &str,
        env: &str,
    ) -> Vec<(String, Result<Engine, EngineError>)> {
        let names = config
            .project(project)
            .map(|p| p.hosts_in(env))
            .unwrap_or_default();
        futures::future::join_all(
            names
                .iter()
                .map(|name| async move { (name.clone(), Self::connect_host(config, name).await) }),
        )
        .await
    }

    /// A client for host `name` at `endpoint`; `timeout` bounds every call.
    pub async fn connect(
        name: &str,
        endpoint: &crate::config::Endpoint,
        timeout: Duration,
    ) -> Result<Engine, EngineError> {
        let docker = super::connect::connect(endpoint, timeout).await?;
        Ok(Engine {
            host: name.to_string(),
            endpoint: endpoint.to_string(),
            docker,
            timeout,
        })
    }

    /// Bound for container lifecycle calls (create, start, rename, remove):
    /// they do real work on the host (mounts, cgroups, network) and can take
    /// seconds on a loaded machine, so they get more than a plain query.
    pub fn op_timeout(&self) -> Duration {
        (self.timeout * 4).max(Duration::from_secs(20))
    }

    /// The client with bollard's own per-request bound raised to `bound`
    /// (it is the short query timeout otherwise, and would cut a stop that
    /// waits out its grace period).
    fn slow(&self, bound: Duration) -> Docker {
        self.docker
            .clone()
            .with_timeout(bound + Duration::from_secs(1))
    }

    /// Pull `image` (`repo:tag` or `repo@sha256:…`) and return the registry
    /// digest it resolved to (`sha256:…`). The pull fails when the engine
    /// reports no progress for `stall` (a registry that stopped answering),
    /// however long the whole transfer takes while it moves.
    pub async fn pull(
        &self,
        image: &str,
        login: Option<&crate::config::RegistryLogin>,
        stall: Duration,
    ) -> Result<String, EngineError> {
        self.pull_with_progress(image, login, stall, |_, _| {})
            .await
    }

    /// [`Engine::pull`], telling `progress(bytes, total)` as layers move
    /// (summed over the layers the engine reports; `total` grows as it
    /// learns of them).
    pub async fn pull_with_progress(
        &self,
        image: &str,
        login: Option<&crate::config::RegistryLogin>,
        stall: Duration,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<String, EngineError> {
        let (repo, tag) = split_image(image);
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        let mut stream = self.docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(repo.to_string()),
                tag: Some(tag.to_string()),
                ..Default::default()
            }),
            None,
            login.map(super::credentials),
        );
        loop {
            let item = match tokio::time::timeout(stall, stream.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(_) => {
                    return Err(EngineError::api(
                        &self.endpoint,
                        "pull",
                        format!(
                            "no progress for {}s pulling {image} (the registry stopped answering?); raise [projects.rollout] pull_stall_timeout if it is just slow",
                            stall.as_secs().max(1)
                        ),
                    ));
                }
            };
            match item {
                Ok(info) => {
                    if let Some(err) = info.error_detail.and_then(|d| d.message) {
                        return Err(EngineError::api(&self.endpoint, "pull", err));
                    }
                    if let (Some(id), Some(d)) = (info.id, info.progress_detail) {
                        let cur = u64::try_from(d.current.unwrap_or(0)).unwrap_or(0);
                        let tot = u64::try_from(d.total.unwrap_or(0)).unwrap_or(0);
                        if tot > 0 {
                            let e = layers.entry(id).or_default();
                            *e = (cur.max(e.0), tot);
                            let (c, t) = layers
                                .values()
                                .fold((0, 0), |(c, t), (lc, lt)| (c + lc, t + lt));
                            progress(c, t);
                        }
                    }
                }
                Err(e) => return Err(api(&self.endpoint, "pull", &e)),
            }
        }
        self.local_digest(image).await?.ok_or_else(|| {
            EngineError::api(
                &self.endpoint,
                "pull",
                format!("{image} was pulled but the engine reports no registry digest for it"),
            )
        })
    }

    /// The registry digest of a local image, `None` when it is not present.
    pub async fn local_digest(&self, image: &str) -> Result<Option<String>, EngineError> {
        let (repo, _) = split_image(image);
        match timed(
            &self.endpoint,
            "inspect image",
            self.timeout,
            self.docker.inspect_image(image),
        )
        .await
        {
            Ok(info) => Ok(info.repo_digests.unwrap_or_default().iter().find_map(|d| {
                // `repo@sha256:…` for the repository asked about.
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, dg)| dg.to_string())
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every container of `project` in `env` on this host (any state).
    pub async fn app_containers(
        &self,
        project: &str,
        env: &str,
    ) -> Result<Vec<AppContainer>, EngineError> {
        self.app_containers_refresh(project, env, &[]).await
    }

    /// Like [`Engine::app_containers`], inspecting only the containers that
    /// changed since `known` was read (new, or another state or name); the
    /// others keep what was known, with their health from the listing.
    pub async fn app_containers_refresh(
        &self,
        project: &str,
        env: &str,
        known: &[AppContainer],
    ) -> Result<Vec<AppContainer>, EngineError> {
        let list = self.list_app(project, env).await?;
        let reads = futures::future::join_all(list.into_iter().map(|s| async move {
            let id = s.id.clone().unwrap_or_default();
            let listed = super::inventory::app_container_from_summary(&s);
            match (known.iter().find(|k| k.id == id), listed) {
                // The serving one is always read afresh (its restart policy
                // may have been changed by a holder that died half way).
                (Some(k), Some(l))
                    if k.state == l.state
                        && k.name == l.name
                        && l.role != crate::domain::Role::Serving =>
                {
                    Ok(Some(AppContainer {
                        health: l.health,
                        ..k.clone()
                    }))
                }
                _ => inspect_app_container(&self.docker, &self.endpoint, self.timeout, &id).await,
            }
        }))
        .await;
        let mut out = Vec::new();
        for r in reads {
            if let Some(c) = r? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The containers of `project` in `env` from the listing alone (one
    /// call, no inspect): names, labels, state and health, but no restart
    /// policy (`?`), start time or restart count.
    pub async fn app_containers_listed(
        &self,
        project: &str,
        env: &str,
    ) -> Result<Vec<AppContainer>, EngineError> {
        Ok(self
            .list_app(project, env)
            .await?
            .iter()
            .filter_map(super::inventory::app_container_from_summary)
            .collect())
    }

    async fn list_app(
        &self,
        project: &str,
        env: &str,
    ) -> Result<Vec<bollard::models::ContainerSummary>, EngineError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{}={project}", labels::PROJECT),
                format!("{}={env}", labels::ENV),
            ],
        )]);
        timed(
            &self.endpoint,
            "list containers",
            self.timeout,
            self.docker.list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            })),
        )
        .await
    }

    /// Inspect one shipdeck container (`None` when gone).
    pub async fn inspect(&self, id: &str) -> Result<Option<AppContainer>, EngineError> {
        inspect_app_container(&self.docker, &self.endpoint, self.timeout, id).await
    }

    /// Stop with `grace` before SIGKILL. Already stopped is fine.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), EngineError> {
        let secs = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        // The call itself may take the whole grace period.
        let r = timed(
            &self.endpoint,
            "stop container",
            self.op_timeout() + grace,
            self.slow(self.op_timeout() + grace).stop_container(
                id,
                Some(StopContainerOptions {
                    t: Some(secs),
                    ..Default::default()
                }),
            ),
        )
        .await;
        match r {
            Err(e) if e.is_not_modified() => Ok(()),
            other => other,
        }
    }

    pub async fn start(&self, id: &str) -> Result<(), EngineError> {
        let r = timed(
            &self.endpoint,
            "start container",
            self.op_timeout(),
            self.slow(self.op_timeout())
                .start_container(id, None::<StartContainerOptions>),
        )
        .await;
        match r {
            Err(e) if e.is_not_modified() => Ok(()),
            other => other,
        }
    }

    pub async fn rename(&self, id: &str, name: &str) -> Result<(), EngineError> {
        timed(
            &self.endpoint,
            "rename container",
            self.op_timeout(),
            self.slow(self.op_timeout()).rename_container(
                id,
                RenameContainerOptions {
                    name: name.to_string(),
                },
            ),
        )
        .await
    }

    /// Remove (force). Already gone is fine.
    pub async fn remove(&self, id: &str) -> Result<(), EngineError> {
        let r = timed(
            &self.endpoint,
            "remove container",
            self.op_timeout(),
            self.slow(self.op_timeout()).remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            ),
        )
        .await;
        match r {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Set the restart policy of a container (`no`, `always`, `unless-stopped`,
    /// `on-failure`). A kept container gets `no`, so that a daemon restart does
    /// not bring it back beside the one that serves.
    pub async fn set_restart(&self, id: &str, policy: &str) -> Result<(), EngineError> {
        let body = bollard::models::ContainerUpdateBody {
            restart_policy: Some(RestartPolicy {
                name: Some(restart_policy(policy)),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        timed(
            &self.endpoint,
            "update restart policy",
            self.op_timeout(),
            self.slow(self.op_timeout()).update_container(id, body),
        )
        .await
    }

    /// Create (not start) a container named `name` from `spec`.
    pub async fn create(&self, name: &str, spec: &CreateSpec) -> Result<String, EngineError> {
        let body = spec.body();
        let created = timed(
            &self.endpoint,
            "create container",
            self.op_timeout(),
            self.slow(self.op_timeout()).create_container(
                Some(CreateContainerOptions {
                    name: Some(name.to_string()),
                    ..Default::default()
                }),
                body,
            ),
        )
        .await?;
        Ok(created.id)
    }
}

fn restart_policy(name: &str) -> RestartPolicyNameEnum {
    match name {
        "no" => RestartPolicyNameEnum::NO,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => RestartPolicyNameEnum::ALWAYS,
    }
}

/// Everything a new app container is made of. Its `Debug` shows the names of
/// the environment variables, never their values (secrets are among them).
#[derive(Clone)]
pub struct CreateSpec {
    /// `repo:tag`.
    pub image: String,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub command: Option<Vec<String>>,
    pub network: NetworkMode,
    pub ports: Vec<String>,
    pub volumes: Vec<String>,
    pub restart: String,
    pub image_healthcheck: bool,
}

impl std::fmt::Debug for CreateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .env
            .iter()
            .map(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k))
            .collect();
        f.debug_struct("CreateSpec")
            .field("image", &self.image)
            .field("env", &names)
            .field("labels", &self.labels)
            .field("network", &self.network)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}

impl CreateSpec {
    /// The spec for `project` in `env`: project env, environment env, resolved
    /// secrets, then `ENVT`/`PROJ` (which nothing may override).
    pub fn for_project(
        project: &Project,
        env: &str,
        env_vars: &std::collections::BTreeMap<String, String>,
        secrets: &[(String, String)],
        image: String,
        labels: HashMap<String, String>,
    ) -> Self {
        let mut vars: Vec<String> = Vec::new();
        for (k, v) in project.container.env.iter().chain(env_vars.iter()) {
            vars.push(format!("{k}={v}"));
        }
        for (k, v) in secrets {
            vars.push(format!("{k}={v}"));
        }
        vars.push(format!("ENVT={env}"));
        vars.push(format!("PROJ={}", project.name));
        Self {
            image,
            env: vars,
            labels,
            command: project.container.command.clone(),
            network: project.container.network,
            ports: project.container.ports.clone(),
            volumes: project.container.volumes.clone(),
            restart: project.container.restart.clone(),
            image_healthcheck: project.container.image_healthcheck,
        }
    }

    fn body(&self) -> ContainerCreateBody {
        let restart = restart_policy(&self.restart);
        let mut labels = self.labels.clone();
        labels.insert(labels::RESTART.to_string(), self.restart.clone());
        let mut port_bindings = HashMap::new();
        let mut exposed = Vec::new();
        if self.network == NetworkMode::Bridge {
            for p in &self.ports {
                // "[IP:]HOST:CONTAINER[/proto]" (validated at config load).
                if let Some((host_part, container)) = p.rsplit_once(':') {
                    let (ip, host) = match host_part.rsplit_once(':') {
                        Some((ip, port)) => (Some(ip.to_string()), port),
                        None => (None, host_part),
                    };
                    let key = if container.contains('/') {
                        container.to_string()
                    } else {
                        format!("{container}/tcp")
                    };
                    exposed.push(key.clone());
                    port_bindings.insert(
                        key,
                        Some(vec![PortBinding {
                            host_ip: ip,
                            host_port: Some(host.to_string()),
                        }]),
                    );
                }
            }
        }
        ContainerCreateBody {
            image: Some(self.image.clone()),
            env: Some(self.env.clone()),
            labels: Some(labels),
            cmd: self.command.clone(),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            healthcheck: (!self.image_healthcheck).then(|| bollard::models::HealthConfig {
                test: Some(vec!["NONE".to_string()]),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some(
                    match self.network {
                        NetworkMode::Host => "host",
                        NetworkMode::Bridge => "bridge",
                    }
                    .into(),
                ),
                restart_policy: Some(RestartPolicy {
                    name: Some(restart),
                    maximum_retry_count: None,
                }),
                binds: (!self.volumes.is_empty()).then(|| self.volumes.clone()),
                port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn image_parts() {
        assert_eq!(
            split_image("10.0.0.1:5000/demo/web:v2"),
            ("10.0.0.1:5000/demo/web", "v2")
        );
        assert_eq!(
            split_image("10.0.0.1:5000/demo/web"),
            ("10.0.0.1:5000/demo/web", "latest")
        );
        assert_eq!(split_image("nginx:1.27"), ("nginx", "1.27"));
    }
}
