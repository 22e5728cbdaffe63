//! The read-only policy of the console: which command is refused where,
//! and why. `--readonly` refuses every mutating command; an environment
//! with `readonly = true` refuses them in its views (and for its row in the
//! environments view). Hints, help and `update()` all ask here.

use super::Command;
use super::rows::row_names;
use super::state::{State, View};

impl State {
    /// Whether a mutating command is refused here, and why: `--readonly`,
    /// or the environment in view says `readonly = true`.
    pub fn refusal(&self, command: Command) -> Option<String> {
        if !command.mutates() {
            return None;
        }
        if self.readonly {
            return Some(format!(
                "read-only console (--readonly): {} is off",
                command.info().hint
            ));
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
