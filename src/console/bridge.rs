//! Engine, executor and build reports become `Action`s on the console's one
//! bounded channel, tagged with what they belong to.

use tokio::sync::mpsc;

use crate::app::Action;
use crate::domain::FleetUpdate;
use crate::image::BuildEvent;
use crate::rollout::events::RolloutEvent;

/// Capacity of the console's action channel.
pub const ACTIONS: usize = 1024;

/// Forward the fleet watchers' updates until either side closes.
pub async fn fleet(mut rx: mpsc::Receiver<FleetUpdate>, tx: mpsc::Sender<Action>) {
    while let Some(u) = rx.recv().await {
        if tx.send(Action::Fleet(u)).await.is_err() {
            return;
        }
    }
}

/// Forward a rollout's events, tagged with its environment.
pub async fn rollout(
    mut rx: mpsc::UnboundedReceiver<RolloutEvent>,
    tx: mpsc::Sender<Action>,
    project: String,
    env: String,
) {
    while let Some(event) = rx.recv().await {
        let a = Action::Rollout {
            project: project.clone(),
            env: env.clone(),
            event,
        };
        if tx.send(a).await.is_err() {
            return;
        }
    }
}

/// Forward a build's events, tagged with its project.
pub async fn build(
    mut rx: mpsc::UnboundedReceiver<BuildEvent>,
    tx: mpsc::Sender<Action>,
    project: String,
) {
    while let Some(event) = rx.recv().await {
        let a = Action::Build {
            project: project.clone(),
            event,
        };
        if tx.send(a).await.is_err() {
            return;
        }
    }
}
