//! The inventory the console makes up when there is no inventory file: one
//! engine, and the projects and environments its shipdeck labels name.
//! Every environment is `readonly`, and the console runs read-only besides:
//! nothing made up here is good enough to deploy with (no health check, no
//! container spec, no registry). Pure: what the engine said comes in as
//! plain values.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::model::*;

/// One shipdeck-labelled container, as far as an inventory cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `shipdeck.project`.
    pub project: String,
    /// `shipdeck.env`.
    pub env: String,
    /// The image the container was created from (`repo:tag` or `repo@digest`).
    pub image: String,
}

/// Environment names in the order releases usually move through them;
/// others follow, alphabetically.
const USUAL_ORDER: [&str; 11] = [
    "dev",
    "development",
    "test",
    "qa",
    "uat",
    "staging",
    "stage",
    "preprod",
    "prod",
    "production",
    "stable",
];

/// A read-only inventory of `host` alone, with the projects and
/// environments of `seen` (containers without an environment label are
/// left out: shipdeck never starts one).
pub fn from_labels(host: Host, seen: &[Seen]) -> Config {
    let mut envs: Vec<&str> = seen
        .iter()
        .map(|s| s.env.as_str())
        .filter(|e| !e.is_empty())
        .collect();
    envs.sort_by_key(|e| {
        (
            USUAL_ORDER
                .iter()
                .position(|u| u == e)
                .unwrap_or(usize::MAX),
            *e,
        )
    });
    envs.dedup();
    let mut images: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut project_envs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in seen.iter().filter(|s| !s.env.is_empty()) {
        images.entry(&s.project).or_default().push(&s.image);
        project_envs.entry(&s.project).or_default().push(&s.env);
    }
    let projects = project_envs
        .into_iter()
        .map(|(name, mut in_envs)| {
            in_envs.sort_unstable();
            in_envs.dedup();
            let image = images
                .get(name)
                .and_then(|i| i.first())
                .map(|i| repository(i))
                .unwrap_or_default();
            project(name, image, &in_envs, &host.name)
        })
        .collect();
    Config {
        path: PathBuf::from("(no inventory)"),
        settings: Settings::default(),
        environments: envs
            .into_iter()
            .map(|name| Environment {
                name: name.to_string(),
                env: BTreeMap::new(),
                confirm: false,
                readonly: true,
                accent: None,
                require_promotion_from: None,
            })
            .collect(),
        hosts: vec![host],
        projects,
        registries: Vec::new(),
        keys: Vec::new(),
    }
}

fn project(name: &str, image: String, envs: &[&str], host: &str) -> Project {
    Project {
        name: name.to_string(),
        image,
        registry: None,
        container: ContainerSpec {
            command: None,
            ports: Vec::new(),
            env: BTreeMap::new(),
            secret_env: BTreeMap::new(),
            volumes: Vec::new(),
            network: NetworkMode::Bridge,
            restart: "no".into(),
            image_healthcheck: true,
        },
        health: HealthSpec::default(),
        rollout: RolloutPolicy::default(),
        build: None,
        hosts: envs
            .iter()
            .map(|e| (e.to_string(), vec![host.to_string()]))
            .collect(),
        hooks: Vec::new(),
    }
}

/// `registry:5000/team/app:v1` or `…@sha256:…` → `registry:5000/team/app`.
fn repository(image: &str) -> String {
    let image = image.split_once('@').map_or(image, |(repo, _)| repo);
    match image.rsplit_once(':') {
        // A colon after the last '/' starts the tag; before it, a registry's port.
        Some((repo, tag)) if !tag.contains('/') => repo.to_string(),
        _ => image.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(project: &str, env: &str, image: &str) -> Seen {
        Seen {
            project: project.into(),
            env: env.into(),
            image: image.into(),
        }
    }

    #[test]
    fn projects_and_environments_come_from_the_labels() {
        let host = Host {
            name: "sbx".into(),
            endpoint: Endpoint::Unix {
                path: "/run/docker.sock".into(),
            },
            labels: Vec::new(),
            address: None,
        };
        let c = from_labels(
            host,
            &[
                seen("web", "prod", "10.0.0.1:5000/demo/web:v2"),
                seen("web", "dev", "10.0.0.1:5000/demo/web:v3"),
                seen("api", "uat", "api@sha256:0123"),
                seen("api", "", "api:v1"),
                seen("api", "blue", "api:v1"),
            ],
        );
        let envs: Vec<&str> = c.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(envs, ["dev", "uat", "prod", "blue"]);
        assert!(c.environments.iter().all(|e| e.readonly));
        let names: Vec<&str> = c.projects.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["api", "web"]);
        let web = c.project("web").unwrap_or_else(|| unreachable!());
        assert_eq!(web.image, "10.0.0.1:5000/demo/web");
        assert_eq!(web.hosts_in("dev"), ["sbx"]);
        assert_eq!(web.hosts_in("prod"), ["sbx"]);
        assert!(web.hosts_in("uat").is_empty());
        let api = c.project("api").unwrap_or_else(|| unreachable!());
        assert_eq!(api.image, "api");
        assert_eq!(c.hosts.len(), 1);
    }

    #[test]
    fn repositories_lose_only_the_tag() {
        assert_eq!(
            repository("10.0.0.1:5000/demo/web"),
            "10.0.0.1:5000/demo/web"
        );
        assert_eq!(repository("busybox:1.36"), "busybox");
        assert_eq!(repository("r.example/a/b@sha256:ab"), "r.example/a/b");
    }
}
