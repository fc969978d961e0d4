//! Naturalness and coherence of the simulated user, each 1–5, from one judge call per finished
//! conversation (our own rubric; naturalness: grammar, fit to context, conversational style;
//! coherence: goal progression, topic continuity, fitting responses), averaged per run.

use crate::model::transcript::transcript;
use crate::model::Conversation;
use crate::prompts::{self, schemas};
use futures::{StreamExt, TryStreamExt};
use minijinja::context;
use serde::Serialize;
use ugst_llm::{CallRole, ChatRequest, Ledger, Llm, LlmError, Message, Sampling};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quality {
    pub judged: usize,
    pub naturalness: Option<f64>,
    pub coherence: Option<f64>,
}

pub fn request(c: &Conversation) -> ChatRequest {
    let exchanges = c.exchanges();
    let prompt = prompts::render(
        "judge_quality",
        context! { transcript => transcript(&exchanges, 1) },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(
            schemas::CONVERSATION_QUALITY,
            schemas::conversation_quality(),
        )
        .with_sampling(Sampling {
            temperature: Some(0.0),
            ..Default::default()
        })
}

/// Judges every finished conversation with at least one turn.
pub async fn judge(
    llm: &Llm,
    ledger: &Ledger,
    convs: &[Conversation],
    concurrency: usize,
) -> Result<Quality, LlmError> {
    let jobs = convs
        .iter()
        .filter(|c| c.finished() && !c.turns.is_empty())
        .map(|c| {
            let req = request(c);
            async move { llm.structured(CallRole::Judge, ledger, &req).await }
        });
    let answers: Vec<_> = futures::stream::iter(jobs)
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let mean = |k: &str| {
        let xs: Vec<f64> = answers.iter().filter_map(|v| v[k].as_f64()).collect();
        (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
    };
    Ok(Quality {
        judged: answers.len(),
        naturalness: mean("naturalness"),
        coherence: mean("coherence"),
    })
}
