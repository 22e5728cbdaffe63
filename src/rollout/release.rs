//! Starting a release the way every caller (headless CLI, console) must:
//! the promotion gates first (an environment with `require_promotion_from`
//! takes only what runs healthy before it, pinned to its digest), then the
//! executor. Keeps `promote` and the executor apart: neither imports the
//! other. Must not import ratatui or app/ui.

use thiserror::Error;

use super::executor::{Kind, Report, Request, RolloutError, Runner};
use super::promote::{self, PromoteError};

/// Why a release did not start (nothing was changed).
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Gate(#[from] PromoteError),
    #[error(transparent)]
    Rollout(#[from] RolloutError),
}

/// Apply the gates to `req`, then run it.
pub async fn start(runner: &Runner, req: Request) -> Result<Report, StartError> {
    let req = gate(runner, req).await?;
    Ok(runner.run(req).await?)
}

/// An environment with `require_promotion_from` takes only promoted
/// releases: a deploy gets the digest that runs healthy in the environment
/// before it (a resumed rollout's own pin is checked under the lock, against
/// what it resumes), and `rollback --to` only a version the environment ran,
/// pinned to its digest.
pub async fn gate(runner: &Runner, mut req: Request) -> Result<Request, PromoteError> {
    let config = &runner.config;
    match &mut req.kind {
        Kind::Deploy {
            version, digest, ..
        } => {
            let gate = promote::gate(config, &req.project, &req.env, version, &runner.http);
            if let Some(pin) = gate.await? {
                if let Some(d) = digest.as_ref().filter(|d| **d != pin) {
                    return Err(PromoteError::PinMismatch {
                        project: req.project.clone(),
                        env: req.env.clone(),
                        version: version.clone(),
                        resumed: d.clone(),
                        healthy: pin,
                    });
                }
                *digest = Some(pin);
            }
        }
        Kind::Rollback {
            to: Some(v),
            digest,
        } => {
            *digest = promote::check_rollback_target(config, &req.project, &req.env, v).await?;
        }
        Kind::Rollback { to: None, .. } | Kind::Resume => {}
    }
    Ok(req)
}
