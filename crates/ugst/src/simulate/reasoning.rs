//! The layout of a simulator turn that carries its goal-state reasoning (the `reasoning` mode, SFT
//! data and GRPO candidates all use it):
//!
//! ```text
//! <think>
//! Progress: where the goal stands after the agent's last message.
//! Plan: what to bring up next, within the turns left.
//! Alignment: how this reply keeps to the profile and the policy.
//! </think>
//! The message the agent sees (or END_CONVERSATION).
//! ```
//!
//! The three labelled parts must appear in that order inside one `<think>` block at the start;
//! the message follows the block and is never empty. The agent never sees the block.

use serde::{Deserialize, Serialize};

pub const OPEN: &str = "<think>";
pub const CLOSE: &str = "</think>";
/// The labels of the three parts, in order.
pub const PARTS: [&str; 3] = ["Progress:", "Plan:", "Alignment:"];

/// A turn read from the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reasoned {
    /// The text inside the block, trimmed.
    pub reasoning: String,
    /// What follows the block, trimmed (the stop signal included, if sent).
    pub reply: String,
}

/// Why a text does not follow the layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("the answer does not start with {OPEN}")]
    NoOpen,
    #[error("the {OPEN} block is not closed with {CLOSE}")]
    NoClose,
    #[error("the reasoning lacks the part {0:?} (Progress:, Plan:, Alignment:, in that order)")]
    MissingPart(&'static str),
    #[error("there is no message after {CLOSE}")]
    NoReply,
}

/// Reads a turn written in the layout.
pub fn parse(text: &str) -> Result<Reasoned, LayoutError> {
    let body = text
        .trim_start()
        .strip_prefix(OPEN)
        .ok_or(LayoutError::NoOpen)?;
    let end = body.find(CLOSE).ok_or(LayoutError::NoClose)?;
    let reasoning = body[..end].trim();
    let mut at = 0;
    for part in PARTS {
        match reasoning[at..].find(part) {
            Some(i) => at += i + part.len(),
            None => return Err(LayoutError::MissingPart(part)),
        }
    }
    let reply = body[end + CLOSE.len()..].trim();
    if reply.is_empty() || reply.contains(OPEN) {
        return Err(LayoutError::NoReply);
    }
    Ok(Reasoned {
        reasoning: reasoning.to_string(),
        reply: reply.to_string(),
    })
}

/// The part of a simulator answer the agent may see, or `None` when every word of it may be
/// private reasoning: after a closed block only what follows it; with an unclosed block (cut off
/// at the token limit, say) only what precedes it; when reasoning was asked for
/// (`notes_expected`), an answer that opens with one of the labels without any block is all
/// notes. Nothing inside a block is ever returned.
pub fn visible(text: &str, notes_expected: bool) -> Option<&str> {
    let t = text.trim();
    let shown = match (t.rfind(CLOSE), t.find(OPEN)) {
        (Some(end), _) => t[end + CLOSE.len()..].trim(),
        (None, Some(start)) => t[..start].trim(),
        (None, None) if notes_expected && PARTS.iter().any(|p| t.starts_with(p)) => "",
        (None, None) => t,
    };
    (!shown.is_empty() && !shown.contains(OPEN)).then_some(shown)
}

/// What the simulator is told after an answer that broke the layout.
pub fn feedback(steering: Option<&str>, problem: &LayoutError) -> String {
    crate::prompts::render(
        "reasoning_feedback",
        minijinja::context! {
            steering => steering.unwrap_or(""), problem => problem.to_string(),
            open => OPEN, close => CLOSE,
        },
    )
}

/// Writes a turn in the layout.
pub fn render(reasoning: &str, reply: &str) -> String {
    format!("{OPEN}\n{}\n{CLOSE}\n{}", reasoning.trim(), reply.trim())
}

#[cfg(test)]
mod tests {

    #[test]
    fn nothing_from_inside_a_block_is_visible() {
        let closed = "<think>\nProgress: x\nPlan: y\nAlignment: z\n</think>\nHello there";
        assert_eq!(visible(closed, true), Some("Hello there"));
        // Cut off inside the block: nothing may be sent.
        assert_eq!(visible("<think>\nProgress: my phone is secret", true), None);
        // Words before an unclosed block are the message; the block is not.
        assert_eq!(visible("Hi! <think>Plan: ask", true), Some("Hi!"));
        // Notes with no block at all, when reasoning was asked for: all private.
        assert_eq!(
            visible("Progress: nothing.\nPlan: ask.\nAlignment: ok.\nHi", true),
            None
        );
        assert_eq!(
            visible("Plan: an evening out", false),
            Some("Plan: an evening out")
        );
        assert_eq!(visible("Just a message", true), Some("Just a message"));
    }

    use super::*;

    const GOOD: &str = "<think>\nProgress: the hotel is booked.\nPlan: ask for the train next.\nAlignment: keep the phone number private.\n</think>\nThanks! Now I need a train to London on Friday.";

    #[test]
    fn reads_and_writes_the_layout() {
        let r = parse(GOOD).unwrap();
        assert!(r.reasoning.starts_with("Progress: the hotel"));
        assert_eq!(r.reply, "Thanks! Now I need a train to London on Friday.");
        assert_eq!(parse(&render(&r.reasoning, &r.reply)).unwrap(), r);
    }

    #[test]
    fn names_what_is_wrong() {
        assert_eq!(parse("Hello there"), Err(LayoutError::NoOpen));
        assert_eq!(
            parse("<think>Progress: a Plan: b Alignment: c"),
            Err(LayoutError::NoClose)
        );
        assert_eq!(
            parse("<think>Progress: a Alignment: c Plan: b</think> hi"),
            Err(LayoutError::MissingPart("Alignment:")),
            "parts out of order"
        );
        assert_eq!(
            parse("<think>Progress: a Plan: b Alignment: c</think>  "),
            Err(LayoutError::NoReply)
        );
        assert_eq!(
            parse("<think>Progress: a Plan: b Alignment: c</think><think>again"),
            Err(LayoutError::NoReply)
        );
    }
}
