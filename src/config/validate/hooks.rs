//! `[[projects.hooks]]`: when (`on`), what (`url` or `command`), for how
//! long, where (`envs`). Secret header values are references, checked to
//! resolve like `secret_env`; a URL never carries a password.

use std::collections::BTreeMap;

use super::Validator;
use crate::config::error::{quote, render_key};
use crate::config::model::*;
use crate::config::raw::*;
use crate::config::values::{list, problem};

/// Upper bound of a hook's `timeout`: 10 minutes.
const MAX_HOOK_TIMEOUT_MS: u64 = 10 * 60 * 1000;

impl Validator<'_> {
    pub(super) fn hooks(
        &mut self,
        raw: &[Table<RawHook>],
        key: &str,
        envs: &[Environment],
    ) -> Vec<Hook> {
        raw.iter()
            .enumerate()
            .filter_map(|(i, h)| self.hook(h, &format!("{key}[{i}]"), envs))
            .collect()
    }

    fn hook(&mut self, h: &RawHook, key: &str, envs: &[Environment]) -> Option<Hook> {
        let words: Vec<&'static str> = HookPoint::ALL.iter().map(|p| p.word()).collect();
        let on_word = self.one_of(&Some(h.on.clone()), &format!("{key}.on"), &words, "");
        let on = HookPoint::ALL.iter().copied().find(|p| p.word() == on_word);
        let run = match (&h.url, &h.command) {
            (Some(url), None) => self.webhook(h, url, key),
            (None, Some(argv)) => {
                if !h.headers.is_empty() || !h.secret_headers.is_empty() {
                    let (k, _) = h.headers.iter().chain(&h.secret_headers).next()?;
                    self.fail(
                        k.span(),
                        &format!("{key}.headers"),
                        quote(k.get_ref()),
                        problem(
                            "headers belong to a webhook, and this hook runs a command",
                            "remove `headers` / `secret_headers`, or give `url` instead of `command`",
                        ),
                    );
                }
                let args = argv.get_ref();
                if args.first().is_none_or(|a| a.trim().is_empty()) {
                    self.fail(
                        argv.span(),
                        &format!("{key}.command"),
                        self.at.quoted_src(argv.span()),
                        problem(
                            "no program to run",
                            "write the program and its arguments as a list, e.g. command = [\"/usr/local/bin/drain\", \"--from-lb\"] (no shell)",
                        ),
                    );
                    None
                } else {
                    Some(HookRun::Command { argv: args.clone() })
                }
            }
            (Some(url), Some(_)) => {
                self.fail(
                    url.span(),
                    &format!("{key}.url"),
                    quote(url.get_ref()),
                    problem(
                        "a hook is either a webhook or a command, and this one has both `url` and `command`",
                        "keep one: split it into two [[projects.hooks]] entries",
                    ),
                );
                None
            }
            (None, None) => {
                self.fail(
                    h.on.span(),
                    &format!("{key}.on"),
                    quote(h.on.get_ref()),
                    problem(
                        "this hook has neither `url` nor `command`",
                        "add url = \"https://…\" (a JSON POST) or command = [\"/path/to/program\", \"arg\"]",
                    ),
                );
                None
            }
        };
        let timeout_ms = self.duration_ms(
            &h.timeout,
            &format!("{key}.timeout"),
            Hook::DEFAULT_TIMEOUT_MS,
            100..=MAX_HOOK_TIMEOUT_MS,
        );
        let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        let mut hook_envs = Vec::new();
        for (j, e) in h.envs.iter().enumerate() {
            if names.contains(&e.get_ref().as_str()) {
                hook_envs.push(e.get_ref().clone());
            } else {
                self.fail(
                    e.span(),
                    &format!("{key}.envs[{j}]"),
                    quote(e.get_ref()),
                    problem(
                        "unknown environment",
                        format!("known environments: {}", list(&names, 10)),
                    ),
                );
            }
        }
        Some(Hook {
            on: on?,
            run: run?,
            timeout_ms,
            required: h.required.unwrap_or(false),
            envs: hook_envs,
        })
    }

    fn webhook(&mut self, h: &RawHook, url: &Str, key: &str) -> Option<HookRun> {
        let ukey = format!("{key}.url");
        let parsed = match reqwest::Url::parse(url.get_ref()) {
            Ok(u) => u,
            Err(e) => {
                self.fail(
                    url.span(),
                    &ukey,
                    quote(url.get_ref()),
                    problem(
                        format!("not a URL ({e})"),
                        "write a full URL, e.g. \"https://hooks.example.com/deploy\"",
                    ),
                );
                return None;
            }
        };
        if !matches!(parsed.scheme(), "http" | "https") {
            self.fail(
                url.span(),
                &ukey,
                quote(url.get_ref()),
                problem(
                    format!(
                        "the scheme {:?} is not one a webhook can use",
                        parsed.scheme()
                    ),
                    "use an http:// or https:// URL",
                ),
            );
            return None;
        }
        if parsed.password().is_some() {
            self.fail(
                url.span(),
                &ukey,
                crate::config::error::HIDDEN.to_string(),
                problem(
                    "the URL holds a password, a literal secret in the config",
                    "remove it from the URL and send it as a header from a reference: secret_headers = { Authorization = \"file:path/to/token\" }",
                ),
            );
            return None;
        }
        let mut headers = BTreeMap::new();
        for (k, v) in &h.headers {
            let hkey = format!("{key}.headers.{}", render_key(k.get_ref()));
            if self.header_name(k, &hkey)
                && reqwest::header::HeaderValue::from_str(v.get_ref()).is_err()
            {
                self.fail(
                    v.span(),
                    &hkey,
                    quote(v.get_ref()),
                    problem(
                        "not a valid HTTP header value",
                        "use visible ASCII characters and spaces",
                    ),
                );
            }
            headers.insert(k.get_ref().clone(), v.get_ref().clone());
        }
        let mut secret_headers = BTreeMap::new();
        for (k, v) in &h.secret_headers {
            let hkey = format!("{key}.secret_headers.{}", render_key(k.get_ref()));
            self.header_name(k, &hkey);
            if h.headers
                .keys()
                .any(|p| p.get_ref().eq_ignore_ascii_case(k.get_ref()))
            {
                self.fail(
                    k.span(),
                    &hkey,
                    quote(k.get_ref()),
                    problem(
                        "also set in `headers`",
                        "set each header once: in `headers` for plain values, in `secret_headers` for secrets",
                    ),
                );
            }
            if let Some(r) = self.secret(v, &hkey) {
                secret_headers.insert(k.get_ref().clone(), r);
            }
        }
        Some(HookRun::Webhook {
            url: url.get_ref().clone(),
            headers,
            secret_headers,
        })
    }

    fn header_name(&mut self, k: &Str, key: &str) -> bool {
        if reqwest::header::HeaderName::from_bytes(k.get_ref().as_bytes()).is_ok() {
            return true;
        }
        self.fail(
            k.span(),
            key,
            quote(k.get_ref()),
            problem(
                "not a valid HTTP header name",
                "use letters, digits and '-', e.g. X-Deploy-Token",
            ),
        );
        false
    }
}
