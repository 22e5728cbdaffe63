//! Container names on the fleet, one scheme for every place that makes or
//! reads them. Labels cannot change after a container is created, so a
//! container's role (serving, kept, retired) is told by its name; everything
//! else (version, digest, release) comes from its labels. Names are made from
//! the project and environment the caller already has, never split apart
//! again. No bollard, no ratatui.
//!
//! The scheme relies on project and environment names containing no `.`
//! (checked at config load, see `config::values::check_ident`):
//!
//! - serving: `{project}.{env}` (exactly one dot)
//! - kept: `{project}.{env}.{version}.{id12}` (a release that served, stopped)
//! - retired: `{project}.{env}.{version}.{id12}.rolled-back` (a release that
//!   failed or was rolled back; never preferred by rollback or pruning)
//! - lock object: `shipdeck-lock.{project}.{env}`
//! - release ledger: `shipdeck-ledger.{project}.{env}`
//!
//! Two different (project, env) pairs can never share a serving name (the
//! dot cannot be part of either), and kept names embed the container's own
//! id, so no two containers can want the same kept name.

use serde::Serialize;

/// Suffix of a retired container's name.
const RETIRED_SUFFIX: &str = ".rolled-back";

/// What a shipdeck container is to its project/environment on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Named `{project}.{env}` (or, for a container not named by this
    /// scheme, running): the one that serves.
    Serving,
    /// A stopped earlier release that served: a rollback target.
    Kept,
    /// A release that failed or was rolled back: kept for its logs only.
    Retired,
}

impl Role {
    /// One word for tables and JSON.
    pub fn word(self) -> &'static str {
        match self {
            Role::Serving => "serving",
            Role::Kept => "kept",
            Role::Retired => "retired",
        }
    }
}

/// The serving container's name.
pub fn serving(project: &str, env: &str) -> String {
    format!("{project}.{env}")
}

/// The first 12 characters of a container id (never panics on odd input).
pub fn id12(id: &str) -> String {
    id.chars().take(12).collect()
}

/// A version as it may appear inside a container name.
fn name_part(version: &str) -> String {
    let v: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if v.is_empty() { "unknown".into() } else { v }
}

/// The name a container gets when it is kept as a rollback target.
pub fn kept(project: &str, env: &str, version: &str, id: &str) -> String {
    format!(
        "{}.{}.{}",
        serving(project, env),
        name_part(version),
        id12(id)
    )
}

/// The name a container of a failed or rolled-back release gets.
pub fn retired(project: &str, env: &str, version: &str, id: &str) -> String {
    format!("{}{RETIRED_SUFFIX}", kept(project, env, version, id))
}

/// The fleet lock object's name.
pub fn lock(project: &str, env: &str) -> String {
    format!("shipdeck-lock.{project}.{env}")
}

/// The release ledger object's name.
pub fn ledger(project: &str, env: &str) -> String {
    format!("shipdeck-ledger.{project}.{env}")
}

/// The role of container `name` (already without Docker's leading `/`) of
/// `project`/`env`. A name outside this scheme (an older shipdeck, a
/// container started by hand with shipdeck's labels) serves while it runs.
pub fn role(name: &str, project: &str, env: &str, running: bool) -> Role {
    let base = serving(project, env);
    if name == base {
        return Role::Serving;
    }
    match name.strip_prefix(&base).and_then(|r| r.strip_prefix('.')) {
        Some(rest) if rest.ends_with(RETIRED_SUFFIX) => Role::Retired,
        Some(_) => Role::Kept,
        None if running => Role::Serving,
        None => Role::Kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_names() {
        let id = "0123456789abcdef0123";
        assert_eq!(role(&serving("a", "b"), "a", "b", false), Role::Serving);
        assert_eq!(
            role(&kept("a", "b", "v1.2", id), "a", "b", false),
            Role::Kept
        );
        assert_eq!(
            role(&retired("a", "b", "v1.2", id), "a", "b", false),
            Role::Retired
        );
        // A version that looks like the suffix's start is still kept.
        assert_eq!(
            role(&kept("a", "b", "rolled-back", id), "a", "b", false),
            Role::Kept
        );
        assert_eq!(role("a-b", "a", "b", true), Role::Serving);
        assert_eq!(role("a-b.v1.0123", "a", "b", false), Role::Kept);
        assert_eq!(kept("a", "b", "v1", id), "a.b.v1.0123456789ab");
    }

    #[test]
    fn no_two_pairs_share_a_serving_name() {
        // With `-` in names, `a-b` + `c` and `a` + `b-c` used to collide.
        assert_ne!(serving("a-b", "c"), serving("a", "b-c"));
        // And a kept name is never another pair's serving name.
        let k = kept("a", "b", "c", "x");
        assert_ne!(k.matches('.').count(), 1);
    }

    #[test]
    fn odd_ids_do_not_panic() {
        assert_eq!(id12("é"), "é");
        assert_eq!(id12(""), "");
        assert_eq!(
            kept("a", "b", "", "ü12345678901234"),
            "a.b.unknown.ü12345678901"
        );
    }
}
