//! From the file as written (`raw`) to the validated [`Config`]: every check
//! that needs meaning (names, references between sections, endpoints, secrets,
//! ranges). All problems are collected; the earliest in the file is returned.
//! Reads the file system only to check that TLS and secret files are readable.
//!
//! This file holds the shared checks; `sections` validates settings,
//! environments, hosts and registries, `project` the projects.

mod hooks;
mod project;
mod sections;

use std::collections::{BTreeMap, HashMap};
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::error::{ConfigError, HIDDEN, Located, quote};
use super::model::*;
use super::raw::*;
use super::values::{self, Problem, problem, suggest};

/// Env vars shipdeck sets itself on every container.
const RESERVED_ENV: &[&str] = &["ENVT", "PROJ"];

pub(crate) fn validate(
    raw: RawConfig,
    at: &Located<'_>,
    base: &Path,
) -> Result<Config, ConfigError> {
    let mut v = Validator {
        at,
        base,
        errors: Vec::new(),
    };
    let config = v.config(raw);
    match v.errors.into_iter().min_by_key(|e| (e.line, e.column)) {
        Some(e) => Err(e),
        None => Ok(config),
    }
}

struct Validator<'a> {
    at: &'a Located<'a>,
    base: &'a Path,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    fn fail(&mut self, span: Range<usize>, key: &str, value: String, p: Problem) {
        let e = self.at.error(span, key, value, p.problem, p.hint);
        self.errors.push(e);
    }

    /// Reports `r`'s problem against a string value; true when it was fine.
    fn check(&mut self, s: &Str, key: &str, r: Result<(), Problem>) -> bool {
        match r {
            Ok(()) => true,
            Err(p) => {
                self.fail(s.span(), key, quote(s.get_ref()), p);
                false
            }
        }
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        super::error::line_col(self.at.src, span.start).0
    }

    fn name(&mut self, s: &Str, key: &str) {
        self.check(s, key, values::check_name(s.get_ref()));
    }

    /// A project or environment name (part of container names).
    fn ident(&mut self, s: &Str, key: &str) {
        self.check(s, key, values::check_ident(s.get_ref()));
    }

    /// Flags every name that repeats an earlier one, pointing at the repeat.
    fn unique<'n>(&mut self, what: &str, section: &str, names: impl IntoIterator<Item = &'n Str>) {
        let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
        for (i, n) in names.into_iter().enumerate() {
            if let Some(first) = seen.get(n.get_ref().as_str()) {
                let line = self.line_of(first);
                self.fail(
                    n.span(),
                    &format!("{section}[{i}].name"),
                    quote(n.get_ref()),
                    problem(
                        format!("duplicate {what} name: already defined on line {line}"),
                        format!("{what} names must be unique; rename or remove one of the two"),
                    ),
                );
            } else {
                seen.insert(n.get_ref(), n.span());
            }
        }
    }

    fn int_in(
        &mut self,
        v: &Option<Int>,
        key: &str,
        range: RangeInclusive<i64>,
        default: i64,
        unit: &str,
    ) -> i64 {
        let Some(n) = v else { return default };
        if range.contains(n.get_ref()) {
            return *n.get_ref();
        }
        let value = self.at.quoted_src(n.span());
        self.fail(
            n.span(),
            key,
            value,
            problem(
                format!(
                    "{} is out of range {}..={}",
                    n.get_ref(),
                    range.start(),
                    range.end()
                ),
                format!(
                    "write a whole number of {unit} from {} to {}",
                    range.start(),
                    range.end()
                ),
            ),
        );
        default
    }

    fn one_of(
        &mut self,
        v: &Option<Str>,
        key: &str,
        allowed: &[&'static str],
        default: &'static str,
    ) -> &'static str {
        let Some(s) = v else { return default };
        if let Some(a) = allowed.iter().find(|a| **a == s.get_ref()) {
            return a;
        }
        let mut hint = format!(
            "use one of: {}",
            allowed
                .iter()
                .map(|a| quote(a))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(m) = suggest(s.get_ref(), allowed.iter().copied()) {
            hint = format!("did you mean {}? {hint}", quote(m));
        }
        self.fail(
            s.span(),
            key,
            quote(s.get_ref()),
            problem("not an allowed value", hint),
        );
        default
    }

    /// A duration in milliseconds within `bounds` (both ends inclusive).
    /// Every duration key has an upper bound: a value past it is a typo
    /// ("10h" for "10s") or a wait nobody would sit through.
    fn duration_ms(
        &mut self,
        v: &Option<Spanned<DurationText>>,
        key: &str,
        default_ms: u64,
        bounds: RangeInclusive<u64>,
    ) -> u64 {
        let Some(d) = v else { return default_ms };
        let text = &d.get_ref().0;
        let shown = |ms: u64| match ms {
            0 => "0s".to_string(),
            ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
            ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
            ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
            ms => humantime::format_duration(std::time::Duration::from_millis(ms)).to_string(),
        };
        let r = values::parse_duration(text).and_then(|dur| {
            let ms = u64::try_from(dur.as_millis()).unwrap_or(u64::MAX);
            if ms < *bounds.start() {
                Err(problem(
                    format!("must be at least {}", shown(*bounds.start())),
                    format!(
                        "write a longer duration, from {} to {}",
                        shown(*bounds.start()),
                        shown(*bounds.end())
                    ),
                ))
            } else if ms > *bounds.end() {
                Err(problem(
                    format!(
                        "{} is more than the maximum, {}",
                        shown(ms),
                        shown(*bounds.end())
                    ),
                    format!(
                        "write a shorter duration, from {} to {}",
                        shown(*bounds.start()),
                        shown(*bounds.end())
                    ),
                ))
            } else {
                Ok(ms)
            }
        });
        match r {
            Ok(ms) => ms,
            Err(p) => {
                self.fail(d.span(), key, quote(text), p);
                default_ms
            }
        }
    }

    /// A path from the file, relative to the config file's directory; `~/` is the home dir.
    fn resolve_path(&self, p: &str) -> PathBuf {
        if let (Some(rest), Some(home)) = (p.strip_prefix("~/"), dirs::home_dir()) {
            return home.join(rest);
        }
        self.base.join(p)
    }

    /// A secret reference that resolves; literals are rejected without echoing them.
    fn secret(&mut self, s: &Str, key: &str) -> Option<SecretRef> {
        let Some(r) = SecretRef::parse(s.get_ref()) else {
            self.fail(
                s.span(),
                key,
                HIDDEN.to_string(),
                problem(
                    "a literal secret is not allowed in the config",
                    "keep the secret outside the file and reference it: \"env:VAR_NAME\" or \"file:path/to/secret\"",
                ),
            );
            return None;
        };
        let r = match r {
            SecretRef::File(p) => SecretRef::File(self.resolve_path(&p.to_string_lossy())),
            env => env,
        };
        if let Err(e) = r.resolve() {
            let hint = match &r {
                SecretRef::Env(name) => format!(
                    "export {name} (non-empty) before starting shipdeck, or use a \"file:PATH\" reference"
                ),
                SecretRef::File(_) => format!(
                    "create the file (relative paths start at {}) or fix the reference",
                    display_dir(self.base)
                ),
            };
            self.fail(
                s.span(),
                key,
                quote(s.get_ref()),
                problem(
                    format!("missing secret {}: {}", e.reference(), e.reason()),
                    hint,
                ),
            );
        }
        Some(r)
    }

    fn env_map(&mut self, m: &StrMap, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, val) in m {
            let kkey = format!("{key}.{}", super::error::render_key(k.get_ref()));
            self.env_name(k, &kkey);
            out.insert(k.get_ref().clone(), val.get_ref().clone());
        }
        out
    }

    fn env_name(&mut self, k: &Str, key: &str) {
        let name = k.get_ref().as_str();
        if !values::is_env_var_name(name) {
            self.fail(
                k.span(),
                key,
                quote(name),
                problem(
                    "not a valid environment variable name",
                    "use letters, digits and '_', not starting with a digit, e.g. LOG_LEVEL",
                ),
            );
        } else if RESERVED_ENV.contains(&name) {
            self.fail(
                k.span(),
                key,
                quote(name),
                problem(
                    format!("{name} is set by shipdeck on every container"),
                    "remove it: ENVT is the environment's name and PROJ the project's",
                ),
            );
        }
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let settings = self.settings(raw.settings);
        let environments = self.environments(raw.environments);
        let hosts = self.hosts(&raw.hosts);
        let registries = self.registries(&raw.registries);
        let projects = raw
            .projects
            .iter()
            .enumerate()
            .map(|(i, p)| {
                self.project(
                    i,
                    p,
                    &environments,
                    &raw.hosts,
                    &registries,
                    &settings.templates,
                )
            })
            .collect();
        self.unique("project", "projects", raw.projects.iter().map(|p| &p.name));
        let keys = self.keys(raw.keys);
        Config {
            path: self.at.file.to_path_buf(),
            settings,
            environments,
            hosts,
            projects,
            registries,
            keys,
        }
    }
}

fn display_dir(base: &Path) -> String {
    if base.as_os_str().is_empty() {
        ".".to_string()
    } else {
        base.display().to_string()
    }
}
