//! The labels shipdeck puts on every container it starts. The fleet is the
//! source of truth: these labels are all `status` and `rollback` need.
//! Labels cannot change after creation, so whether a container serves or is
//! kept is told by its name (see [`super::naming`]).

/// Project name.
pub const PROJECT: &str = "shipdeck.project";
/// Environment name.
pub const ENV: &str = "shipdeck.env";
/// Version (image tag) the container runs.
pub const VERSION: &str = "shipdeck.version";
/// Image digest (`sha256:…`) the container was created from.
pub const DIGEST: &str = "shipdeck.digest";
/// Release id of the rollout that created it.
pub const RELEASE: &str = "shipdeck.release";
/// `user@machine` of the operator.
pub const DEPLOYED_BY: &str = "shipdeck.deployed_by";
/// RFC 3339 time of the deploy.
pub const DEPLOYED_AT: &str = "shipdeck.deployed_at";
/// The restart policy the container was created with. Keeping a container
/// sets its policy to `no` (so a daemon restart does not bring it back); this
/// label says what to put back when it serves again.
pub const RESTART: &str = "shipdeck.restart";

/// The first 12 hex digits of a digest or image id (`sha256:0123…`), the
/// part people compare. Never panics on odd (non-ASCII) label values.
pub fn digest_hex12(d: &str) -> String {
    let hex = d.split_once(':').map(|(_, h)| h).unwrap_or(d);
    hex.chars().take(12).collect()
}
