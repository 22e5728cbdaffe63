//! Fixtures for the tests of `update()` and of the views that need no
//! engine: a pinned clock, a small inventory, containers and releases.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use shipdeck::app::State;
use shipdeck::domain::{AppContainer, ContainerState, Health, Role};
use shipdeck::rollout::journal::{Action as ReleaseAction, Outcome, ReleaseSummary};

/// Three environments (`staging` read-only, `prod` wants its name typed),
/// three hosts, project `alpha` in every environment.
pub const INVENTORY: &str = r#"
[[environments]]
name = "dev"
[[environments]]
name = "staging"
readonly = true
[[environments]]
name = "prod"
confirm = true

[[hosts]]
name = "a1"
endpoint = "tcp://10.0.0.1:2375"
[[hosts]]
name = "a2"
endpoint = "tcp://10.0.0.2:2375"
[[hosts]]
name = "b1"
endpoint = "tcp://10.0.0.3:2375"

[[projects]]
name = "alpha"
image = "r.example.com/alpha"
[projects.hosts]
dev = ["a1"]
staging = ["a2"]
prod = ["a1", "a2", "b1"]
"#;

/// The tests' clock: 2026-11-21 12:00:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

/// A console on the inventory `toml`, at [`now`], with no fleet yet.
pub fn state(toml: &str, readonly: bool) -> State {
    let config = shipdeck::config::load_str(toml, Path::new("fixture.toml")).expect("config");
    let mut s = State::new(Arc::new(config), now());
    s.readonly = readonly;
    s
}

/// A container of `project` `version` in `env`: running and healthy when it
/// serves, exited otherwise, started 10 minutes ago.
pub fn container(project: &str, env: &str, version: &str, role: Role) -> AppContainer {
    AppContainer {
        id: format!("{project}-{env}-{version}"),
        name: format!("{project}.{env}.{version}"),
        project: project.into(),
        env: env.into(),
        version: version.into(),
        release: Some("r-1".into()),
        digest: Some(format!("sha256:{}", version.repeat(8))),
        image: format!("r.example.com/{project}:{version}"),
        role,
        restart_policy: "always".into(),
        restart_original: Some("always".into()),
        deployed_by: Some("ops@laptop".into()),
        deployed_at: Some("2026-11-20T10:00:00Z".into()),
        state: if role == Role::Serving {
            ContainerState::Running
        } else {
            ContainerState::Exited
        },
        health: Health::Healthy,
        started_at: Some(now() - chrono::Duration::seconds(600)),
        restarts: 0,
        exit_code: None,
    }
}

/// A deploy of `version` from v1 to `env`'s one host, an hour ago, that
/// took 100 s and ended with `outcome`.
pub fn summary(
    project: &str,
    env: &str,
    version: &str,
    outcome: Option<Outcome>,
) -> ReleaseSummary {
    ReleaseSummary {
        release: format!("r-{env}-{version}"),
        project: project.into(),
        env: env.into(),
        action: ReleaseAction::Deploy,
        version: version.into(),
        digest: None,
        from_versions: vec!["v1".into()],
        user: "ops@laptop".into(),
        started_at: now() - chrono::Duration::seconds(3600),
        finished_at: Some(now() - chrono::Duration::seconds(3500)),
        result: outcome,
        duration_secs: Some(100.0),
        hosts: 1,
        message: String::new(),
        note: String::new(),
        promoted_from: None,
        resumes: None,
        rolled_back: false,
        needs_operator: Vec::new(),
    }
}
