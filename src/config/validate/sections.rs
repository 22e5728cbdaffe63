//! Validation of `[settings]`, `[[environments]]`, `[[hosts]]` and `[[registries]]`.

use std::path::PathBuf;

use toml::Spanned;

use super::{Validator, display_dir};
use crate::config::colour::{COLOUR_HINT, ColourSpec};
use crate::config::context::DockerEnv;
use crate::config::endpoint::{check_registry_url, parse_endpoint};
use crate::config::error::{MISSING, quote};
use crate::config::model::*;
use crate::config::raw::*;
use crate::config::values::problem;

impl Validator<'_> {
    /// `[keys]`: known command names, keys that parse, no key bound to two
    /// commands.
    pub(super) fn keys(
        &mut self,
        raw: Option<std::collections::BTreeMap<Str, Spanned<toml::Value>>>,
    ) -> Vec<crate::config::keys::KeyBinding> {
        use crate::config::keys::{COMMAND_NAMES, KEY_HINT, KeyBinding, parse_key};
        let Some(raw) = raw else { return Vec::new() };
        let mut out = Vec::new();
        let mut seen: std::collections::HashMap<crate::config::keys::KeySpec, String> =
            Default::default();
        for (name, value) in raw {
            let key = format!("keys.{}", name.get_ref());
            if !COMMAND_NAMES.contains(&name.get_ref().as_str()) {
                let hint = match crate::config::values::suggest(
                    name.get_ref(),
                    COMMAND_NAMES.iter().copied(),
                ) {
                    Some(s) => format!(
                        "did you mean \"{s}\"? the commands are: {}",
                        COMMAND_NAMES.join(", ")
                    ),
                    None => format!("the commands are: {}", COMMAND_NAMES.join(", ")),
                };
                self.fail(
                    name.span(),
                    &key,
                    quote(name.get_ref()),
                    problem("no such console command", hint),
                );
                continue;
            }
            let texts: Vec<String> = match value.get_ref() {
                toml::Value::String(s) => vec![s.clone()],
                toml::Value::Array(a) if a.iter().all(|v| v.is_str()) && !a.is_empty() => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => {
                    let shown = self.at.quoted_src(value.span());
                    self.fail(
                        value.span(),
                        &key,
                        shown,
                        problem(
                            "a key binding is a string or a list of strings",
                            format!(
                                "e.g. {} = \"D\" or {} = [\"D\", \"ctrl-d\"]",
                                name.get_ref(),
                                name.get_ref()
                            ),
                        ),
                    );
                    continue;
                }
            };
            let mut keys = Vec::new();
            for t in texts {
                match parse_key(&t) {
                    Ok(k) => {
                        if let Some(other) = seen.get(&k).filter(|o| **o != *name.get_ref()) {
                            self.fail(
                                value.span(),
                                &key,
                                quote(&t),
                                problem(
                                    format!("\"{t}\" is bound to \"{other}\" too"),
                                    "bind each key to one command",
                                ),
                            );
                            continue;
                        }
                        seen.insert(k, name.get_ref().clone());
                        keys.push(k);
                    }
                    Err(why) => self.fail(value.span(), &key, quote(&t), problem(why, KEY_HINT)),
                }
            }
            out.push(KeyBinding {
                command: name.into_inner(),
                keys,
            });
        }
        out
    }

    pub(super) fn settings(&mut self, raw: Option<Table<RawSettings>>) -> Settings {
        let mut s = Settings {
            templates: self.resolve_path("templates"),
            ..Settings::default()
        };
        let Some(Table(raw)) = raw else { return s };
        if let Some(theme) = raw.theme {
            self.name(&theme, "settings.theme");
            s.theme = theme.into_inner();
        }
        s.docker_timeout_secs = self.int_in(
            &raw.docker_timeout_secs,
            "settings.docker_timeout_secs",
            1..=3600,
            5,
            "seconds",
        ) as u64;
        s.log_buffer_mib = self.int_in(
            &raw.log_buffer,
            "settings.log_buffer",
            1..=1024,
            crate::config::model::DEFAULT_LOG_BUFFER_MIB as i64,
            "MiB",
        ) as u64;
        if let Some(t) = &raw.templates {
            // Checked when a build needs it (a deploy-only machine has no templates).
            let path = self.resolve_path(t.get_ref());
            s.templates = path;
        }
        s
    }

    pub(super) fn environments(
        &mut self,
        raw: Option<Spanned<Vec<Table<RawEnvironment>>>>,
    ) -> Vec<Environment> {
        let hint = "add at least one [[environments]] table with a name, e.g. name = \"dev\" (environments are listed in promotion order)";
        let Some(raw) = raw else {
            self.fail(
                0..0,
                "environments",
                MISSING.into(),
                problem("no environments defined", hint),
            );
            return Vec::new();
        };
        if raw.get_ref().is_empty() {
            let value = self.at.quoted_src(raw.span());
            self.fail(
                raw.span(),
                "environments",
                value,
                problem("the environments list is empty", hint),
            );
        }
        let raw = raw.into_inner();
        self.unique("environment", "environments", raw.iter().map(|e| &e.name));
        let mut out: Vec<Environment> = Vec::new();
        for (i, e) in raw.iter().enumerate() {
            let key = format!("environments[{i}]");
            self.ident(&e.name, &format!("{key}.name"));
            let env = self.env_map(&e.env, &format!("{key}.env"));
            if let Some(a) = &e.accent
                && ColourSpec::parse(a.get_ref()).is_none()
            {
                let p = problem("not a colour", COLOUR_HINT);
                self.fail(a.span(), &format!("{key}.accent"), quote(a.get_ref()), p);
            }
            if let Some(from) = &e.require_promotion_from {
                let earlier: Vec<&str> = out.iter().map(|x| x.name.as_str()).collect();
                if !earlier.contains(&from.get_ref().as_str()) {
                    let known = raw.iter().any(|x| x.name.get_ref() == from.get_ref());
                    let what = if known {
                        "must name an earlier environment (environments are ordered as written)"
                    } else {
                        "unknown environment"
                    };
                    let hint = if earlier.is_empty() {
                        "the first environment cannot require a promotion; remove this key"
                            .to_string()
                    } else {
                        format!(
                            "name one of the environments above this one: {}",
                            earlier.join(", ")
                        )
                    };
                    self.fail(
                        from.span(),
                        &format!("{key}.require_promotion_from"),
                        quote(from.get_ref()),
                        problem(what, hint),
                    );
                }
            }
            out.push(Environment {
                name: e.name.get_ref().clone(),
                env,
                confirm: e.confirm.unwrap_or(false),
                readonly: e.readonly.unwrap_or(false),
                accent: e.accent.as_ref().map(|a| a.get_ref().clone()),
                require_promotion_from: e
                    .require_promotion_from
                    .as_ref()
                    .map(|r| r.get_ref().clone()),
            });
        }
        out
    }

    pub(super) fn hosts(&mut self, raw: &[Spanned<Table<RawHost>>]) -> Vec<Host> {
        self.unique("host", "hosts", raw.iter().map(|h| &h.get_ref().name));
        raw.iter()
            .enumerate()
            .map(|(i, h)| self.host(i, h))
            .collect()
    }

    fn host(&mut self, i: usize, spanned: &Spanned<Table<RawHost>>) -> Host {
        let h: &RawHost = spanned.get_ref();
        let key = format!("hosts[{i}]");
        self.name(&h.name, &format!("{key}.name"));
        for (j, l) in h.labels.iter().enumerate() {
            self.name(l, &format!("{key}.labels[{j}]"));
        }
        let mut endpoint = match (&h.endpoint, &h.context) {
            (Some(e), None) => self.endpoint(e, h.tls.as_deref(), &key),
            (None, Some(c)) => self.context(c, h.tls.is_some(), &key),
            (Some(e), Some(c)) => {
                self.fail(
                    c.span(),
                    &format!("{key}.context"),
                    quote(c.get_ref()),
                    problem(
                        format!(
                            "both `endpoint` ({}) and `context` are set; a host takes exactly one",
                            quote(e.get_ref())
                        ),
                        "keep `endpoint = \"…\"` (the engine's address) or `context = \"NAME\"` (a Docker CLI context, see `docker context ls`), and remove the other",
                    ),
                );
                placeholder()
            }
            (None, None) => {
                self.fail(
                    spanned.span(),
                    &format!("{key}.endpoint"),
                    MISSING.to_string(),
                    problem(
                        "required key is missing",
                        format!("add `endpoint = …` (unix://, tcp:// or ssh://) or `context = \"NAME\"` (a Docker CLI context) to {key} (see config/example.toml)"),
                    ),
                );
                placeholder()
            }
        };
        if let (Some(raw), Some(at)) = (&h.ssh, h.endpoint.as_ref().or(h.context.as_ref())) {
            self.ssh_options(&mut endpoint, raw, at, &key);
        }
        if let Some(a) = &h.address {
            let v = a.get_ref();
            if v.is_empty()
                || v.contains("://")
                || v.contains(char::is_whitespace)
                || v.contains('/')
            {
                self.fail(
                    a.span(),
                    &format!("{key}.address"),
                    quote(v),
                    problem(
                        "not a host name or IP address".to_string(),
                        "write the address where this host's services listen, e.g. \"10.0.0.5\" or \"web-01.internal\"",
                    ),
                );
            }
        }
        Host {
            name: h.name.get_ref().clone(),
            endpoint,
            labels: h.labels.iter().map(|l| l.get_ref().clone()).collect(),
            address: h.address.as_ref().map(|a| a.get_ref().clone()),
        }
    }

    /// `endpoint = "…"`, with the host's `tls` table when it has one.
    fn endpoint(&mut self, e: &Str, raw_tls: Option<&RawTls>, key: &str) -> Endpoint {
        let ekey = format!("{key}.endpoint");
        let mut endpoint = match parse_endpoint(e.get_ref()) {
            Ok(parsed) => parsed,
            Err(p) => {
                self.fail(e.span(), &ekey, quote(e.get_ref()), p);
                return placeholder();
            }
        };
        match (&mut endpoint, raw_tls) {
            (Endpoint::Tcp { tls, .. }, Some(raw_tls)) => {
                *tls = Some(TlsFiles {
                    ca: self.tls_file(&raw_tls.ca, &format!("{key}.tls.ca")),
                    cert: self.tls_file(&raw_tls.cert, &format!("{key}.tls.cert")),
                    key: self.tls_file(&raw_tls.key, &format!("{key}.tls.key")),
                });
            }
            (other, Some(_)) => {
                let scheme = match other {
                    Endpoint::Unix { .. } => "unix",
                    _ => "ssh",
                };
                self.fail(
                    e.span(),
                    &ekey,
                    quote(e.get_ref()),
                    problem(
                        format!("tls is set, but TLS client certificates only apply to tcp:// endpoints, not {scheme}://"),
                        "remove `tls` from this host, or use a tcp://HOST:PORT endpoint (usually port 2376)",
                    ),
                );
            }
            (_, None) => {}
        }
        endpoint
    }

    /// `context = "NAME"`: the endpoint and TLS files of a Docker CLI context.
    fn context(&mut self, c: &Str, has_tls: bool, key: &str) -> Endpoint {
        let ckey = format!("{key}.context");
        let docker = DockerEnv::from_env();
        if has_tls {
            self.fail(
                c.span(),
                &ckey,
                quote(c.get_ref()),
                problem(
                    format!(
                        "tls is set, but a context brings its own TLS material ({})",
                        docker.tls_dir(c.get_ref()).display()
                    ),
                    "remove `tls` from this host (the context's ca.pem, cert.pem and key.pem are used), or write `endpoint` with `tls` instead of `context`",
                ),
            );
        }
        match docker.resolve(c.get_ref()) {
            Ok(endpoint) => endpoint,
            Err(e) => {
                self.fail(
                    c.span(),
                    &ckey,
                    quote(c.get_ref()),
                    problem(
                        e.problem,
                        format!("{}; or give the host an `endpoint` instead", e.hint),
                    ),
                );
                placeholder()
            }
        }
    }

    fn tls_file(&mut self, s: &Str, key: &str) -> PathBuf {
        let path = self.resolve_path(s.get_ref());
        let r = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(format!("TLS file {} is not a regular file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("TLS file not found: {}", path.display()))
            }
            Err(e) => Err(format!("cannot read TLS file {}: {e}", path.display())),
        };
        if let Err(p) = r {
            let hint = format!(
                "relative paths start at the config file's directory ({}); put the file there or fix the path",
                display_dir(self.base)
            );
            self.fail(s.span(), key, quote(s.get_ref()), problem(p, hint));
        }
        path
    }

    pub(super) fn registries(&mut self, raw: &[Table<RawRegistry>]) -> Vec<Registry> {
        self.unique("registry", "registries", raw.iter().map(|r| &r.name));
        let mut out = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            let key = format!("registries[{i}]");
            self.name(&r.name, &format!("{key}.name"));
            // A login inside the URL would be shown wherever the URL is: refuse
            // it without echoing the value.
            // Anywhere before the path: with or without a (mistyped) scheme.
            let url = r.url.get_ref();
            let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
            if rest.split('/').next().unwrap_or("").contains('@') || url.contains('@') {
                self.fail(
                    r.url.span(),
                    &format!("{key}.url"),
                    crate::config::error::HIDDEN.to_string(),
                    problem(
                        "the URL carries a user name or password",
                        "remove \"user:password@\" from the URL; set `username` and `password = \"env:…\"` or \"file:…\" instead",
                    ),
                );
            } else {
                self.check(
                    &r.url,
                    &format!("{key}.url"),
                    check_registry_url(r.url.get_ref()),
                );
            }
            if let Some(u) = &r.username {
                let ok = if u.get_ref().trim().is_empty() {
                    Err(problem(
                        "empty username",
                        "remove the key or give the user name",
                    ))
                } else {
                    Ok(())
                };
                self.check(u, &format!("{key}.username"), ok);
            }
            let password = r
                .password
                .as_ref()
                .and_then(|p| self.secret(p, &format!("{key}.password")));
            out.push(Registry {
                name: r.name.get_ref().clone(),
                url: r.url.get_ref().trim_end_matches('/').to_string(),
                username: r.username.as_ref().map(|u| u.get_ref().clone()),
                password,
            });
        }
        out
    }
}

impl Validator<'_> {
    /// `ssh = { key, known_hosts, socket }`: only for an `ssh://` endpoint;
    /// the files must exist, the socket be an absolute path.
    fn ssh_options(&mut self, endpoint: &mut Endpoint, raw: &RawSsh, at: &Str, key: &str) {
        let Endpoint::Ssh { ssh, .. } = endpoint else {
            self.fail(
                at.span(),
                &format!("{key}.endpoint"),
                quote(at.get_ref()),
                problem(
                    "ssh is set, but SSH options only apply to ssh:// endpoints",
                    "remove `ssh` from this host, or use an ssh://USER@HOST endpoint",
                ),
            );
            return;
        };
        let mut file = |v: &Option<Str>, what: &str, hint: &str| {
            let s = v.as_ref()?;
            let path = self.resolve_path(s.get_ref());
            if !path.is_file() {
                self.fail(
                    s.span(),
                    &format!("{key}.ssh.{what}"),
                    quote(s.get_ref()),
                    problem(format!("no such file: {}", path.display()), hint),
                );
            }
            Some(path)
        };
        ssh.key = file(
            &raw.key,
            "key",
            "give the private key shipdeck logs in with (relative paths start at the config file's directory), or leave `key` out to use ssh's own (the agent, ~/.ssh/config)",
        );
        ssh.known_hosts = file(
            &raw.known_hosts,
            "known_hosts",
            "give a known_hosts file that holds this host's key (ssh-keyscan HOST prints it; check its fingerprint first), or leave it out for ~/.ssh/known_hosts",
        );
        if let Some(s) = &raw.socket {
            if !s.get_ref().starts_with('/') || s.get_ref().contains(char::is_whitespace) {
                self.fail(
                    s.span(),
                    &format!("{key}.ssh.socket"),
                    quote(s.get_ref()),
                    problem(
                        "not an absolute path",
                        "write where the engine's unix socket is on that host, e.g. \"/var/run/docker.sock\" (the default)",
                    ),
                );
            }
            ssh.socket = Some(s.get_ref().clone());
        }
    }
}

/// The endpoint of a host whose endpoint was refused: the config is rejected anyway.
fn placeholder() -> Endpoint {
    Endpoint::Tcp {
        addr: String::new(),
        tls: None,
    }
}
