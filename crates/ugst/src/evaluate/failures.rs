//! Goal-alignment failures of each finished conversation, in five kinds (the paper's Table 1):
//! confusion, contradiction, wrongful termination, poor length management, misprioritization.
//!
//! Rules read the per-turn and final goal states:
//! - `contradiction`: a profile or policy sub-component became MISALIGNED at some turn;
//! - `misprioritization`: the simulator stopped with turns left after some objectives succeeded
//!   while others were still INCOMPLETE (it quit after one part of the goal);
//! - `wrongful_termination`: the simulator stopped with turns left and no objective done, or went
//!   on for two or more turns after every objective had succeeded;
//! - `poor_length_management`: the turn limit was reached with an objective INCOMPLETE.
//!
//! What states cannot show is asked of a judge (one call per conversation, with `--config`):
//! `confusion` (parts of the goal forgotten or mixed up) and the other face of
//! `misprioritization` (stuck on a part that cannot be done while others wait).
//! A conversation may have several kinds; frequencies are shares of all failures found, as in
//! Table 1, next to the share of conversations with at least one.

use super::termination;
use crate::model::run::finished;
use crate::model::transcript::transcript;
use crate::model::Conversation;
use crate::prompts::{self, schemas};
use futures::{StreamExt, TryStreamExt};
use minijinja::context;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use ugst_llm::{CallRole, ChatRequest, Ledger, Llm, LlmError, Message, Sampling};
use ugst_state::{Category, GoalState, Status};

pub const KINDS: [&str; 5] = [
    "confusion",
    "contradiction",
    "wrongful_termination",
    "poor_length_management",
    "misprioritization",
];

/// One failure found in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub kind: &'static str,
    /// `rule` or `judge`.
    pub source: &'static str,
    /// The turn it shows at, when known.
    pub turn: Option<u32>,
    pub detail: String,
}

/// Failures found by the state rules alone.
pub fn rule_failures(c: &Conversation, max_turns: u32) -> Vec<Failure> {
    let mut out = Vec::new();
    if !c.finished() {
        return out;
    }
    // Contradiction: the first turn each profile/policy item became MISALIGNED.
    let mut seen = std::collections::BTreeSet::new();
    for t in &c.turns {
        for s in t.state.components.iter().filter(|s| {
            matches!(s.category, Category::UserProfile | Category::UserPolicy)
                && s.status == Status::Misaligned
        }) {
            if seen.insert(s.id.clone()) {
                out.push(Failure {
                    kind: "contradiction",
                    source: "rule",
                    turn: Some(t.index),
                    detail: format!("{} became MISALIGNED: {}", s.id, s.reason),
                });
            }
        }
    }
    let last = c.turns.last().map(|t| t.index);
    let objectives = |s: &GoalState| {
        let (mut done, mut open) = (Vec::new(), Vec::new());
        for o in s
            .components
            .iter()
            .filter(|s| s.category == Category::TaskObjective)
        {
            if o.is_success() {
                done.push(o.id.clone());
            } else {
                open.push(o.id.clone());
            }
        }
        (done, open)
    };
    let (done, open) = c.final_state.as_ref().map(objectives).unwrap_or_default();
    match termination::classify(c, max_turns) {
        "premature_stop" if !done.is_empty() => out.push(Failure {
            kind: "misprioritization",
            source: "rule",
            turn: last,
            detail: format!(
                "stopped with turns left after {} succeeded while {} stayed INCOMPLETE",
                done.join(", "),
                open.join(", ")
            ),
        }),
        "premature_stop" => out.push(Failure {
            kind: "wrongful_termination",
            source: "rule",
            turn: last,
            detail: format!(
                "stopped with turns left and no objective done ({} INCOMPLETE)",
                open.join(", ")
            ),
        }),
        "missed_stop" => {
            let at = c
                .turns
                .iter()
                .find(|t| t.state.objectives_done())
                .map(|t| t.index);
            out.push(Failure {
                kind: "wrongful_termination",
                source: "rule",
                turn: at,
                detail: format!(
                    "every objective had succeeded by turn {} but the conversation went on to turn {}",
                    at.unwrap_or(0),
                    last.unwrap_or(0)
                ),
            })
        }
        "length_exhaustion" => out.push(Failure {
            kind: "poor_length_management",
            source: "rule",
            turn: last,
            detail: format!("turn limit reached with {} INCOMPLETE", open.join(", ")),
        }),
        _ => {}
    }
    out
}

/// The judge request for what the states cannot show.
pub fn request(c: &Conversation) -> ChatRequest {
    let exchanges = c.exchanges();
    let state = c.final_state.as_ref().map(|s| {
        s.components
            .iter()
            .map(|x| format!("- [{}] {} ({})", x.id, x.text, x.status.as_str()))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let prompt = prompts::render(
        "judge_failures",
        context! {
            goal => c.goal.goal,
            state => state.unwrap_or_default(),
            transcript => transcript(&exchanges, 1),
        },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::FAILURE_JUDGEMENT, schemas::failure_judgement())
        .with_sampling(Sampling {
            temperature: Some(0.0),
            ..Default::default()
        })
}

/// Failures in a judge answer (`confusion`, and `stuck` as misprioritization).
pub fn judge_failures(answer: &Value) -> Vec<Failure> {
    let mut out = Vec::new();
    for (key, kind) in [("confusion", "confusion"), ("stuck", "misprioritization")] {
        let f = &answer[key];
        if f["found"].as_bool() == Some(true) {
            out.push(Failure {
                kind,
                source: "judge",
                turn: f["turn"].as_u64().filter(|t| *t > 0).map(|t| t as u32),
                detail: f["evidence"].as_str().unwrap_or("").to_string(),
            });
        }
    }
    out
}

/// Failures of one conversation.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationFailures {
    pub goal_id: String,
    pub failures: Vec<Failure>,
}

/// The taxonomy of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Taxonomy {
    /// Finished conversations examined.
    pub conversations: usize,
    /// Whether the judge looked at them (otherwise only the rules did).
    pub judged: bool,
    /// Conversations with at least one failure.
    pub failing: usize,
    /// Failures per kind.
    pub counts: BTreeMap<String, usize>,
    /// Each kind's share of all failures (Table 1's frequency).
    pub frequency: BTreeMap<String, f64>,
    /// Share of conversations showing each kind.
    pub conversation_rate: BTreeMap<String, f64>,
    pub per_conversation: Vec<ConversationFailures>,
}

fn summarise(per: Vec<ConversationFailures>, conversations: usize, judged: bool) -> Taxonomy {
    let mut t = Taxonomy {
        conversations,
        judged,
        ..Default::default()
    };
    let mut showing: BTreeMap<String, usize> = BTreeMap::new();
    for k in KINDS {
        t.counts.insert(k.into(), 0);
        showing.insert(k.into(), 0);
    }
    for c in &per {
        t.failing += !c.failures.is_empty() as usize;
        let mut kinds = std::collections::BTreeSet::new();
        for f in &c.failures {
            *t.counts.get_mut(f.kind).expect("known kind") += 1;
            kinds.insert(f.kind);
        }
        for k in kinds {
            *showing.get_mut(k).expect("known kind") += 1;
        }
    }
    let total: usize = t.counts.values().sum();
    for k in KINDS {
        let n = t.counts[k];
        t.frequency.insert(
            k.into(),
            if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            },
        );
        t.conversation_rate.insert(
            k.into(),
            if conversations == 0 {
                0.0
            } else {
                showing[k] as f64 / conversations as f64
            },
        );
    }
    t.per_conversation = per.into_iter().filter(|c| !c.failures.is_empty()).collect();
    t
}

/// The rules only (no model needed).
pub fn by_rules(convs: &[Conversation], max_turns: u32) -> Taxonomy {
    let per: Vec<_> = finished(convs)
        .filter(|c| c.tracked())
        .map(|c| ConversationFailures {
            goal_id: c.goal.id.clone(),
            failures: rule_failures(c, max_turns),
        })
        .collect();
    let n = per.len();
    summarise(per, n, false)
}

/// The rules, plus the judge on every finished conversation with at least one turn.
pub async fn with_judge(
    llm: &Llm,
    ledger: &Ledger,
    convs: &[Conversation],
    max_turns: u32,
    concurrency: usize,
) -> Result<Taxonomy, LlmError> {
    let jobs = finished(convs).filter(|c| c.tracked()).map(|c| async move {
        let mut failures = rule_failures(c, max_turns);
        if !c.turns.is_empty() {
            let answer = llm.structured(CallRole::Judge, ledger, &request(c)).await?;
            failures.extend(judge_failures(&answer));
        }
        Ok::<_, LlmError>(ConversationFailures {
            goal_id: c.goal.id.clone(),
            failures,
        })
    });
    let per: Vec<_> = futures::stream::iter(jobs)
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let n = per.len();
    Ok(summarise(per, n, true))
}
