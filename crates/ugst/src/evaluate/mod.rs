//! Evaluation of a run: goal alignment per category (pooled over sub-components of finished
//! conversations' final states) and the cost ledger per role; [`termination`] classifies how
//! conversations ended, [`realism`] measures how user-like the simulator is, [`compare`] puts
//! runs side by side with bootstrap confidence intervals.

pub mod compare;
pub mod diversity;
pub mod failures;
pub mod passk;
pub mod quality;
pub mod realism;
pub mod similarity;
pub mod summary;
pub mod termination;

use crate::model::{ConvStatus, Conversation};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use ugst_llm::LedgerEntry;
use ugst_state::{Category, Tally};

/// Goal alignment of one run.
#[derive(Debug, Clone, Default)]
pub struct Alignment {
    pub tally: Tally,
    /// Finished conversations (the ones counted).
    pub conversations: usize,
    pub failed: usize,
    pub unfinished: usize,
    /// Failure reasons of excluded conversations, by kind (`turn N, role` dropped).
    pub failure_reasons: BTreeMap<String, usize>,
}

pub fn alignment(convs: &[Conversation]) -> Alignment {
    let mut a = Alignment::default();
    for c in convs {
        match (c.status, &c.final_state) {
            (ConvStatus::Finished, Some(s)) => {
                a.tally.add_state(s);
                a.conversations += 1;
            }
            (ConvStatus::Failed, _) => {
                a.failed += 1;
                let reason = c.error.as_deref().unwrap_or("unknown");
                *a.failure_reasons.entry(failure_kind(reason)).or_default() += 1;
            }
            _ => a.unfinished += 1,
        }
    }
    a
}

/// The role part of a failure message (`turn 3, agent: ...` → `agent`).
fn failure_kind(reason: &str) -> String {
    let head = reason.split(':').next().unwrap_or(reason);
    head.rsplit(", ").next().unwrap_or(head).trim().to_string()
}

/// `{"categories": {...}, "average": x, "conversations": n, ...}`.
pub fn to_json(a: &Alignment) -> Value {
    let cats: serde_json::Map<String, Value> = Category::ALL
        .iter()
        .map(|cat| {
            let c = a.tally.count(*cat);
            (
                cat.as_str().to_string(),
                json!({"success": c.success, "total": c.total, "rate": c.rate()}),
            )
        })
        .collect();
    json!({
        "categories": cats,
        "average": a.tally.average(),
        "conversations": a.conversations,
        "failed": a.failed,
        "unfinished": a.unfinished,
        "failure_reasons": a.failure_reasons,
    })
}

/// Per-role cost summary of a ledger.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RoleCost {
    pub calls: u64,
    pub cache_hits: u64,
    pub failed: u64,
    pub retries: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub latency_ms: u64,
}

pub fn costs<'a>(entries: impl IntoIterator<Item = &'a LedgerEntry>) -> BTreeMap<String, RoleCost> {
    let mut m: BTreeMap<String, RoleCost> = BTreeMap::new();
    for e in entries {
        let c = m.entry(e.role.as_str().to_string()).or_default();
        c.calls += 1;
        c.cache_hits += e.cache_hit as u64;
        c.failed += (!e.ok) as u64;
        c.retries += e.retries as u64;
        c.prompt_tokens += e.prompt_tokens;
        c.completion_tokens += e.completion_tokens;
        c.latency_ms += e.latency_ms;
    }
    m
}

/// What tracking cost per conversation: the tracker's calls, tokens and model time in the ledger,
/// averaged over the conversations it judged.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TrackerCost {
    pub conversations: usize,
    pub calls: f64,
    pub prompt_tokens: f64,
    /// Of the prompt tokens, those a local model took from its KV cache instead of decoding
    /// them (0 for a backend that does not say).
    pub reused_tokens: f64,
    pub completion_tokens: f64,
    /// Sum of the tracker calls' latencies (model time; calls of one turn may overlap).
    pub seconds: f64,
}

pub fn tracker_cost<'a>(
    entries: impl IntoIterator<Item = (Option<&'a str>, &'a LedgerEntry)>,
) -> Option<TrackerCost> {
    let mut convs = std::collections::HashSet::new();
    let mut t = TrackerCost::default();
    for (goal, e) in entries {
        if e.role != ugst_llm::CallRole::Tracker {
            continue;
        }
        convs.insert(goal.unwrap_or(""));
        t.calls += 1.0;
        t.prompt_tokens += e.prompt_tokens as f64;
        t.reused_tokens += e.engine.as_ref().map_or(0.0, |f| f.cached_tokens as f64);
        t.completion_tokens += e.completion_tokens as f64;
        t.seconds += e.latency_ms as f64 / 1000.0;
    }
    t.conversations = convs.len();
    let n = t.conversations as f64;
    (n > 0.0).then(|| TrackerCost {
        calls: t.calls / n,
        prompt_tokens: t.prompt_tokens / n,
        reused_tokens: t.reused_tokens / n,
        completion_tokens: t.completion_tokens / n,
        seconds: t.seconds / n,
        ..t
    })
}

/// The agent's task reward over the finished conversations that have a task.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TaskRewards {
    pub env: String,
    /// Finished conversations scored against a task.
    pub scored: usize,
    pub mean: Option<f64>,
    /// Conversations whose final database matched the gold one (τ environments).
    pub db_match: usize,
    /// Task objectives met, of all objectives of the scored conversations (MultiWOZ).
    pub objectives_met: usize,
    pub objectives_total: usize,
    /// How the scored conversations ended (`simulator_stop`, `max_turns`, `agent_transfer`).
    pub ends: BTreeMap<String, usize>,
    /// Scored conversations whose simulator stayed aligned (see [`simulator_aligned`]).
    pub aligned_scored: usize,
    /// The mean reward over those: the agent's score without simulator noise.
    pub aligned_mean: Option<f64>,
}

pub use crate::model::simulator_aligned;

pub fn task_rewards(env: &str, convs: &[Conversation]) -> Option<TaskRewards> {
    let mut t = TaskRewards {
        env: env.to_string(),
        ..Default::default()
    };
    let (mut sum, mut aligned_sum) = (0.0, 0.0);
    for c in crate::model::run::finished(convs) {
        let Some(r) = &c.task_reward else { continue };
        t.scored += 1;
        sum += r.reward;
        if c.tracked() && c.final_state.as_ref().is_some_and(simulator_aligned) {
            t.aligned_scored += 1;
            aligned_sum += r.reward;
        }
        t.db_match += r
            .details
            .get("db_match")
            .and_then(Value::as_bool)
            .unwrap_or(false) as usize;
        let count = |k: &str| r.details.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
        t.objectives_met += count("objectives_met");
        t.objectives_total += count("objectives_total");
        let end = c.end_reason.map_or("unknown", |e| e.as_str()).to_string();
        *t.ends.entry(end).or_default() += 1;
    }
    if t.scored == 0 {
        return None;
    }
    t.mean = Some(sum / t.scored as f64);
    t.aligned_mean = (t.aligned_scored > 0).then(|| aligned_sum / t.aligned_scored as f64);
    Some(t)
}

impl TaskRewards {
    /// What the rewards are made of, in a few words: objectives met (MultiWOZ) or databases
    /// equal to the gold one (τ).
    pub fn breakdown(&self) -> String {
        if self.objectives_total > 0 {
            format!(
                "objectives met {} of {}",
                self.objectives_met, self.objectives_total
            )
        } else {
            format!("final database matched gold in {}", self.db_match)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ugst_llm::{CallRole, EngineFacts};

    fn entry(role: CallRole, prompt: u64, reused: Option<u64>) -> LedgerEntry {
        LedgerEntry {
            role,
            backend: "embedded".into(),
            model: "m".into(),
            prompt_tokens: prompt,
            completion_tokens: 10,
            reasoning_tokens: 0,
            latency_ms: 2000,
            retries: 0,
            repaired: false,
            cache_hit: false,
            ok: true,
            error: None,
            engine: reused.map(|r| EngineFacts {
                cached_tokens: r,
                first_token_ms: 0,
                grammar_ms: 0,
            }),
        }
    }

    #[test]
    fn tracker_cost_averages_the_tracker_calls_and_their_reused_prompt_tokens() {
        let entries = [
            (Some("a"), entry(CallRole::Tracker, 600, Some(500))),
            (Some("a"), entry(CallRole::Tracker, 400, None)),
            (Some("b"), entry(CallRole::Tracker, 1000, Some(100))),
            (Some("b"), entry(CallRole::Agent, 9000, Some(9000))),
        ];
        let t = tracker_cost(entries.iter().map(|(g, e)| (*g, e))).unwrap();
        assert_eq!(t.conversations, 2);
        assert_eq!(
            (t.calls, t.prompt_tokens, t.reused_tokens),
            (1.5, 1000.0, 300.0)
        );
        assert_eq!(t.seconds, 3.0);
        let line = crate::report::text::tracker_cost(&t);
        assert!(
            line.contains("1000 prompt (300 of them reused from the KV cache) + 15 completion"),
            "{line}"
        );
    }
}
