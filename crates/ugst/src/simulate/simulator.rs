//! The user simulator: builds its prompt (goal in the system message, the conversation with roles
//! flipped, optional steering before the turn) and reads its answer, including the stop signal.

use crate::prompts::{self, STOP};
use crate::track::{steering_components, Exchange};
use minijinja::context;
use serde::{Deserialize, Serialize};
use ugst_llm::{ChatRequest, Message, UserSimulation};
use ugst_state::GoalState;

/// How the simulator is steered before each turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SimMode {
    /// The goal appears in the system message only.
    Prompt,
    /// The goal is restated before every turn.
    Goal,
    /// The latest goal state S_{i-1}, with reasons, is shown before every turn.
    GoalState,
    /// As `goal-state`, and every turn is written with its reasoning first (progress, plan,
    /// alignment; see [`super::reasoning`]); the reasoning is stored, never shown to the agent.
    Reasoning,
}

impl SimMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SimMode::Prompt => "prompt",
            SimMode::Goal => "goal",
            SimMode::GoalState => "goal-state",
            SimMode::Reasoning => "reasoning",
        }
    }
}

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
                open => super::reasoning::OPEN, close => super::reasoning::CLOSE,
            },
        )),
    }
}

/// The simulator's request: its instructions and the conversation so far (natural roles), with
/// the steering note for this turn kept apart so the conversation prefix never changes between
/// turns. Backends decide how to lay it out (see [`UserSimulation`]).
pub fn request(
    goal: &str,
    max_turns: u32,
    history: &[Exchange],
    steer: Option<&str>,
) -> ChatRequest {
    let sim = UserSimulation {
        instructions: prompts::render(
            "simulator_system",
            context! { goal => goal, max_turns => max_turns, stop => STOP },
        ),
        opening: prompts::render("simulator_opening", context! {}),
        note: steer.map(str::to_string),
    };
    let mut messages = Vec::new();
    for e in history {
        messages.push(Message::user(e.user.clone()));
        messages.push(Message::assistant(e.agent.clone().unwrap_or_default()));
    }
    ChatRequest::user_simulation(sim, messages)
}

/// A simulator answer, split into the message and whether it ends the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTurn {
    /// The text sent to the agent (empty when the answer was only the stop signal).
    pub text: String,
    pub stop: bool,
}

/// Reads the simulator's raw answer: strips role prefixes the model may add and finds the stop signal.
pub fn parse(raw: &str) -> UserTurn {
    let mut text = raw.trim();
    for prefix in ["User:", "Customer:", "user:", "customer:"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            text = rest.trim_start();
        }
    }
    let stop = text.contains(STOP);
    // Removing one signal can join the text around it into another
    // (`END_END_CONVERSATIONCONVERSATION`): remove until none is left (found by fuzzing).
    let mut text = text.to_string();
    while text.contains(STOP) {
        text = text.replace(STOP, "");
    }
    UserTurn {
        text: text.trim().to_string(),
        stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_signal_and_prefixes() {
        assert_eq!(
            parse("User: hi"),
            UserTurn {
                text: "hi".into(),
                stop: false
            }
        );
        assert_eq!(
            parse(" END_CONVERSATION "),
            UserTurn {
                text: String::new(),
                stop: true
            }
        );
        assert_eq!(
            parse("Thanks! END_CONVERSATION"),
            UserTurn {
                text: "Thanks!".into(),
                stop: true
            }
        );
        // Nested signals leave none behind.
        assert_eq!(
            parse("Bye END_END_CONVERSATIONCONVERSATION"),
            UserTurn {
                text: "Bye".into(),
                stop: true
            }
        );
    }

    #[test]
    fn roles_are_flipped_on_the_wire_and_steering_goes_last() {
        let h = vec![Exchange {
            user: "u1".into(),
            agent: Some("a1".into()),
        }];
        let m = request("g", 5, &h, Some("NOTE")).wire_messages();
        assert_eq!(m[0].role, ugst_llm::Role::System);
        assert_eq!(m[2].role, ugst_llm::Role::Assistant);
        assert_eq!(m[2].content_str(), "u1");
        assert_eq!(m[3].role, ugst_llm::Role::User);
        assert!(m[3].content_str().starts_with("a1") && m[3].content_str().ends_with("NOTE"));
        // Without steering the same history renders the same prefix.
        let plain = request("g", 5, &h, None).wire_messages();
        assert_eq!(plain[..3], m[..3]);
    }
}
