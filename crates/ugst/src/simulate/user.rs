//! The simulated user: builds its prompt (goal in the system message, the conversation, optional
//! steering before the turn), reads its answer (the stop signal, the reasoning layout) and, with
//! `--verify`, has each draft checked before it is sent. [`UserSimulator::next_message`] is the
//! one place user turns are written — by the batch runner and by `serve simulator` alike.

use super::steer::steering;
use super::{reasoning, verify};
use crate::model::{Exchange, Goal, RejectedDraft, SimMode, STOP};
use crate::prompts;
use crate::roles::RoleModel;
use minijinja::context;
use regex::Regex;
use std::sync::LazyLock;
use ugst_llm::{CallRole, ChatRequest, Ledger, LlmError, Message, UserSimulation};

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

/// A line that starts a speaker's part of a written-out dialogue: `Agent:`, `[Customer: ...`,
/// `**User:**`. Small simulators sometimes script both sides of the conversation in one answer.
static SPEAKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?mi)^[ \t]*[\[*]*[ \t]*(agent|assistant|representative|customer|user)[ \t]*\**:\**[ \t]*")
        .expect("a valid pattern")
});

/// The customer's own words of an answer that may script several speakers: the text before the
/// first speaker label if there is any, else the first part labelled as the customer's (empty
/// when only the agent's lines were written). Brackets around a part are removed.
fn own_words(text: &str) -> &str {
    let labels: Vec<_> = SPEAKER.captures_iter(text).collect();
    let Some(first) = labels.first() else {
        return text;
    };
    let start = first.get(0).map_or(0, |m| m.start());
    if !text[..start].trim().is_empty() {
        return text[..start].trim();
    }
    for (i, c) in labels.iter().enumerate() {
        let speaker = c[1].to_ascii_lowercase();
        if speaker == "customer" || speaker == "user" {
            let from = c.get(0).map_or(0, |m| m.end());
            let to = labels
                .get(i + 1)
                .map_or(text.len(), |n| n.get(0).map_or(0, |m| m.start()));
            return text[from..to]
                .trim()
                .trim_end_matches(']')
                .trim_end_matches('*')
                .trim();
        }
    }
    ""
}

/// Reads the simulator's raw answer: keeps the customer's own words (role prefixes and any
/// scripted lines of the agent removed, see [`own_words`]) and finds the stop signal in them.
pub fn parse(raw: &str) -> UserTurn {
    let text = own_words(raw.trim());
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

/// The simulated user: its model, how it is steered, and the verifier that checks its drafts.
#[derive(Clone)]
pub struct UserSimulator {
    pub role: RoleModel,
    pub mode: SimMode,
    /// How many drafts the verifier may send back per turn (0: no verifier).
    pub verify: u32,
    /// The judge that checks drafts (the tracker's model).
    pub verifier: RoleModel,
}

/// What the simulated user says next, and how it came to say it.
#[derive(Debug, Clone, PartialEq)]
pub struct NextMessage {
    pub user: UserTurn,
    /// The steering note shown before this turn.
    pub steering: Option<String>,
    /// The reasoning written before the message (`reasoning` mode); never sent to the agent.
    pub reasoning: Option<String>,
    /// Drafts the verifier turned down first.
    pub rejected: Vec<RejectedDraft>,
    /// The model's own thinking before the message (a reasoning model's, outside the
    /// `reasoning` layout); kept for the record, never sent to the agent.
    pub thinking: Option<String>,
}

impl NextMessage {
    /// The stop signal with no words: the conversation ends without another exchange.
    pub fn is_bare_stop(&self) -> bool {
        self.user.stop && self.user.text.is_empty()
    }
}

impl UserSimulator {
    /// The simulated user of `models` in `mode`: the simulator's model writes, the tracker's
    /// model checks drafts (up to `verify` times a turn).
    pub fn new(models: &crate::roles::RoleModels, mode: SimMode, verify: u32) -> UserSimulator {
        UserSimulator {
            role: models.simulator.clone(),
            mode,
            verify,
            verifier: models.tracker.clone(),
        }
    }

    /// Writes turn `turn` of at most `max_turns`, steered by `state`: one simulator call, one
    /// more when a `reasoning`-mode answer breaks the layout (the problem named; after that the
    /// message is kept without its reasoning), and up to `verify` redrafts the verifier asks for.
    /// A failed model call names the role that made it.
    #[allow(clippy::too_many_arguments)]
    pub async fn next_message(
        &self,
        ledger: &Ledger,
        goal: &Goal,
        state: &ugst_state::GoalState,
        history: &[Exchange],
        turn: u32,
        max_turns: u32,
    ) -> Result<NextMessage, (CallRole, LlmError)> {
        let turns_left = max_turns - turn + 1;
        let steer = steering(self.mode, &goal.goal, state, turns_left);
        let mut note = steer.clone();
        let mut rejected: Vec<RejectedDraft> = Vec::new();
        let mut layout_retry = self.mode == SimMode::Reasoning;
        let mut sampling = self.role.sampling.clone();
        let mut more_room = true;
        let mut speaker_retry = true;
        loop {
            let req = request(&goal.goal, max_turns, history, note.as_deref())
                .with_sampling(sampling.clone());
            let raw = self
                .role
                .llm
                .chat(CallRole::Simulator, ledger, &req)
                .await
                .map_err(|e| (CallRole::Simulator, e))?;
            // An answer cut at the token limit is asked again once with twice the room.
            if raw.finish_reason.as_deref() == Some("length") && more_room {
                more_room = false;
                sampling.max_tokens = Some(sampling.max_tokens.unwrap_or(400).saturating_mul(2));
                continue;
            }
            // A `reasoning`-mode answer's block was taken out as thinking like any model's; it
            // is read back in the layout. In other modes the thinking is only recorded.
            let (text, thinking) = match (&raw.thinking, self.mode) {
                (Some(t), SimMode::Reasoning) => (reasoning::render(t, raw.content_str()), None),
                (t, _) => (raw.content_str().to_string(), t.clone()),
            };
            let (draft, thought) = match reasoning::parse(&text) {
                Ok(r) if self.mode == SimMode::Reasoning => (parse(&r.reply), Some(r.reasoning)),
                Err(e) if self.mode == SimMode::Reasoning && layout_retry => {
                    layout_retry = false;
                    note = Some(reasoning::feedback(steer.as_deref(), &e));
                    continue;
                }
                // Otherwise only what the agent may see is kept: never text from inside a
                // reasoning block, whatever the mode (see `reasoning::visible`).
                _ => match reasoning::visible(&text, self.mode == SimMode::Reasoning) {
                    Some(text) => (parse(text), None),
                    None => {
                        return Err((
                            CallRole::Simulator,
                            LlmError::InvalidOutput {
                                backend: self.role.llm.backend_id(),
                                reason: "the answer holds only private reasoning (an unclosed or \
                                         unlabelled reasoning block); nothing of it is sent to the agent"
                                    .into(),
                                raw: text.clone(),
                            },
                        ))
                    }
                },
            };
            // An answer that wrote only the agent's lines, or no words at all ("[]", which the
            // 1.5B coder model once opened a demo with before stopping), is asked again once,
            // the problem named. A stop without words ends the chat only once something was said.
            let wordless = !draft.text.chars().any(char::is_alphabetic);
            if wordless && (!draft.stop || history.is_empty()) && speaker_retry {
                speaker_retry = false;
                let reason = match draft.text.is_empty() && !draft.stop {
                    true => {
                        "it held only lines for the agent; write only your own next message \
                             as the customer, without speaker labels"
                    }
                    false => {
                        "it held no words for the agent; write your next message as the \
                              customer, in plain words"
                    }
                };
                note = Some(verify::feedback(steer.as_deref(), reason));
                continue;
            }
            // Past the verifier's budget (or without one) the draft is sent as it is.
            let verdict = if rejected.len() as u32 >= self.verify {
                verify::Verdict::Accept
            } else {
                let d = verify::Draft {
                    user: &draft,
                    turn,
                    turns_left,
                };
                let (llm, sampling) = (&self.verifier.llm, &self.verifier.sampling);
                verify::check(llm, ledger, sampling, state, history, d)
                    .await
                    .map_err(|e| (CallRole::Verifier, e))?
            };
            match verdict {
                verify::Verdict::Accept => {
                    return Ok(NextMessage {
                        user: draft,
                        steering: steer,
                        reasoning: thought,
                        rejected,
                        thinking,
                    })
                }
                verify::Verdict::Reject(reason) => {
                    note = Some(verify::feedback(steer.as_deref(), &reason));
                    rejected.push(RejectedDraft {
                        text: draft.text,
                        stop: draft.stop,
                        reason,
                    });
                }
            }
        }
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
    fn scripted_dialogues_keep_only_the_customers_words() {
        // What the 1.5B wrote in the demo: both sides, in brackets.
        let raw = "[Agent: Got it! Please provide the requested information.]\n\
                   [Customer: Sure thing! I'll give you the details you need.]\n\
                   [Agent: Great! Once you have provided this information, I'll help.";
        assert_eq!(
            parse(raw).text,
            "Sure thing! I'll give you the details you need."
        );
        // The message first, then an imagined reply: the message is kept.
        let raw = "I need a train to Norwich on Friday.\nAgent: Sure, when?\nUser: After 17:00.";
        assert_eq!(parse(raw).text, "I need a train to Norwich on Friday.");
        // Markdown labels; the stop signal counts only in the customer's part.
        let raw = "**Customer:** Thanks, that is all.\n**Agent:** Bye! END_CONVERSATION";
        assert_eq!(
            parse(raw),
            UserTurn {
                text: "Thanks, that is all.".into(),
                stop: false
            }
        );
        // Only the agent's lines: nothing to send (the simulator asks again).
        assert_eq!(parse("Agent: How can I help?").text, "");
        // A label-like word inside a line is not a speaker.
        assert_eq!(
            parse("My user: id is mia_li_3668").text,
            "My user: id is mia_li_3668"
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

    /// A simulator whose model answers from `answers` in turn, a demo goal and an empty state.
    fn scripted(
        answers: Vec<ugst_llm::ChatResponse>,
        mode: SimMode,
    ) -> (UserSimulator, Goal, ugst_state::GoalState) {
        use std::sync::Arc;
        use ugst_llm::{Cache, Llm, Sampling, ScriptedBackend};
        let backend = ScriptedBackend::queue("sim", answers);
        let role = RoleModel {
            llm: Llm::new(Arc::new(backend), Arc::new(Cache::disabled())),
            sampling: Sampling::default(),
            model: "sim".into(),
            decompose: crate::model::DecomposeMethod::Free,
        };
        let sim = UserSimulator {
            role: role.clone(),
            mode,
            verify: 0,
            verifier: role,
        };
        let state = ugst_state::GoalState::initial(&ugst_state::Decomposition {
            user_profile: Vec::new(),
            user_policy: Vec::new(),
            task_objectives: Vec::new(),
        });
        (sim, crate::goals::demo_goals().remove(0), state)
    }

    #[tokio::test]
    async fn a_wordless_opening_is_asked_again_and_never_ends_the_chat() {
        use ugst_llm::ChatResponse;
        let answers = vec![
            ChatResponse::text("[] END_CONVERSATION"),
            ChatResponse::text("Hi, I need a table for 8 on Monday."),
        ];
        let (sim, goal, state) = scripted(answers, SimMode::Prompt);
        let next = sim
            .next_message(&Ledger::default(), &goal, &state, &[], 1, 4)
            .await
            .unwrap();
        assert_eq!(next.user.text, "Hi, I need a table for 8 on Monday.");
        assert!(!next.user.stop);
    }

    /// A reasoning-mode answer that is all reasoning and no message (the 1.5B did this on two of
    /// four τ-retail openings) is asked again with the missing message named, not failed.
    #[tokio::test]
    async fn a_reasoning_answer_without_a_message_is_asked_again() {
        use ugst_llm::ChatResponse;
        let thought_only =
            "<think>\nProgress: nothing yet.\nPlan: ask for a table.\nAlignment: fine.\n</think>\n";
        let answers = vec![
            ChatResponse::text(thought_only),
            ChatResponse::text(format!("{thought_only}Hi, I need a table for 8 on Monday.")),
        ];
        let (sim, goal, state) = scripted(answers, SimMode::Reasoning);
        let ledger = Ledger::default();
        let next = sim
            .next_message(&ledger, &goal, &state, &[], 1, 4)
            .await
            .unwrap();
        assert_eq!(next.user.text, "Hi, I need a table for 8 on Monday.");
        assert!(next.reasoning.unwrap().contains("Plan: ask for a table."));
        // Asked again by the simulator with the layout's feedback, not by a generic repair (which
        // says only "the answer was empty", and failed the conversation when it came back empty).
        let calls = ledger.drain();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(calls.iter().all(|c| !c.repaired), "{calls:?}");
    }
}
