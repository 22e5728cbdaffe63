//! Validation of `[[projects]]`: image, registry, container, health, rollout
//! and the hosts per environment.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::Validator;
use crate::config::error::{line_col, quote, render_key};
use crate::config::model::*;
use crate::config::raw::*;
use crate::config::values::{self, list, problem, suggest};

/// Upper bound of `health.interval` and `health.timeout`: 10 minutes.
const MAX_PROBE_STEP_MS: u64 = 10 * 60 * 1000;
/// Upper bound of `health.start_period`: 1 hour.
const MAX_START_PERIOD_MS: u64 = 60 * 60 * 1000;
/// Upper bound of `rollout.canary_wait`: 24 hours.
const MAX_CANARY_WAIT_MS: u64 = 24 * 60 * 60 * 1000;

impl Validator<'_> {
    pub(super) fn project(
        &mut self,
        i: usize,
        p: &RawProject,
        envs: &[Environment],
        hosts: &[Spanned<Table<RawHost>>],
        registries: &[Registry],
        templates: &Path,
    ) -> Project {
        let key = format!("projects[{i}]");
        self.ident(&p.name, &format!("{key}.name"));
        self.check(
            &p.image,
            &format!("{key}.image"),
            values::check_image(p.image.get_ref()),
        );
        if let Some(r) = &p.registry
            && !registries.iter().any(|x| &x.name == r.get_ref())
        {
            let names: Vec<&str> = registries.iter().map(|x| x.name.as_str()).collect();
            let hint = if names.is_empty() {
                "define it in a [[registries]] table, or remove this key".to_string()
            } else {
                format!(
                    "known registries: {} (or define it in a [[registries]] table)",
                    list(&names, 10)
                )
            };
            self.fail(
                r.span(),
                &format!("{key}.registry"),
                quote(r.get_ref()),
                problem("unknown registry", hint),
            );
        }
        let default_container = RawContainer::default();
        let default_health = RawHealth::default();
        let default_rollout = RawRollout::default();
        Project {
            name: p.name.get_ref().clone(),
            image: p.image.get_ref().clone(),
            registry: p.registry.as_ref().map(|r| r.get_ref().clone()),
            container: self.container(
                p.container.as_deref().unwrap_or(&default_container),
                &format!("{key}.container"),
            ),
            health: self.health(
                p.health.as_deref().unwrap_or(&default_health),
                &format!("{key}.health"),
            ),
            rollout: self.rollout(
                p.rollout.as_deref().unwrap_or(&default_rollout),
                &format!("{key}.rollout"),
            ),
            build: p
                .build
                .as_deref()
                .and_then(|b| self.build(b, &format!("{key}.build"), hosts, templates)),
            hosts: self.project_hosts(&p.hosts, &format!("{key}.hosts"), envs, hosts),
            hooks: self.hooks(&p.hooks, &format!("{key}.hooks"), envs),
        }
    }

    fn build(
        &mut self,
        b: &RawBuild,
        key: &str,
        hosts: &[Spanned<Table<RawHost>>],
        templates: &Path,
    ) -> Option<BuildSpec> {
        // Files (context, template, Dockerfile) are checked when a build runs:
        // a machine that only deploys need not have the sources.
        let context = self.resolve_path(b.context.get_ref());
        let host_names: Vec<&str> = hosts
            .iter()
            .map(|h| h.get_ref().name.get_ref().as_str())
            .collect();
        if !host_names.contains(&b.host.get_ref().as_str()) {
            let mut hint = format!(
                "name a [[hosts]] entry whose engine builds the image; known hosts: {}",
                list(&host_names, 8)
            );
            if let Some(s) = suggest(b.host.get_ref(), host_names.iter().copied()) {
                hint = format!("did you mean {}? {hint}", quote(s));
            }
            self.fail(
                b.host.span(),
                &format!("{key}.host"),
                quote(b.host.get_ref()),
                problem("unknown build host", hint),
            );
        }
        let dockerfile = match (&b.template, &b.dockerfile) {
            (Some(t), None) => {
                self.name(t, &format!("{key}.template"));
                let path = templates.join(format!("{}.Dockerfile", t.get_ref()));
                DockerfileSource::Template {
                    name: t.get_ref().clone(),
                    path,
                }
            }
            (None, Some(d)) => DockerfileSource::File(d.get_ref().into()),
            (Some(t), Some(_)) => {
                self.fail(
                    t.span(),
                    &format!("{key}.template"),
                    quote(t.get_ref()),
                    problem(
                        "both `template` and `dockerfile` are set",
                        "keep one: a template from the templates directory, or a Dockerfile in the context",
                    ),
                );
                return None;
            }
            (None, None) => {
                self.fail(
                    b.context.span(),
                    key,
                    quote(b.context.get_ref()),
                    problem(
                        "the build names no Dockerfile",
                        "add template = \"static-binary\" (a file in the templates directory) or dockerfile = \"Dockerfile\" (in the context)",
                    ),
                );
                return None;
            }
        };
        let mut vars = BTreeMap::new();
        for (k, v) in &b.vars {
            let vkey = format!("{key}.vars.{}", render_key(k.get_ref()));
            if !values::is_env_var_name(k.get_ref()) {
                self.fail(
                    k.span(),
                    &vkey,
                    quote(k.get_ref()),
                    problem(
                        "not a valid template variable name",
                        "use letters, digits and '_', not starting with a digit, e.g. BASE_IMAGE",
                    ),
                );
            } else if v.get_ref().chars().any(char::is_control) {
                self.fail(
                    v.span(),
                    &vkey,
                    quote(v.get_ref()),
                    problem(
                        "a template value with a line break or control character",
                        "write it on one line: a line break would add Dockerfile instructions",
                    ),
                );
            } else if ["PROJECT", "IMAGE"].contains(&k.get_ref().as_str()) {
                self.fail(
                    k.span(),
                    &vkey,
                    quote(k.get_ref()),
                    problem(
                        format!("{} is set by shipdeck", k.get_ref()),
                        "remove it: PROJECT is the project's name and IMAGE its repository",
                    ),
                );
            }
            vars.insert(k.get_ref().clone(), v.get_ref().clone());
        }
        let mut args = BTreeMap::new();
        for (k, v) in &b.args {
            let akey = format!("{key}.args.{}", render_key(k.get_ref()));
            if !values::is_env_var_name(k.get_ref()) {
                self.fail(
                    k.span(),
                    &akey,
                    quote(k.get_ref()),
                    problem(
                        "not a valid build arg name",
                        "use letters, digits and '_', not starting with a digit",
                    ),
                );
            } else if k.get_ref().starts_with("SHIPDECK_") {
                self.fail(
                    k.span(),
                    &akey,
                    quote(k.get_ref()),
                    problem(
                        "SHIPDECK_* build args are set by shipdeck",
                        "rename it: shipdeck passes SHIPDECK_VERSION and SHIPDECK_CACHE_BUST itself",
                    ),
                );
            }
            args.insert(k.get_ref().clone(), v.get_ref().clone());
        }
        Some(BuildSpec {
            context,
            host: b.host.get_ref().clone(),
            dockerfile,
            vars,
            args,
        })
    }

    fn container(&mut self, c: &RawContainer, key: &str) -> ContainerSpec {
        if let Some(cmd) = &c.command
            && cmd.get_ref().is_empty()
        {
            let value = self.at.quoted_src(cmd.span());
            let hint = "remove the key to use the image's default command, \
                        or give one, e.g. [\"sh\", \"-c\", \"…\"]";
            let p = problem("empty command", hint);
            self.fail(cmd.span(), &format!("{key}.command"), value, p);
        }
        let network = match self.one_of(
            &c.network,
            &format!("{key}.network"),
            &["host", "bridge"],
            "host",
        ) {
            "bridge" => NetworkMode::Bridge,
            _ => NetworkMode::Host,
        };
        for (j, port) in c.ports.iter().enumerate() {
            let pkey = format!("{key}.ports[{j}]");
            if self.check(port, &pkey, values::check_port_mapping(port.get_ref()))
                && network == NetworkMode::Host
            {
                self.fail(
                    port.span(),
                    &pkey,
                    quote(port.get_ref()),
                    problem(
                        "ports are only published with network = \"bridge\" (this container uses the host's network)",
                        "set network = \"bridge\" in this table, or remove `ports` (with the host network the container's ports are the host's)",
                    ),
                );
            }
        }
        let restart = self.one_of(
            &c.restart,
            &format!("{key}.restart"),
            &["no", "always", "unless-stopped", "on-failure"],
            "always",
        );
        let env = self.env_map(&c.env, &format!("{key}.env"));
        let mut secret_env = BTreeMap::new();
        for (k, v) in &c.secret_env {
            let skey = format!("{key}.secret_env.{}", render_key(k.get_ref()));
            self.env_name(k, &skey);
            if env.contains_key(k.get_ref()) {
                let hint = "set each variable once: in `env` for plain values, \
                            in `secret_env` for secrets";
                let p = problem("also set in `env`", hint);
                self.fail(k.span(), &skey, quote(k.get_ref()), p);
            }
            if let Some(r) = self.secret(v, &skey) {
                secret_env.insert(k.get_ref().clone(), r);
            }
        }
        for (j, vol) in c.volumes.iter().enumerate() {
            self.check(
                vol,
                &format!("{key}.volumes[{j}]"),
                values::check_volume(vol.get_ref()),
            );
        }
        ContainerSpec {
            command: c.command.as_ref().map(|c| c.get_ref().clone()),
            ports: c.ports.iter().map(|p| p.get_ref().clone()).collect(),
            env,
            secret_env,
            volumes: c.volumes.iter().map(|v| v.get_ref().clone()).collect(),
            network,
            restart: restart.to_string(),
            image_healthcheck: c.image_healthcheck.unwrap_or(true),
        }
    }

    fn health(&mut self, h: &RawHealth, key: &str) -> HealthSpec {
        let d = HealthSpec::default();
        if let Some(path) = &h.http {
            let ok = if path.get_ref().starts_with('/')
                && !path.get_ref().contains(char::is_whitespace)
            {
                Ok(())
            } else {
                Err(problem(
                    "the HTTP health path must start with '/' and contain no spaces",
                    "write a path such as \"/health\"",
                ))
            };
            self.check(path, &format!("{key}.http"), ok);
        }
        HealthSpec {
            http_path: h.http.as_ref().map(|p| p.get_ref().clone()),
            port: self.int_in(
                &h.port,
                &format!("{key}.port"),
                1..=65535,
                i64::from(d.port),
                "port",
            ) as u16,
            tcp: h.tcp.unwrap_or(d.tcp),
            docker: h.docker.unwrap_or(d.docker),
            interval_ms: self.duration_ms(
                &h.interval,
                &format!("{key}.interval"),
                d.interval_ms,
                1..=MAX_PROBE_STEP_MS,
            ),
            timeout_ms: self.duration_ms(
                &h.timeout,
                &format!("{key}.timeout"),
                d.timeout_ms,
                1..=MAX_PROBE_STEP_MS,
            ),
            retries: self.int_in(
                &h.retries,
                &format!("{key}.retries"),
                1..=1000,
                i64::from(d.retries),
                "attempts",
            ) as u32,
            start_period_ms: self.duration_ms(
                &h.start_period,
                &format!("{key}.start_period"),
                d.start_period_ms,
                0..=MAX_START_PERIOD_MS,
            ),
        }
    }

    fn rollout(&mut self, r: &RawRollout, key: &str) -> RolloutPolicy {
        let d = RolloutPolicy::default();
        let max_unavailable = match &r.max_unavailable {
            None => d.max_unavailable,
            Some(m) => match values::parse_max_unavailable(m.get_ref()) {
                Ok(v) => v,
                Err(p) => {
                    let value = self.at.quoted_src(m.span());
                    let value = match m.get_ref() {
                        values::CountOrPercent::Text(t) => quote(t),
                        values::CountOrPercent::Count(_) => value,
                    };
                    self.fail(m.span(), &format!("{key}.max_unavailable"), value, p);
                    d.max_unavailable
                }
            },
        };
        let failure_action = match self.one_of(
            &r.failure_action,
            &format!("{key}.failure_action"),
            &["pause", "rollback"],
            "rollback",
        ) {
            "pause" => FailureAction::Pause,
            _ => FailureAction::Rollback,
        };
        let max_failure_ratio = match &r.max_failure_ratio {
            None => d.max_failure_ratio,
            Some(x) if (0.0..=1.0).contains(x.get_ref()) => *x.get_ref(),
            Some(x) => {
                let value = self.at.quoted_src(x.span());
                self.fail(
                    x.span(),
                    &format!("{key}.max_failure_ratio"),
                    value,
                    problem(
                        "out of range 0.0..=1.0",
                        "write the share of hosts that may fail, e.g. 0.0 (none) or 0.1 (10%)",
                    ),
                );
                d.max_failure_ratio
            }
        };
        let on_pull_failure = match self.one_of(
            &r.on_pull_failure,
            &format!("{key}.on_pull_failure"),
            &["abort", "skip-host"],
            "abort",
        ) {
            "skip-host" => PullFailure::SkipHost,
            _ => PullFailure::Abort,
        };
        let canary_wait_secs = r.canary_wait.as_ref().map(|_| {
            let ms = self.duration_ms(
                &r.canary_wait,
                &format!("{key}.canary_wait"),
                1000,
                1000..=MAX_CANARY_WAIT_MS,
            );
            ms.div_ceil(1000)
        });
        RolloutPolicy {
            max_unavailable,
            failure_action,
            max_failure_ratio,
            pull_concurrency: self.int_in(
                &r.pull_concurrency,
                &format!("{key}.pull_concurrency"),
                1..=1024,
                i64::from(d.pull_concurrency),
                "parallel pulls",
            ) as u32,
            on_pull_failure,
            keep_releases: self.int_in(
                &r.keep_releases,
                &format!("{key}.keep_releases"),
                1..=100,
                i64::from(d.keep_releases),
                "releases",
            ) as u32,
            canary: r.canary.unwrap_or(d.canary),
            canary_wait_secs,
            pull_stall_ms: self.duration_ms(
                &r.pull_stall_timeout,
                &format!("{key}.pull_stall_timeout"),
                d.pull_stall_ms,
                1000..=3_600_000,
            ),
            canary_timeout_ms: self.duration_ms(
                &r.canary_timeout,
                &format!("{key}.canary_timeout"),
                d.canary_timeout_ms,
                1000..=86_400_000,
            ),
        }
    }

    fn project_hosts(
        &mut self,
        raw: &BTreeMap<Str, Spanned<Vec<Str>>>,
        key: &str,
        envs: &[Environment],
        hosts: &[Spanned<Table<RawHost>>],
    ) -> BTreeMap<String, Vec<String>> {
        let env_names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        let host_names: Vec<&str> = hosts
            .iter()
            .map(|h| h.get_ref().name.get_ref().as_str())
            .collect();
        let mut out = BTreeMap::new();
        for (env, list_) in raw {
            let ekey = format!("{key}.{}", render_key(env.get_ref()));
            if !env_names.contains(&env.get_ref().as_str()) {
                let mut hint = format!("known environments: {}", list(&env_names, 12));
                if let Some(s) = suggest(env.get_ref(), env_names.iter().copied()) {
                    hint = format!("did you mean {}? {hint}", quote(s));
                }
                self.fail(
                    env.span(),
                    &ekey,
                    quote(env.get_ref()),
                    problem("hosts in an unknown environment", hint),
                );
                continue;
            }
            let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
            for (j, h) in list_.get_ref().iter().enumerate() {
                let hkey = format!("{ekey}[{j}]");
                if !host_names.contains(&h.get_ref().as_str()) {
                    let mut hint = if host_names.is_empty() {
                        "define it in a [[hosts]] table (no hosts are defined yet)".to_string()
                    } else {
                        format!(
                            "define it in a [[hosts]] table; known hosts: {}",
                            list(&host_names, 8)
                        )
                    };
                    if let Some(s) = suggest(h.get_ref(), host_names.iter().copied()) {
                        hint = format!("did you mean {}? {hint}", quote(s));
                    }
                    self.fail(
                        h.span(),
                        &hkey,
                        quote(h.get_ref()),
                        problem("unknown host", hint),
                    );
                } else if let Some(first) = seen.get(h.get_ref().as_str()) {
                    let line = self.line_of(first);
                    let (_, col) = line_col(self.at.src, first.start);
                    self.fail(
                        h.span(),
                        &hkey,
                        quote(h.get_ref()),
                        problem(
                            format!("host listed twice in this environment (first at line {line}, column {col})"),
                            "remove the repeated entry",
                        ),
                    );
                } else {
                    seen.insert(h.get_ref(), h.span());
                }
            }
            out.insert(
                env.get_ref().clone(),
                list_
                    .get_ref()
                    .iter()
                    .map(|h| h.get_ref().clone())
                    .collect(),
            );
        }
        out
    }
}
