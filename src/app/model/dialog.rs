//! The console's two dialogs: one confirmation for every destructive effect
//! (typed for protected environments), and one picker for versions.

use tui_input::Input;

use super::super::{Effect, View};

/// A destructive effect waiting for its confirmation. Only `Action::Confirmed`
/// releases `effect`, and only when `expected` (if any) was typed exactly.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub title: String,
    /// What will happen (a plan preview, the version a rollback goes to…).
    pub lines: Vec<String>,
    pub effect: Effect,
    /// The text to type (a protected environment's name).
    pub expected: Option<String>,
    pub input: Input,
    /// The view to open once confirmed (the rollout view).
    pub then_open: Option<View>,
    /// The last attempt's mismatch, shown under the field.
    pub error: Option<String>,
}

impl Confirm {
    pub fn new(
        title: String,
        lines: Vec<String>,
        effect: Effect,
        expected: Option<String>,
    ) -> Self {
        Self {
            title,
            lines,
            effect,
            expected,
            input: Input::default(),
            then_open: None,
            error: None,
        }
    }

    /// Whether the typed text (if any is wanted) matches.
    pub fn satisfied(&self) -> bool {
        match &self.expected {
            None => true,
            Some(e) => self.input.value().trim() == e,
        }
    }
}

/// What a picked version is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickPurpose {
    /// Deploy the picked (or typed) version to the environment.
    Deploy { project: String, env: String },
    /// Roll back to the picked kept version.
    Rollback { project: String, env: String },
    /// Build the project with the picked (typed) version; with `deploy_to`,
    /// deploy it there afterwards.
    Build {
        project: String,
        deploy_to: Option<String>,
    },
}

/// One choice in a picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickItem {
    pub value: String,
    /// Where it runs, when it was made, why it is the default…
    pub note: String,
}

/// A list of versions to choose from, with a field to type one instead
/// (where typing makes sense).
#[derive(Debug, Clone)]
pub struct Picker {
    pub title: String,
    pub purpose: PickPurpose,
    pub items: Vec<PickItem>,
    pub selected: usize,
    /// Typing filters the list; Enter on no match takes the typed text
    /// (deploy, build), never for a rollback.
    pub input: Input,
    pub typing_allowed: bool,
    /// Shown above the list (loading, an error, the default's reason).
    pub note: Option<String>,
}

impl Picker {
    pub fn new(title: String, purpose: PickPurpose, typing_allowed: bool) -> Self {
        Self {
            title,
            purpose,
            items: Vec::new(),
            selected: 0,
            input: Input::default(),
            typing_allowed,
            note: None,
        }
    }

    /// Items that match what was typed.
    pub fn visible(&self) -> Vec<&PickItem> {
        let f = self.input.value().to_lowercase();
        self.items
            .iter()
            .filter(|i| f.is_empty() || i.value.to_lowercase().contains(&f))
            .collect()
    }

    /// The version Enter takes now.
    pub fn choice(&self) -> Option<String> {
        let visible = self.visible();
        if let Some(i) = visible.get(self.selected.min(visible.len().saturating_sub(1))) {
            return Some(i.value.clone());
        }
        let typed = self.input.value().trim();
        (self.typing_allowed && !typed.is_empty()).then(|| typed.to_string())
    }
}
