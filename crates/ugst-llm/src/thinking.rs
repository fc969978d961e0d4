//! A model's private thinking, taken out of its answer before anything reads the answer.
//!
//! Open reasoning models (and servers without a reasoning parser) write a block such as
//! `<think>…</think>` before the answer; some chat templates open the block in the prompt, so the
//! answer starts inside it and only the closing tag appears. Left in place, the thinking breaks
//! JSON extraction whenever it holds a brace, and a simulator's or agent's thinking would reach
//! the other role as its words. [`split`] moves a leading block into [`ChatResponse::thinking`],
//! which the run keeps for inspection; servers that already separate it (`reasoning_content`,
//! `reasoning`) fill the same field.

use crate::ChatResponse;

/// The tag pairs read as a thinking block, most common first.
const TAGS: [(&str, &str); 2] = [("<think>", "</think>"), ("<thinking>", "</thinking>")];

/// `text` as (thinking, answer) when it starts with a thinking block; `None` when it does not.
/// An unclosed block (cut at the token limit) is all thinking and leaves an empty answer. An
/// answer with a closing tag but no opening one before it is read as a block whose opening tag
/// was in the prompt.
pub fn split(text: &str) -> Option<(String, String)> {
    let t = text.trim_start();
    for (open, close) in TAGS {
        if let Some(body) = t.strip_prefix(open) {
            return Some(match body.find(close) {
                Some(end) => (
                    body[..end].trim().to_string(),
                    body[end + close.len()..].trim_start().to_string(),
                ),
                None => (body.trim().to_string(), String::new()),
            });
        }
        if let Some(end) = t.find(close) {
            if !t[..end].contains(open) {
                return Some((
                    t[..end].trim().to_string(),
                    t[end + close.len()..].trim_start().to_string(),
                ));
            }
        }
    }
    None
}

/// `resp` with a leading thinking block moved out of its text into `thinking` (joined to any
/// the server already sent separately). Applying it twice changes nothing.
pub fn separate(mut resp: ChatResponse) -> ChatResponse {
    if let Some((thought, answer)) = resp.content.as_deref().and_then(split) {
        resp.thinking = Some(match resp.thinking.take() {
            Some(before) if !before.trim().is_empty() => format!("{before}\n{thought}"),
            _ => thought,
        });
        resp.content = Some(answer);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_block_is_split_off() {
        assert_eq!(
            split("<think>\nI need {\"x\": 1}?\n</think>\n\n{\"n\": 2}"),
            Some(("I need {\"x\": 1}?".into(), "{\"n\": 2}".into()))
        );
        assert_eq!(
            split("  <thinking>hm</thinking>Hello"),
            Some(("hm".into(), "Hello".into()))
        );
        // Opened by the chat template in the prompt: only the closing tag is written.
        assert_eq!(
            split("The user wants a refund.\n</think>\nSure."),
            Some(("The user wants a refund.".into(), "Sure.".into()))
        );
        // Cut off inside the block: nothing of it is an answer.
        assert_eq!(
            split("<think>still going"),
            Some(("still going".into(), String::new()))
        );
        assert_eq!(split("Hello <think>not leading</think>"), None);
        assert_eq!(split("plain answer"), None);
    }

    #[test]
    fn separating_is_idempotent_and_keeps_server_thinking() {
        let mut r = ChatResponse::text("<think>b</think>answer");
        r.thinking = Some("a".into());
        let once = separate(r);
        assert_eq!(once.content_str(), "answer");
        assert_eq!(once.thinking.as_deref(), Some("a\nb"));
        assert_eq!(separate(once.clone()), once);
    }
}
