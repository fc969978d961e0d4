//! The conversation as every stage sees it: a list of [`Exchange`]s (a user message and the
//! agent's visible reply), how lines in other shapes become exchanges, and its plain-text form
//! for judges.

use serde::{Deserialize, Serialize};

/// The simulator's termination signal. Sent on its own, it ends the conversation.
pub const STOP: &str = "END_CONVERSATION";

/// One user message and the agent's visible reply (absent for a closing message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub user: String,
    pub agent: Option<String>,
}

/// Who said a line of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Agent,
    User,
}

/// One line of a conversation in speaker/text form (what clients of the reward send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Utterance {
    pub speaker: Speaker,
    pub text: String,
}

/// Lines in order → exchanges, by one rule everywhere: each user line opens an exchange; agent
/// lines after it are its reply (several are joined by a newline); an agent line before any
/// user line opens an exchange with an empty user message; blank agent lines are skipped.
pub fn exchanges<'a>(lines: impl IntoIterator<Item = (Speaker, &'a str)>) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    for (speaker, text) in lines {
        match speaker {
            Speaker::User => out.push(Exchange {
                user: text.to_string(),
                agent: None,
            }),
            Speaker::Agent if text.trim().is_empty() => {}
            Speaker::Agent => match out.last_mut() {
                // Appended in place: many agent lines in a row stay linear (review finding 16).
                Some(e) => match &mut e.agent {
                    Some(prev) => {
                        prev.push('\n');
                        prev.push_str(text);
                    }
                    None => e.agent = Some(text.to_string()),
                },
                None => out.push(Exchange {
                    user: String::new(),
                    agent: Some(text.to_string()),
                }),
            },
        }
    }
    out
}

/// Renders exchanges as a plain transcript, numbering turns from `first`.
pub fn transcript(exchanges: &[Exchange], first: usize) -> String {
    if exchanges.is_empty() {
        return "(nothing yet)".into();
    }
    let mut out = String::new();
    for (i, e) in exchanges.iter().enumerate() {
        out.push_str(&format!("Turn {}\nUser: {}\n", first + i, e.user));
        match &e.agent {
            Some(a) => out.push_str(&format!("Agent: {a}\n")),
            None => out.push_str("Agent: (no reply; the user ended the conversation)\n"),
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_lines() {
        let got = exchanges([
            (Speaker::Agent, "Hello"),
            (Speaker::User, "hi"),
            (Speaker::Agent, "a"),
            (Speaker::Agent, " "),
            (Speaker::Agent, "b"),
            (Speaker::User, "bye"),
        ]);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].user, "");
        assert_eq!(got[1].agent.as_deref(), Some("a\nb"));
        assert_eq!(got[2].agent, None);
    }
}
