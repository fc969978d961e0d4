//! The steering note a simulator mode puts before the user's next turn: the goal again
//! (`goal`), or every sub-component with its status and reason (`goal-state`, `reasoning`).

use super::reasoning;
use crate::model::{SimMode, STOP};
use crate::prompts;
use minijinja::context;
use serde_json::{json, Value};
use ugst_state::GoalState;

/// The steering note for the next turn, if the mode uses one.
pub fn steering(mode: SimMode, goal: &str, state: &GoalState, turns_left: u32) -> Option<String> {
    match mode {
        SimMode::Prompt => None,
        SimMode::Goal => Some(prompts::render(
            "steer_goal",
            context! { goal => goal, turns_left => turns_left },
        )),
        SimMode::GoalState => Some(prompts::render(
            "steer_state",
            context! { components => steering_components(state), turns_left => turns_left, stop => STOP },
        )),
        SimMode::Reasoning => Some(prompts::render(
            "steer_reasoning",
            context! {
                components => steering_components(state), turns_left => turns_left, stop => STOP,
                open => reasoning::OPEN, close => reasoning::CLOSE,
            },
        )),
    }
}

/// Steering data for the `goal-state` simulator mode: every sub-component with status and reason.
pub fn steering_components(state: &GoalState) -> Vec<Value> {
    state
        .components
        .iter()
        .map(|c| {
            json!({"category_label": c.category.label(), "text": c.text,
                   "status": c.status.as_str(), "reason": c.reason})
        })
        .collect()
}
