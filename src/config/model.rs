//! The validated inventory: what `config::load` hands to the rest of the program.
//! Plain data only — no serde spans, no ratatui, no bollard.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A whole, validated inventory file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (used in messages).
    pub path: PathBuf,
    pub settings: Settings,
    /// Environments in promotion order (dev → test → staging → prod …).
    pub environments: Vec<Environment>,
    /// Hosts in file order.
    pub hosts: Vec<Host>,
    /// Projects in file order.
    pub projects: Vec<Project>,
    /// Registries by name.
    pub registries: Vec<Registry>,
    /// `[keys]`: the console's bindings that replace the defaults.
    pub keys: Vec<super::keys::KeyBinding>,
}

/// The default of `[settings] log_buffer`, in MiB.
pub const DEFAULT_LOG_BUFFER_MIB: u64 = 24;

/// `[settings]`: console-wide preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Theme name (a file in `themes/` or the user's theme dir); default "default".
    pub theme: String,
    /// Seconds for every Docker API call before it counts as failed; default 5.
    pub docker_timeout_secs: u64,
    /// Directory of the Dockerfile templates (`NAME.Dockerfile`); default
    /// `templates/` next to the config file.
    pub templates: PathBuf,
    /// MiB of log lines the console's logs view keeps (the oldest go
    /// first, counted on screen); default 32.
    pub log_buffer_mib: u64,
}

impl Settings {
    /// The logs view's budget in bytes.
    pub fn log_budget(&self) -> usize {
        usize::try_from(self.log_buffer_mib.max(1) << 20).unwrap_or(usize::MAX)
    }

    /// The bound of every Docker API call (`docker_timeout_secs`, checked
    /// to be 1..=3600 at load).
    pub fn docker_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.docker_timeout_secs.max(1))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            theme: "default".into(),
            docker_timeout_secs: 5,
            templates: PathBuf::from("templates"),
            log_buffer_mib: DEFAULT_LOG_BUFFER_MIB,
        }
    }
}

/// `[[environments]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    /// Extra env vars every container in this environment gets (besides ENVT and PROJ).
    pub env: BTreeMap<String, String>,
    /// Dangerous actions need the environment's name typed (prod).
    pub confirm: bool,
    /// The console refuses every mutating action here (deploy, rollback,
    /// container actions…); the headless CLI is not affected.
    pub readonly: bool,
    /// This environment's accent colour: a colour name (`red`, `lightblue`…),
    /// `#rrggbb` or a palette index `"0"`..`"255"` (checked at load; see
    /// [`crate::config::ColourSpec`]). `Theme::env_accent` turns it into a colour.
    pub accent: Option<String>,
    /// Only versions that ran healthy in the previous environment may be deployed here.
    pub require_promotion_from: Option<String>,
}

/// `[[hosts]]`: one Docker engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub endpoint: Endpoint,
    pub labels: Vec<String>,
    /// Where the host's containers are reached by health probes; default: the
    /// endpoint's host (tcp/ssh), or 127.0.0.1 for a unix socket.
    pub address: Option<String>,
}

impl Host {
    /// The address HTTP/TCP health probes connect to.
    pub fn probe_address(&self) -> String {
        if let Some(a) = &self.address {
            return a.clone();
        }
        match &self.endpoint {
            Endpoint::Unix { .. } => "127.0.0.1".to_string(),
            Endpoint::Tcp { addr, .. } => addr
                .rsplit_once(':')
                .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_string())
                .unwrap_or_else(|| addr.clone()),
            Endpoint::Ssh { url, .. } => {
                let rest = url.trim_start_matches("ssh://");
                let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
                // `[fd00::5]:22` keeps its IPv6 literal whole.
                if let Some(v6) = host.strip_prefix('[') {
                    return v6.split(']').next().unwrap_or(v6).to_string();
                }
                host.split(':').next().unwrap_or(host).to_string()
            }
        }
    }
}

/// How to reach a Docker engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///run/docker.sock`
    Unix { path: PathBuf },
    /// `tcp://10.0.0.5:2375`, optionally with TLS client certificates.
    Tcp { addr: String, tls: Option<TlsFiles> },
    /// `ssh://user@host[:port]`: an SSH session (host key checked against
    /// known_hosts, never trusted on first use) that forwards a local
    /// socket to the engine's unix socket on the host.
    Ssh { url: String, ssh: SshOptions },
}

/// `ssh = { key, known_hosts, socket }` of an `ssh://` host (all optional).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SshOptions {
    /// The private key (else ssh's own: the agent, ~/.ssh/config, ~/.ssh/id_*).
    pub key: Option<PathBuf>,
    /// The known_hosts file the host's key must be in (else ~/.ssh/known_hosts).
    pub known_hosts: Option<PathBuf>,
    /// The engine's unix socket on the host (default /var/run/docker.sock).
    pub socket: Option<String>,
}

impl SshOptions {
    pub const DEFAULT_SOCKET: &'static str = "/var/run/docker.sock";

    pub fn socket(&self) -> &str {
        self.socket.as_deref().unwrap_or(Self::DEFAULT_SOCKET)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix { path } => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { addr, tls: None } => write!(f, "tcp://{addr}"),
            Endpoint::Tcp { addr, tls: Some(_) } => write!(f, "tcp://{addr} (tls)"),
            Endpoint::Ssh { url, .. } => f.write_str(url),
        }
    }
}

/// Client certificate files for a TLS tcp endpoint (paths, checked to exist at
/// load; relative paths in the file are joined to the config file's directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A reference to a secret; the secret itself is never stored in the config.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `env:NAME`
    Env(String),
    /// `file:PATH`; after `config::load`, a relative path is already joined to
    /// the config file's directory (and `~/` expanded).
    File(PathBuf),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "env:{n}"),
            SecretRef::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// A resolved secret value. Its `Debug`/`Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    /// The value, for handing to an API. Never print or log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(••••)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("••••")
    }
}

/// `[[registries]]`.
#[derive(Debug, Clone)]
pub struct Registry {
    pub name: String,
    /// `http://10.0.0.1:5000` or `https://harbor.example.com`.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
}

/// `[[projects]]`.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    /// Image repository without tag, e.g. `10.213.0.1:5000/demo/web`.
    pub image: String,
    /// Name of a `[[registries]]` entry used to push/pull, if any.
    pub registry: Option<String>,
    pub container: ContainerSpec,
    pub health: HealthSpec,
    pub rollout: RolloutPolicy,
    /// How the image is built (`shipdeck build`), if it is.
    pub build: Option<BuildSpec>,
    /// Hosts per environment name, in order. Every key is a known environment,
    /// every host a known host.
    pub hosts: BTreeMap<String, Vec<String>>,
    /// `[[projects.hooks]]`, in file order.
    pub hooks: Vec<Hook>,
}

/// Where in a rollout a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookPoint {
    /// Before anything changes (and before the lock and the pull): a failure
    /// refuses the rollout.
    PreRollout,
    /// Before a host's serving container is stopped (drain it from the
    /// load balancer): a failure fails that host, which keeps what it ran.
    PreHost,
    /// After a host is done (healthy, or failed and restored).
    PostHost,
    /// After every host of a batch is done.
    PostBatch,
    /// After the release ended, whatever the outcome.
    PostRollout,
    /// After a release ended other than succeeded.
    OnFailure,
}

impl HookPoint {
    pub const ALL: [HookPoint; 6] = [
        HookPoint::PreRollout,
        HookPoint::PreHost,
        HookPoint::PostHost,
        HookPoint::PostBatch,
        HookPoint::PostRollout,
        HookPoint::OnFailure,
    ];

    pub fn word(self) -> &'static str {
        match self {
            HookPoint::PreRollout => "pre_rollout",
            HookPoint::PreHost => "pre_host",
            HookPoint::PostHost => "post_host",
            HookPoint::PostBatch => "post_batch",
            HookPoint::PostRollout => "post_rollout",
            HookPoint::OnFailure => "on_failure",
        }
    }

    /// A gate: its failure stops what comes after it (the rollout, the
    /// host). The others notify, and fail the release only when `required`.
    pub fn gates(self) -> bool {
        matches!(self, HookPoint::PreRollout | HookPoint::PreHost)
    }
}

/// What a hook does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookRun {
    /// POST a JSON payload to `url`; `secret_headers` are resolved when
    /// the hook runs and never shown.
    Webhook {
        url: String,
        headers: BTreeMap<String, String>,
        secret_headers: BTreeMap<String, SecretRef>,
    },
    /// Run `argv` (no shell) with the release's facts as `SHIPDECK_*`
    /// variables and the payload on stdin.
    Command { argv: Vec<String> },
}

/// One `[[projects.hooks]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub on: HookPoint,
    pub run: HookRun,
    pub timeout_ms: u64,
    pub required: bool,
    /// Only in these environments (empty: every one). In an environment
    /// named here, this hook replaces the project-wide hooks at its point.
    pub envs: Vec<String>,
}

impl Hook {
    pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

    /// `webhook http://host/path` / `command /usr/bin/x`: what it is,
    /// without header values or a URL's query (which may carry a token).
    pub fn label(&self) -> String {
        match &self.run {
            HookRun::Webhook { url, .. } => match reqwest::Url::parse(url) {
                // Scheme, host, port and path: no user, query or fragment.
                Ok(u) => format!(
                    "webhook {}://{}{}{}",
                    u.scheme(),
                    u.host_str().unwrap_or(""),
                    u.port().map(|p| format!(":{p}")).unwrap_or_default(),
                    u.path()
                ),
                Err(_) => "webhook (bad URL)".to_string(),
            },
            HookRun::Command { argv } => {
                format!("command {}", argv.first().map(String::as_str).unwrap_or(""))
            }
        }
    }
}

/// Where a project's Dockerfile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfileSource {
    /// A template `NAME` (file `<templates>/NAME.Dockerfile`, checked to exist).
    Template { name: String, path: PathBuf },
    /// A Dockerfile inside the build context (path relative to the context).
    File(PathBuf),
}

/// `[projects.build]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// The build context directory (checked to exist; absolute after load).
    pub context: PathBuf,
    /// The `[[hosts]]` entry whose engine builds the image.
    pub host: String,
    pub dockerfile: DockerfileSource,
    /// Template variables (`{{ NAME }}`), besides the built-in PROJECT and IMAGE.
    pub vars: BTreeMap<String, String>,
    /// Build args (`ARG NAME`); shipdeck adds SHIPDECK_VERSION and SHIPDECK_CACHE_BUST.
    pub args: BTreeMap<String, String>,
}

impl Project {
    /// The hooks that run at `point` in `env`: those naming `env` in
    /// `envs` when there are any (an environment's own hooks replace the
    /// project-wide ones at that point), else the project-wide ones.
    pub fn hooks_at(&self, env: &str, point: HookPoint) -> Vec<&Hook> {
        let at: Vec<&Hook> = self.hooks.iter().filter(|h| h.on == point).collect();
        let own: Vec<&Hook> = at
            .iter()
            .copied()
            .filter(|h| h.envs.iter().any(|e| e == env))
            .collect();
        if own.is_empty() {
            at.into_iter().filter(|h| h.envs.is_empty()).collect()
        } else {
            own
        }
    }

    /// Host names of this project in `env` (empty when none).
    pub fn hosts_in(&self, env: &str) -> &[String] {
        self.hosts.get(env).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Container network mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    Host,
    Bridge,
}

/// `[projects.container]`.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub command: Option<Vec<String>>,
    /// `"8080:80"` style port mappings (bridge mode only).
    pub ports: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Env vars whose values come from secret references.
    pub secret_env: BTreeMap<String, SecretRef>,
    /// `"/host/path:/container/path[:ro]"`.
    pub volumes: Vec<String>,
    pub network: NetworkMode,
    /// `no | always | unless-stopped | on-failure`.
    pub restart: String,
    /// `false` disables the image's own HEALTHCHECK in the container (like
    /// `docker run --no-healthcheck`), e.g. when HTTP probes gate instead and
    /// the check's `exec` every second costs too much on small hosts.
    pub image_healthcheck: bool,
}

/// `[projects.health]`: when a freshly started container counts as healthy.
///
/// The defaults fit real applications, slow starters included:
///
/// - probes every `interval` = 1 s, each with `timeout` = 2 s;
/// - `start_period` = 60 s: probe failures in the first minute do not count,
///   so an application that needs 40 s before it answers (a JVM, a cold
///   cache) passes as soon as it answers;
/// - after that, `retries` = 3: the 4th failed probe in a row fails the gate
///   (some 64 s after start for an app that answers with errors, up to about
///   68 s for one that does not answer at all);
/// - whatever the start period, a container that exits or crash-loops (its
///   restart policy restarts it) fails at once, and with `docker`, Docker's
///   own HEALTHCHECK turning unhealthy fails at once too (Docker applies the
///   image's own start period first).
///
/// The whole wait is bounded by `health::deadline_for`: start period plus
/// `retries + 1` rounds of interval + timeout plus 30 s (102 s by default),
/// never more than `health::MAX_WAIT` (6 h).
/// Config bounds: `interval` and `timeout` 1 ms..=10 min, `start_period`
/// 0..=1 h, `retries` 1..=1000.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    /// HTTP path probed on the host's address (e.g. `/health`), if any.
    pub http_path: Option<String>,
    /// Port the probe targets; default 80.
    pub port: u16,
    /// Also/only a plain TCP connect probe (default false).
    pub tcp: bool,
    /// Use the image's Docker HEALTHCHECK status when it has one (default true).
    pub docker: bool,
    /// Time between two probes (default 1 s).
    pub interval_ms: u64,
    /// How long one probe may take (default 2 s).
    pub timeout_ms: u64,
    /// Failed probes in a row, after the start period, that are still
    /// tolerated (default 3: the 4th fails the gate).
    pub retries: u32,
    /// Grace after start during which probe failures do not count (default
    /// 60 s). A death is never graced.
    pub start_period_ms: u64,
}

impl Default for HealthSpec {
    fn default() -> Self {
        Self {
            http_path: None,
            port: 80,
            tcp: false,
            docker: true,
            interval_ms: 1_000,
            timeout_ms: 2_000,
            retries: 3,
            start_period_ms: 60_000,
        }
    }
}

/// How many hosts may be out of service at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxUnavailable {
    Count(u32),
    Percent(u32),
    /// `ceil(n / 8)`.
    Default,
}

/// What a rollout does when a host fails its health gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Stop launching batches; restore only the failed hosts.
    Pause,
    /// Also roll completed batches back to the previous release.
    Rollback,
}

/// What a rollout does when a host cannot pull the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFailure {
    /// Abort before any restart.
    Abort,
    /// Leave that host out of the rollout.
    SkipHost,
}

/// `[projects.rollout]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutPolicy {
    pub max_unavailable: MaxUnavailable,
    pub failure_action: FailureAction,
    /// Share of hosts (0.0..=1.0) allowed to fail before the failure action applies.
    pub max_failure_ratio: f64,
    pub pull_concurrency: u32,
    pub on_pull_failure: PullFailure,
    /// How many previous releases' containers stay kept (stopped) per host.
    pub keep_releases: u32,
    /// First batch is one host that waits for a resume (or `canary_wait_secs`).
    pub canary: bool,
    pub canary_wait_secs: Option<u64>,
    /// A pull that makes no progress for this long fails that host.
    pub pull_stall_ms: u64,
    /// A canary without `canary_wait` that nobody resumes within this long
    /// is aborted (rolled back): an unattended run never hangs unbounded.
    pub canary_timeout_ms: u64,
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        Self {
            max_unavailable: MaxUnavailable::Default,
            failure_action: FailureAction::Rollback,
            max_failure_ratio: 0.0,
            pull_concurrency: 16,
            on_pull_failure: PullFailure::Abort,
            keep_releases: 2,
            canary: false,
            canary_wait_secs: None,
            pull_stall_ms: 60_000,
            canary_timeout_ms: 3_600_000,
        }
    }
}

impl Config {
    pub fn project(&self, name: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.name == name)
    }
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }
    /// The environment `env` takes releases from (`require_promotion_from`).
    pub fn promotion_source(&self, env: &str) -> Option<&str> {
        self.environment(env)
            .and_then(|e| e.require_promotion_from.as_deref())
    }
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// What is valid but unwise, for `shipdeck check` to say: a project with
    /// secrets deployed over plain `tcp://` (the secrets cross the network
    /// in the clear, in the container create call).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.projects {
            if p.container.secret_env.is_empty() {
                continue;
            }
            let mut plain: Vec<&str> = p
                .hosts
                .values()
                .flatten()
                .filter_map(|name| self.host(name))
                .filter(|h| matches!(h.endpoint, Endpoint::Tcp { tls: None, .. }))
                .map(|h| h.name.as_str())
                .collect();
            plain.sort_unstable();
            plain.dedup();
            if !plain.is_empty() {
                out.push(format!(
                    "project {:?} has secret_env ({}) and deploys to {} over plain tcp:// without TLS ({}): the secrets cross the network unencrypted; give those hosts tls = {{ ca, cert, key }} (port 2376) or an ssh:// endpoint",
                    p.name,
                    p.container.secret_env.keys().cloned().collect::<Vec<_>>().join(", "),
                    if plain.len() == 1 { "1 host".to_string() } else { format!("{} hosts", plain.len()) },
                    plain.join(", ")
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(endpoint: Endpoint) -> Host {
        Host {
            name: "h".into(),
            endpoint,
            labels: Vec::new(),
            address: None,
        }
    }

    #[test]
    fn probe_addresses_keep_ipv6_literals() {
        let tcp = |a: &str| {
            host(Endpoint::Tcp {
                addr: a.into(),
                tls: None,
            })
            .probe_address()
        };
        assert_eq!(tcp("10.0.0.5:2375"), "10.0.0.5");
        assert_eq!(tcp("[fd00::5]:2375"), "fd00::5");
        let ssh = |u: &str| {
            host(Endpoint::Ssh {
                url: u.into(),
                ssh: Default::default(),
            })
            .probe_address()
        };
        assert_eq!(ssh("ssh://ops@[fd00::5]:22"), "fd00::5");
        assert_eq!(ssh("ssh://ops@edge-01:2222"), "edge-01");
        assert_eq!(ssh("ssh://edge-01"), "edge-01");
    }
}
