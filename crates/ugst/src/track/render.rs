//! How a part of the goal appears in any tracker prompt: its category's words, its text, its
//! status before the turn and, for requirements and preferences, the text of their objective.

use serde_json::{json, Value};
use ugst_state::{GoalState, SubComponent};

/// One part with its objective's text looked up once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartView<'a> {
    pub c: &'a SubComponent,
    pub objective: Option<&'a str>,
}

impl<'a> PartView<'a> {
    pub fn new(state: &'a GoalState, c: &'a SubComponent) -> PartView<'a> {
        let objective = c
            .objective
            .as_ref()
            .and_then(|o| state.get(o))
            .map(|o| o.text.as_str());
        PartView { c, objective }
    }

    /// The category's words as prompts use them (`task objective`).
    pub fn label(&self) -> &'static str {
        self.c.category.label()
    }

    /// The part as the one-call-per-turn prompts list it: id, category, objective, status
    /// before the turn, text.
    pub fn json(&self) -> Value {
        json!({"id": self.c.id, "category": self.label(), "objective": self.objective,
               "status": self.c.status.as_str(), "text": self.c.text})
    }
}
