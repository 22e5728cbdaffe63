//! A valid inventory maps into `config::model` as documented: every key, the
//! defaults, and paths relative to the config file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;

use shipdeck::config::{
    self, DockerfileSource, Endpoint, FailureAction, HealthSpec, MaxUnavailable, NetworkMode,
    PullFailure, RolloutPolicy, SecretRef, Settings, TlsFiles,
};

const FULL: &str = r##"
[settings]
theme = "high-contrast"
docker_timeout_secs = 9
templates = "tpl"
log_buffer = 48

[[environments]]
name = "dev"
env = { LOG_LEVEL = "debug" }
[[environments]]
name = "staging"
[[environments]]
name = "prod"
confirm = true
accent = "#ff0000"
require_promotion_from = "staging"

[[hosts]]
name = "h01"
endpoint = "unix:///var/lib/shipdeck-sandbox/h01/docker.sock"
labels = ["rack-a"]
[[hosts]]
name = "edge-01"
endpoint = "tcp://edge-01.example:2376"
tls = { ca = "certs/ca.pem", cert = "certs/cert.pem", key = "certs/key.pem" }
[[hosts]]
name = "bastion-01"
endpoint = "ssh://deploy@bastion.example:2222"

[[registries]]
name = "sandbox"
url = "http://127.0.0.1:5000/"
username = "ci"
password = "file:secrets/registry"

[[projects]]
name = "demo"
image = "127.0.0.1:5000/demo/web"
registry = "sandbox"
[projects.container]
command = ["sh", "-c", "httpd -f"]
ports = ["8080:80"]
network = "bridge"
restart = "on-failure"
env = { PORT = "80" }
secret_env = { DB_PASSWORD = "env:PATH", API_KEY = "file:secrets/api-key" }
volumes = ["/srv/data:/data:ro"]
[projects.health]
http = "/health"
port = 8080
tcp = true
docker = false
interval = "250ms"
timeout = "1s"
retries = 7
start_period = "1m 30s"
[projects.rollout]
max_unavailable = "25%"
failure_action = "pause"
max_failure_ratio = 0.25
pull_concurrency = 4
on_pull_failure = "skip-host"
keep_releases = 5
canary = true
canary_wait = "1500ms"
pull_stall_timeout = "45s"
canary_timeout = "10m"
[projects.build]
context = "src/demo"
host = "h01"
template = "static-binary"
vars = { BASE_IMAGE = "busybox", APP_DIR = "app" }
args = { HTTP_PROXY = "http://proxy:3128" }
[projects.hosts]
dev = ["h01"]
prod = ["edge-01", "bastion-01"]

[[projects]]
name = "minimal"
image = "busybox"

[[projects]]
name = "own-dockerfile"
image = "busybox"
[projects.build]
context = "src/demo"
host = "bastion-01"
dockerfile = "Dockerfile"
"##;

/// Writes FULL and the files it refers to into a temp dir.
fn full_inventory() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("certs")).unwrap();
    fs::create_dir_all(dir.path().join("secrets")).unwrap();
    for f in ["certs/ca.pem", "certs/cert.pem", "certs/key.pem"] {
        fs::write(dir.path().join(f), "placeholder").unwrap();
    }
    fs::write(dir.path().join("secrets/registry"), "registry-pw\n").unwrap();
    fs::create_dir_all(dir.path().join("tpl")).unwrap();
    fs::write(
        dir.path().join("tpl/static-binary.Dockerfile"),
        "FROM {{ BASE_IMAGE }}\n",
    )
    .unwrap();
    fs::create_dir_all(dir.path().join("src/demo")).unwrap();
    fs::write(dir.path().join("src/demo/Dockerfile"), "FROM busybox\n").unwrap();
    fs::write(dir.path().join("secrets/api-key"), "api-key").unwrap();
    let path = dir.path().join("inventory.toml");
    fs::write(&path, FULL).unwrap();
    (dir, path)
}

#[test]
fn every_key_maps_into_the_model() {
    let (dir, path) = full_inventory();
    let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.path, path);
    assert_eq!(
        cfg.settings,
        Settings {
            theme: "high-contrast".into(),
            docker_timeout_secs: 9,
            templates: dir.path().join("tpl"),
            log_buffer_mib: 48,
        }
    );

    let dev = &cfg.environments[0];
    assert_eq!(dev.env.get("LOG_LEVEL").map(String::as_str), Some("debug"));
    assert!(!dev.confirm && dev.accent.is_none() && dev.require_promotion_from.is_none());
    let prod = cfg.environment("prod").unwrap();
    assert!(prod.confirm);
    assert_eq!(prod.accent.as_deref(), Some("#ff0000"));
    assert_eq!(prod.require_promotion_from.as_deref(), Some("staging"));

    assert_eq!(
        cfg.host("h01").unwrap().endpoint,
        Endpoint::Unix {
            path: "/var/lib/shipdeck-sandbox/h01/docker.sock".into()
        }
    );
    assert_eq!(cfg.host("h01").unwrap().labels, ["rack-a"]);
    // TLS paths are resolved against the config file's directory.
    assert_eq!(
        cfg.host("edge-01").unwrap().endpoint,
        Endpoint::Tcp {
            addr: "edge-01.example:2376".into(),
            tls: Some(TlsFiles {
                ca: dir.path().join("certs/ca.pem"),
                cert: dir.path().join("certs/cert.pem"),
                key: dir.path().join("certs/key.pem"),
            })
        }
    );
    assert_eq!(
        cfg.host("bastion-01").unwrap().endpoint,
        Endpoint::Ssh {
            url: "ssh://deploy@bastion.example:2222".into(),
            ssh: Default::default(),
        }
    );

    let reg = &cfg.registries[0];
    assert_eq!(reg.url, "http://127.0.0.1:5000");
    assert_eq!(reg.username.as_deref(), Some("ci"));
    let pw = reg.password.as_ref().unwrap();
    assert_eq!(*pw, SecretRef::File(dir.path().join("secrets/registry")));
    assert_eq!(pw.resolve().unwrap().expose(), "registry-pw");

    let p = cfg.project("demo").unwrap();
    assert_eq!(p.registry.as_deref(), Some("sandbox"));
    let c = &p.container;
    assert_eq!(c.command.as_deref().unwrap(), ["sh", "-c", "httpd -f"]);
    assert_eq!(c.ports, ["8080:80"]);
    assert_eq!(c.network, NetworkMode::Bridge);
    assert_eq!(c.restart, "on-failure");
    assert_eq!(c.env.get("PORT").map(String::as_str), Some("80"));
    assert_eq!(
        c.secret_env.get("DB_PASSWORD"),
        Some(&SecretRef::Env("PATH".into()))
    );
    assert_eq!(
        c.secret_env.get("API_KEY"),
        Some(&SecretRef::File(dir.path().join("secrets/api-key")))
    );
    assert_eq!(c.volumes, ["/srv/data:/data:ro"]);
    assert_eq!(
        p.health,
        HealthSpec {
            http_path: Some("/health".into()),
            port: 8080,
            tcp: true,
            docker: false,
            interval_ms: 250,
            timeout_ms: 1000,
            retries: 7,
            start_period_ms: 90_000,
        }
    );
    assert_eq!(
        p.rollout,
        RolloutPolicy {
            max_unavailable: MaxUnavailable::Percent(25),
            failure_action: FailureAction::Pause,
            max_failure_ratio: 0.25,
            pull_concurrency: 4,
            on_pull_failure: PullFailure::SkipHost,
            keep_releases: 5,
            canary: true,
            // 1.5 s rounds up to whole seconds.
            canary_wait_secs: Some(2),
            pull_stall_ms: 45_000,
            canary_timeout_ms: 600_000,
        }
    );
    assert_eq!(p.hosts_in("dev"), ["h01"]);
    assert_eq!(p.hosts_in("prod"), ["edge-01", "bastion-01"]);
    assert!(p.hosts_in("staging").is_empty());
    let b = p.build.as_ref().unwrap();
    assert_eq!(b.context, dir.path().join("src/demo"));
    assert_eq!(b.host, "h01");
    assert_eq!(
        b.dockerfile,
        DockerfileSource::Template {
            name: "static-binary".into(),
            path: dir.path().join("tpl/static-binary.Dockerfile"),
        }
    );
    assert_eq!(
        b.vars.get("BASE_IMAGE").map(String::as_str),
        Some("busybox")
    );
    assert_eq!(b.vars.get("APP_DIR").map(String::as_str), Some("app"));
    assert_eq!(
        b.args.get("HTTP_PROXY").map(String::as_str),
        Some("http://proxy:3128")
    );
    let own = cfg
        .project("own-dockerfile")
        .unwrap()
        .build
        .as_ref()
        .unwrap();
    assert_eq!(own.dockerfile, DockerfileSource::File("Dockerfile".into()));
    assert_eq!(own.host, "bastion-01");
}

#[test]
fn omitted_keys_take_the_documented_defaults() {
    let (_dir, path) = full_inventory();
    let cfg = config::load(&path).unwrap();
    let p = cfg.project("minimal").unwrap();
    assert_eq!(p.registry, None);
    assert_eq!(p.container.command, None);
    assert_eq!(p.container.network, NetworkMode::Host);
    assert_eq!(p.container.restart, "always");
    assert!(p.container.ports.is_empty() && p.container.env.is_empty());
    assert_eq!(p.health, HealthSpec::default());
    assert_eq!(p.rollout, RolloutPolicy::default());
    assert_eq!(p.rollout.max_unavailable, MaxUnavailable::Default);
    assert!(p.hosts.is_empty());
    assert!(p.build.is_none());

    let minimal =
        config::load_str("[[environments]]\nname = \"dev\"\n", Path::new("x.toml")).unwrap();
    assert_eq!(minimal.settings, Settings::default());
    assert!(
        minimal.hosts.is_empty() && minimal.projects.is_empty() && minimal.registries.is_empty()
    );
}

#[test]
fn max_unavailable_accepts_a_count() {
    let src = "[[environments]]\nname = \"dev\"\n[[projects]]\nname = \"p\"\nimage = \"p\"\n[projects.rollout]\nmax_unavailable = 3\n";
    let cfg = config::load_str(src, Path::new("x.toml")).unwrap();
    assert_eq!(
        cfg.projects[0].rollout.max_unavailable,
        MaxUnavailable::Count(3)
    );
}

#[test]
fn the_earliest_problem_in_the_file_is_reported() {
    // Two mistakes: the one on the earlier line wins, whatever the section.
    let src = "[[projects]]\nname = \"p\"\nimage = \"p:v1\"\n\n[[environments]]\nname = \"dev\"\n[[hosts]]\nname = \"h\"\nendpoint = \"tcp://h\"\n";
    let err = config::load_str(src, Path::new("inv.toml")).unwrap_err();
    assert_eq!((err.line, err.key.as_str()), (3, "projects[0].image"));
}

#[test]
fn hooks_map_and_an_environments_own_hooks_replace_the_project_wide_ones() {
    use shipdeck::config::{HookPoint, HookRun};
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    let path = dir.path().join("shipdeck.toml");
    fs::write(
        &path,
        r#"
[[environments]]
name = "staging"
[[environments]]
name = "prod"

[[projects]]
name = "demo"
image = "registry.example.com/demo/web"
[[projects.hooks]]
on = "post_rollout"
url = "https://chat.example.com/hook?channel=ops"
headers = { X-Team = "ops" }
secret_headers = { Authorization = "file:token" }
[[projects.hooks]]
on = "post_rollout"
command = ["/usr/local/bin/page", "--quiet"]
envs = ["prod"]
timeout = "30s"
required = true
[[projects.hooks]]
on = "pre_host"
command = ["/usr/local/bin/drain"]
"#,
    )
    .unwrap();
    let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let p = cfg.project("demo").unwrap();
    assert_eq!(p.hooks.len(), 3);
    let chat = &p.hooks[0];
    assert_eq!(chat.on, HookPoint::PostRollout);
    assert_eq!(chat.timeout_ms, 10_000, "the default timeout");
    assert!(!chat.required);
    assert!(chat.envs.is_empty());
    match &chat.run {
        HookRun::Webhook {
            url,
            headers,
            secret_headers,
        } => {
            assert_eq!(url, "https://chat.example.com/hook?channel=ops");
            assert_eq!(headers.get("X-Team").map(String::as_str), Some("ops"));
            assert_eq!(
                secret_headers.get("Authorization"),
                Some(&SecretRef::File(dir.path().join("token")))
            );
        }
        other => panic!("a webhook: {other:?}"),
    }
    assert_eq!(
        chat.label(),
        "webhook https://chat.example.com/hook",
        "no query in the label"
    );
    let page = &p.hooks[1];
    assert_eq!(page.timeout_ms, 30_000);
    assert!(page.required);
    assert_eq!(page.label(), "command /usr/local/bin/page");

    // staging: the project-wide post_rollout hook; prod: its own, instead.
    let at = |env, point| p.hooks_at(env, point);
    assert_eq!(at("staging", HookPoint::PostRollout), vec![chat]);
    assert_eq!(at("prod", HookPoint::PostRollout), vec![page]);
    assert_eq!(at("prod", HookPoint::PreHost), vec![&p.hooks[2]]);
    assert!(at("prod", HookPoint::OnFailure).is_empty());
}
