//! Training data from a run, for a simulator that must work without the tracker afterwards.
//!
//! - `sft`: one chat per finished conversation, roles flipped so the simulator is the
//!   `assistant` and the agent the `user`. The system message holds the simulator instructions
//!   with the goal and the reasoning layout ([`system_prompt`]); the first `user` message is the
//!   opening cue; assistant turns are `<think>…</think>` + message ([`crate::simulate::reasoning`])
//!   when the turn has reasoning, the bare message otherwise. No goal state appears anywhere.
//! - `grpo`: one line per conversation prefix that ends with an agent message: `prompt` (the same
//!   messages up to that agent message), `sample_id` (`<conversation id>#<turn>`) and
//!   `ugst_context`, a JSON string holding what the reward needs: the goal, the goal state before
//!   the next user turn, the history, the turn index and the turn limit.

use crate::model::{Conversation, EndReason};
use crate::prompts::{self, STOP};
use crate::simulate::reasoning;
use minijinja::context;
use serde_json::{json, Value};
use ugst_llm::Role;

/// The simulator's system message in training data and at inference.
pub fn system_prompt(goal: &str, max_turns: u32) -> String {
    let base = prompts::render(
        "simulator_system",
        context! { goal => goal, max_turns => max_turns, stop => STOP },
    );
    let layout = prompts::render(
        "trained_layout",
        context! { open => reasoning::OPEN, close => reasoning::CLOSE },
    );
    format!("{base}\n{layout}")
}

/// Tokens counted per message on top of its content, for the chat template's role markers.
pub const TOKENS_PER_MESSAGE: usize = 4;

/// One chat message of the trained simulator's view: its own lines are `assistant`, the agent's
/// `user` — the same flip chat APIs get ([`Role::flipped`]).
fn msg(role: Role, content: impl Into<String>) -> Value {
    json!({"role": role, "content": content.into()})
}

/// The chat of one finished conversation, and the index in it after every agent message
/// (`(turn, message count)`), for the prefixes.
fn chat(c: &Conversation, max_turns: u32) -> (Vec<Value>, Vec<(u32, usize)>) {
    let mut m = vec![
        msg(Role::System, system_prompt(&c.goal.goal, max_turns)),
        msg(
            Role::User,
            prompts::render("simulator_opening", context! {}),
        ),
    ];
    let mut cuts = Vec::new();
    let stopped = c.end_reason == Some(EndReason::SimulatorStop);
    for (i, t) in c.turns.iter().enumerate() {
        let last = i + 1 == c.turns.len();
        let mut text = t.user.clone();
        // A message sent together with the stop signal (the agent did not answer it).
        if last && stopped && t.agent.is_none() {
            text = format!("{text} {STOP}");
        }
        let content = match &t.reasoning {
            Some(r) => reasoning::render(r, &text),
            None => text,
        };
        m.push(msg(Role::User.flipped(), content));
        if let Some(a) = &t.agent {
            m.push(msg(Role::Assistant.flipped(), a.clone()));
            cuts.push((t.index, m.len()));
        }
    }
    // The closing signal sent on its own after the agent's last answer, with its reasoning.
    if stopped && c.turns.last().is_some_and(|t| t.agent.is_some()) {
        let content = match &c.closing_reasoning {
            Some(r) => reasoning::render(r, STOP),
            None => STOP.to_string(),
        };
        m.push(msg(Role::User.flipped(), content));
    }
    (m, cuts)
}

/// Counts of what an export kept and dropped.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportCounts {
    pub lines: usize,
    pub conversations: usize,
    /// Conversations left out because they did not finish.
    pub skipped_unfinished: usize,
    /// GRPO prefixes longer than the token limit.
    pub dropped_too_long: usize,
    /// Assistant turns without reasoning (SFT).
    pub turns_without_reasoning: usize,
}

/// Keeps the conversations whose every simulator turn has reasoning, the ones a teacher wrote in
/// the layout throughout (unfinished ones are kept for the exports to skip and count); returns
/// how many were left out.
pub fn keep_reasoned(convs: &mut Vec<Conversation>) -> usize {
    let before = convs.len();
    convs.retain(|c| !c.finished() || c.turns.iter().all(|t| t.reasoning.is_some()));
    before - convs.len()
}

pub fn sft(convs: &[Conversation], max_turns: u32) -> (String, ExportCounts) {
    let mut out = String::new();
    let mut n = ExportCounts::default();
    for c in convs {
        if !c.finished() || c.turns.is_empty() {
            n.skipped_unfinished += 1;
            continue;
        }
        n.conversations += 1;
        n.turns_without_reasoning += c.turns.iter().filter(|t| t.reasoning.is_none()).count();
        let (messages, _) = chat(c, c.goal.max_turns.unwrap_or(max_turns));
        out.push_str(&json!({"id": c.goal.id, "messages": messages}).to_string());
        out.push('\n');
        n.lines += 1;
    }
    (out, n)
}

/// `count` gives a prompt's length in tokens (the trainer's tokenizer).
pub fn grpo(
    convs: &[Conversation],
    max_turns: u32,
    max_prompt_tokens: usize,
    count: &dyn Fn(&[Value]) -> usize,
) -> (String, ExportCounts) {
    let mut out = String::new();
    let mut n = ExportCounts::default();
    for c in convs {
        let (Some(s0), true) = (&c.initial_state, c.finished()) else {
            n.skipped_unfinished += 1;
            continue;
        };
        n.conversations += 1;
        n.turns_without_reasoning += c.turns.iter().filter(|t| t.reasoning.is_none()).count();
        let limit = c.goal.max_turns.unwrap_or(max_turns);
        let (messages, cuts) = chat(c, limit);
        for (turn, len) in cuts {
            let prompt = &messages[..len];
            if count(prompt) > max_prompt_tokens {
                n.dropped_too_long += 1;
                continue;
            }
            // The state the next user turn starts from: after this turn.
            let state = c
                .turns
                .iter()
                .find(|t| t.index == turn)
                .map_or(s0, |t| &t.state);
            let history: Vec<Value> = c
                .turns
                .iter()
                .take_while(|t| t.index <= turn)
                .flat_map(|t| {
                    let mut h = vec![json!({"speaker": "user", "text": t.user})];
                    if let Some(a) = &t.agent {
                        h.push(json!({"speaker": "agent", "text": a}));
                    }
                    h
                })
                .collect();
            let context = json!({
                "goal": c.goal.goal,
                "state": state,
                "history": history,
                "turn": turn + 1,
                "max_turns": limit,
            });
            out.push_str(
                &json!({
                    "sample_id": format!("{}#{}", c.goal.id, turn + 1),
                    "prompt": prompt,
                    "ugst_context": context.to_string(),
                })
                .to_string(),
            );
            out.push('\n');
            n.lines += 1;
        }
    }
    (out, n)
}

/// A prompt-token counter for [`grpo`] from the trainer's `tokenizer.json`: content tokens plus
/// [`TOKENS_PER_MESSAGE`] per message.
pub fn token_counter(
    path: &std::path::Path,
) -> Result<impl Fn(&[Value]) -> usize, crate::error::InputError> {
    let tok = tokenizers::Tokenizer::from_file(path).map_err(|e| {
        crate::error::InputError::new(format!(
            "{}: not a usable tokenizer.json: {e}",
            path.display()
        ))
    })?;
    Ok(move |msgs: &[Value]| -> usize {
        msgs.iter()
            .map(|m| {
                let text = m["content"].as_str().unwrap_or("");
                tok.encode(text, false).map_or(text.len() / 3, |e| e.len()) + TOKENS_PER_MESSAGE
            })
            .sum()
    })
}
