//! The read-only policy of the console: which command is refused where,
//! and why. `--readonly` (or no inventory) refuses every mutating command; an environment
//! with `readonly = true` refuses them in its views (and for its row in the
//! environments view). Hints, help and `update()` all ask here.

use super::Command;
use super::rows::row_names;
use super::state::{State, View};

impl State {
    /// What a read-only console says when it refuses `what`, and why it is
    /// read-only: `--readonly`, or no inventory (then how to write one).
    pub fn readonly_refusal(&self, what: &str) -> String {
        if self.no_inventory.is_some() {
            format!(
                "read-only console (no inventory): {what}; write ./shipdeck.toml to change the fleet (see config/example.toml)"
            )
        } else {
            format!("read-only console (--readonly): {what}")
        }
    }

    /// Whether a mutating command is refused here, and why: `--readonly`,
    /// or the environment in view says `readonly = true`.
    pub fn refusal(&self, command: Command) -> Option<String> {
        if !command.mutates() {
            return None;
        }
        if self.readonly {
            return Some(self.readonly_refusal(&format!("{} is off", command.info().hint)));
        }
        // The environment the command would act on: the selected row of the
        // environments view, else the environment of the views in the stack.
        let env = match &self.screen().view {
            View::Environments { .. } => row_names(self).get(self.screen().selected).cloned()?,
            _ => self
                .stack
                .iter()
                .rev()
                .find_map(|s| s.view.env())?
                .to_string(),
        };
        crate::rollout::checks::env_readonly(&self.config, &env).then(|| {
            format!(
                "environment {env} is read-only (readonly = true in the inventory): {} is off",
                command.info().hint
            )
        })
    }
}
