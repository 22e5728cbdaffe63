//! The headless commands: the same engine as the console, printed as lines
//! or JSON. Policy (what needs a typed confirmation, a deploy's pre-checks)
//! comes from `rollout/`, summaries from `domain/`. Must not import `app/`,
//! `ui/` or `console/`.

pub mod build;
pub mod info;
pub mod logs;
pub mod registry;
pub mod rollout;
pub mod status;

pub use info::info;
pub use status::{EXIT_UNREACHABLE, status};
