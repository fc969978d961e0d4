//! A τ²-bench leaderboard submission from a run: `submission.json` in τ²'s own schema (pass^1..4
//! as percentages per domain, the average cost per trajectory where the log gives one; no field
//! τ² does not know, since its schema forbids extras), and beside it `ugst_alignment.json` with
//! what only a tracked simulator gives: alignment and gated pass^k, the interval of pass^k, the
//! share of failed trials whose simulated user misaligned, and the model tokens per
//! conversation.

use crate::evaluate::passk::{pass_k, PassK};
use crate::evaluate::{costs, simulator_aligned};
use crate::model::Conversation;
use serde_json::{json, Value};

/// Who submits: the fields τ²'s schema requires that a run cannot know.
#[derive(Debug, Clone)]
pub struct Submitter {
    pub model_name: String,
    pub organization: String,
    pub email: String,
    /// YYYY-MM-DD.
    pub date: String,
}

/// τ²'s domain for a run's environment, if it has one.
pub fn domain(env: &str) -> Option<&'static str> {
    match env {
        "tau-retail" | "tau2-retail" => Some("retail"),
        "tau-airline" | "tau2-airline" => Some("airline"),
        "tau2-telecom" => Some("telecom"),
        _ => None,
    }
}

/// The two files' contents, or why a submission cannot be made from these conversations.
pub fn submission(
    convs: &[Conversation],
    ledger: &[ugst_llm::LedgerEntry],
    env: &str,
    user_simulator: &str,
    who: &Submitter,
) -> Result<(Value, Value), String> {
    let domain = domain(env).ok_or_else(|| {
        format!("the run's environment {env:?} is no τ² domain (retail, airline or telecom)")
    })?;
    let p: PassK = pass_k(convs).ok_or(
        "no task has two or more finished, scored trials: pass^k needs trials (`ugst run --trials K` or an imported log with several)",
    )?;
    let mut results = json!({});
    for k in 1..=p.max_k.min(4) {
        results[format!("pass_{k}")] = json!(round(p.pass_hat[k - 1] * 100.0, 2));
    }
    // The log's own cost per trajectory (τ² logs carry agent_cost), when every trial has it.
    let scored: Vec<&Conversation> = convs
        .iter()
        .filter(|c| c.finished() && c.task_reward.is_some())
        .collect();
    let agent_costs: Vec<f64> = scored
        .iter()
        .filter_map(|c| {
            c.task_reward
                .as_ref()?
                .details
                .pointer("/agent_cost")?
                .as_f64()
        })
        .collect();
    if !agent_costs.is_empty() && agent_costs.len() == scored.len() {
        results["cost"] = json!(round(
            agent_costs.iter().sum::<f64>() / agent_costs.len() as f64,
            5
        ));
    }
    let sub = json!({
        "model_name": who.model_name,
        "organization": who.organization,
        "submission_date": who.date,
        "contact_info": {"email": who.email},
        "results": {domain: results},
        "is_new": false,
        "methodology": {
            "evaluation_date": who.date,
            "user_simulator": user_simulator,
            "notes": format!(
                "Exported by ugst from {} trial(s) of {} task(s). Simulator alignment (alignment and gated pass^k) is in ugst_alignment.json beside this file.",
                scored.len(), p.tasks
            ),
        },
    });
    let failed: Vec<&&Conversation> = scored
        .iter()
        .filter(|c| {
            c.task_reward
                .as_ref()
                .is_some_and(|r| (r.reward - 1.0).abs() > 1e-6)
        })
        .collect();
    let tracked = |c: &Conversation| {
        c.final_state
            .as_ref()
            .filter(|s| !s.components.is_empty())
            .map(simulator_aligned)
    };
    let failed_tracked: Vec<bool> = failed.iter().filter_map(|c| tracked(c)).collect();
    let misaligned_share = (!failed_tracked.is_empty()).then(|| {
        failed_tracked.iter().filter(|aligned| !**aligned).count() as f64
            / failed_tracked.len() as f64
    });
    let n = convs.len().max(1) as f64;
    let tokens: serde_json::Map<String, Value> = costs(ledger)
        .into_iter()
        .map(|(role, c)| {
            (
                role,
                json!({"prompt_tokens": c.prompt_tokens as f64 / n,
                       "completion_tokens": c.completion_tokens as f64 / n}),
            )
        })
        .collect();
    let side = json!({
        "domain": domain,
        "tasks": p.tasks,
        "max_k": p.max_k,
        "pass_hat": p.pass_hat,
        "pass_hat_ci95": p.pass_hat_ci,
        "pass_at": p.pass_at,
        "alignment_pass_hat": p.alignment_pass_hat,
        "gated_pass_hat": p.gated_pass_hat,
        "failed_trials": failed.len(),
        "failed_trials_with_misaligned_simulator": misaligned_share,
        "tokens_per_conversation": tokens,
    });
    Ok((sub, side))
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}
