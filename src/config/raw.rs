//! The file as written: serde structs that mirror the TOML one to one, every
//! value `Spanned` so the validator can point at it. Unknown keys are rejected
//! here (`deny_unknown_fields`); meaning is checked in `validate`.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use super::values::CountOrPercent;

pub(crate) type Str = Spanned<String>;
pub(crate) type Int = Spanned<i64>;
/// `KEY = "value"` maps (env vars, secret env vars, hosts per environment).
pub(crate) type StrMap = BTreeMap<Str, Str>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub settings: Option<Table<RawSettings>>,
    pub environments: Option<Spanned<Vec<Table<RawEnvironment>>>>,
    /// Spanned: a host without `endpoint` or `context` is pointed at by its `[[hosts]]` header.
    #[serde(default)]
    pub hosts: Vec<Spanned<Table<RawHost>>>,
    #[serde(default)]
    pub registries: Vec<Table<RawRegistry>>,
    #[serde(default)]
    pub projects: Vec<Table<RawProject>>,
    /// `[keys]`: command name → a key or a list of keys.
    pub keys: Option<BTreeMap<Str, Spanned<toml::Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSettings {
    pub theme: Option<Str>,
    pub docker_timeout_secs: Option<Int>,
    pub templates: Option<Str>,
    pub log_buffer: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnvironment {
    pub name: Str,
    #[serde(default)]
    pub env: StrMap,
    pub confirm: Option<bool>,
    pub readonly: Option<bool>,
    pub accent: Option<Str>,
    pub require_promotion_from: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHost {
    pub name: Str,
    /// Exactly one of `endpoint` and `context` (checked in `validate`).
    pub endpoint: Option<Str>,
    /// A Docker CLI context's name.
    pub context: Option<Str>,
    #[serde(default)]
    pub labels: Vec<Str>,
    pub tls: Option<Table<RawTls>>,
    pub ssh: Option<Table<RawSsh>>,
    pub address: Option<Str>,
}

/// `ssh = { key, known_hosts, socket }` of an `ssh://` host.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSsh {
    pub key: Option<Str>,
    pub known_hosts: Option<Str>,
    pub socket: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub ca: Str,
    pub cert: Str,
    pub key: Str,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegistry {
    pub name: Str,
    pub url: Str,
    pub username: Option<Str>,
    pub password: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProject {
    pub name: Str,
    pub image: Str,
    pub registry: Option<Str>,
    pub container: Option<Table<RawContainer>>,
    pub health: Option<Table<RawHealth>>,
    pub rollout: Option<Table<RawRollout>>,
    pub build: Option<Table<RawBuild>>,
    #[serde(default)]
    pub hosts: BTreeMap<Str, Spanned<Vec<Str>>>,
    #[serde(default)]
    pub hooks: Vec<Table<RawHook>>,
}

/// `[[projects.hooks]]`: a webhook (`url`) or a local command (`command`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHook {
    pub on: Str,
    pub url: Option<Str>,
    pub command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub headers: StrMap,
    #[serde(default)]
    pub secret_headers: StrMap,
    pub timeout: Option<Spanned<DurationText>>,
    pub required: Option<bool>,
    #[serde(default)]
    pub envs: Vec<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBuild {
    pub context: Str,
    pub host: Str,
    pub template: Option<Str>,
    pub dockerfile: Option<Str>,
    #[serde(default)]
    pub vars: StrMap,
    #[serde(default)]
    pub args: StrMap,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawContainer {
    pub command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub ports: Vec<Str>,
    pub network: Option<Str>,
    pub restart: Option<Str>,
    #[serde(default)]
    pub env: StrMap,
    #[serde(default)]
    pub secret_env: StrMap,
    #[serde(default)]
    pub volumes: Vec<Str>,
    pub image_healthcheck: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    pub http: Option<Str>,
    pub port: Option<Int>,
    pub tcp: Option<bool>,
    pub docker: Option<bool>,
    pub interval: Option<Spanned<DurationText>>,
    pub timeout: Option<Spanned<DurationText>>,
    pub retries: Option<Int>,
    pub start_period: Option<Spanned<DurationText>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRollout {
    pub max_unavailable: Option<Spanned<CountOrPercent>>,
    pub failure_action: Option<Str>,
    pub max_failure_ratio: Option<Spanned<f64>>,
    pub pull_concurrency: Option<Int>,
    pub on_pull_failure: Option<Str>,
    pub keep_releases: Option<Int>,
    pub canary: Option<bool>,
    pub canary_wait: Option<Spanned<DurationText>>,
    pub pull_stall_timeout: Option<Spanned<DurationText>>,
    pub canary_timeout: Option<Spanned<DurationText>>,
}

/// A duration as written (`"500ms"`); a string type of its own so that a bare
/// number gets a message that says what to write.
#[derive(Debug)]
pub(crate) struct DurationText(pub String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"500ms\", \"2s\" or \"1m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for CountOrPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = CountOrPercent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of hosts (2) or a percentage string (\"25%\")")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<CountOrPercent, E> {
                Ok(CountOrPercent::Count(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<CountOrPercent, E> {
                Ok(CountOrPercent::Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CountOrPercent, E> {
                Ok(CountOrPercent::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A struct that must be written as a TOML table. serde's derived structs also
/// accept an array and fill the fields by position, so `[[projects.health]]`
/// (or `health = ["/health", 80]`) would be misread; this wrapper only takes a map.
#[derive(Debug)]
pub(crate) struct Table<T>(pub T);

impl<T> Deref for Table<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Table<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Table<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Table)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}
