//! Realism next to alignment: does the simulator talk like a user?
//!
//! - `first_turn_diversity`: mean pairwise dissimilarity (1 − token F1, as in `ugst agree`) of
//!   the first user messages across the run's conversations (0: all the same opening);
//! - `gradual_reveal`: among task objectives, requirements and preferences that the tracker ever
//!   moved off their initial status, the share first moved after turn 1 (how much of the goal is
//!   not dumped into the opening message);
//! - `mean_user_words`: mean words per user message;
//! - `role_adherence` (needs a judge model): the share of user messages a judge reads as written
//!   by the customer rather than by the service agent.

use crate::model::run::finished;
use crate::model::Conversation;
use crate::prompts::{self, schemas};
use crate::text::similarity;
use futures::{StreamExt, TryStreamExt};
use minijinja::context;
use serde::Serialize;
use ugst_llm::{CallRole, ChatRequest, Ledger, Llm, LlmError, Message, Sampling};
use ugst_state::Category;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Realism {
    pub first_turn_diversity: Option<f64>,
    pub gradual_reveal: Option<f64>,
    pub mean_user_words: Option<f64>,
    pub role_adherence: Option<f64>,
}

pub fn offline(convs: &[Conversation]) -> Realism {
    let firsts: Vec<&str> = convs
        .iter()
        .filter_map(|c| c.turns.first().map(|t| t.user.as_str()))
        .filter(|u| !u.trim().is_empty())
        .collect();
    let mut sum = 0.0;
    let mut pairs = 0usize;
    for i in 0..firsts.len() {
        for j in i + 1..firsts.len() {
            sum += 1.0 - similarity(firsts[i], firsts[j]);
            pairs += 1;
        }
    }
    let (mut later, mut moved) = (0usize, 0usize);
    for c in finished(convs) {
        let Some(s) = &c.final_state else { continue };
        for comp in &s.components {
            if !matches!(
                comp.category,
                Category::TaskObjective | Category::Requirement | Category::Preference
            ) {
                continue;
            }
            if let Some(first) = comp.changes.first() {
                moved += 1;
                later += (first.turn > 1) as usize;
            }
        }
    }
    let words: Vec<usize> = convs
        .iter()
        .flat_map(|c| c.turns.iter())
        .filter(|t| !t.user.trim().is_empty())
        .map(|t| t.user.split_whitespace().count())
        .collect();
    Realism {
        first_turn_diversity: (pairs > 0).then(|| sum / pairs as f64),
        gradual_reveal: (moved > 0).then(|| later as f64 / moved as f64),
        mean_user_words: (!words.is_empty())
            .then(|| words.iter().sum::<usize>() as f64 / words.len() as f64),
        role_adherence: None,
    }
}

/// The judge request for one user message, with the agent message before it.
pub fn role_request(previous: Option<&str>, message: &str) -> ChatRequest {
    let prompt = prompts::render(
        "judge_role",
        context! { previous => previous, message => message },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::MESSAGE_ROLE, schemas::message_role())
        .with_sampling(Sampling {
            temperature: Some(0.0),
            ..Default::default()
        })
}

/// Asks the judge about every user message of the finished conversations.
pub async fn role_adherence(
    llm: &Llm,
    ledger: &Ledger,
    convs: &[Conversation],
    concurrency: usize,
) -> Result<Option<f64>, LlmError> {
    let mut jobs = Vec::new();
    for c in finished(convs) {
        for (i, t) in c.turns.iter().enumerate() {
            if t.user.trim().is_empty() {
                continue;
            }
            let previous = if i == 0 {
                None
            } else {
                c.turns[i - 1].agent.clone()
            };
            let req = role_request(previous.as_deref(), &t.user);
            jobs.push(async move { llm.structured(CallRole::Judge, ledger, &req).await });
        }
    }
    let answers: Vec<_> = futures::stream::iter(jobs)
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    if answers.is_empty() {
        return Ok(None);
    }
    let customer = answers.iter().filter(|v| v["writer"] == "customer").count();
    Ok(Some(customer as f64 / answers.len() as f64))
}
