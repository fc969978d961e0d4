//! `ugst report`: one self-contained HTML file over one or more runs — the comparison table with
//! intervals, bar charts, the additional metrics (similarity, naturalness/coherence, diversity),
//! the failure taxonomy, the agent's task reward, the cost ledger, and a conversation browser that
//! shows every turn with the goal state beside it (changes highlighted, reasons on hover/expand).
//!
//! Tables and charts are rendered here (they read without script); the browser is drawn by a
//! small inline script from the conversations embedded as JSON. Nothing is fetched from outside.

pub mod charts;
pub mod text;

use crate::evaluate::compare::{Estimate, RunEstimate};
use crate::evaluate::failures::KINDS;
use crate::evaluate::summary::RunSummary;
use crate::evaluate::termination::CLASSES;
use crate::model::Conversation;
use charts::{grouped_bars, Bar};
use minijinja::{context, AutoEscape, Environment};
use serde_json::{json, Value};
use ugst_state::{Category, GoalState};

const TEMPLATE: &str = include_str!("report.html.j2");

fn pct_cell(e: &Option<Estimate>) -> Value {
    match e {
        Some(e) => json!({
            "value": format!("{:.1}", e.value * 100.0),
            "ci": format!("[{:.1}, {:.1}]", e.low * 100.0, e.high * 100.0),
            "raw": e.value,
        }),
        None => json!({"value": "–", "ci": "", "raw": null}),
    }
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".to_string(), |v| format!("{v:.digits$}"))
}

/// Alignment columns: (header, category key or `None` for Avg).
fn columns() -> Vec<(&'static str, Option<&'static str>)> {
    Category::ALL
        .iter()
        .map(|c| (c.short(), Some(c.as_str())))
        .chain(std::iter::once(("Avg", None)))
        .collect()
}

fn cell(r: &RunEstimate, key: Option<&str>) -> Option<Estimate> {
    match key {
        Some(k) => r.categories[k],
        None => r.average,
    }
}

fn alignment_rows(runs: &[RunSummary]) -> Vec<Value> {
    let cols = columns();
    let best: Vec<Option<f64>> = cols
        .iter()
        .map(|(_, k)| {
            runs.iter()
                .filter_map(|r| cell(&r.estimate, *k).map(|e| e.value))
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        })
        .collect();
    runs.iter()
        .enumerate()
        .map(|(i, r)| {
            let cells: Vec<Value> = cols
                .iter()
                .enumerate()
                .map(|(j, (_, k))| {
                    let e = cell(&r.estimate, *k);
                    let mut v = pct_cell(&e);
                    v["best"] = json!(
                        runs.len() > 1
                            && matches!((e, best[j]), (Some(e), Some(b)) if (e.value - b).abs() < 1e-12)
                    );
                    v
                })
                .collect();
            let a = &r.alignment;
            json!({
                "label": r.label,
                "colour": charts::colour(i),
                "conversations": a.conversations,
                "failed": a.failed,
                "unfinished": a.unfinished,
                "failure_reasons": a.failure_reasons,
                "cells": cells,
            })
        })
        .collect()
}

fn alignment_chart(runs: &[RunSummary]) -> String {
    let cols = columns();
    let bars: Vec<Vec<Bar>> = cols
        .iter()
        .map(|(_, k)| {
            runs.iter()
                .map(|r| {
                    let e = cell(&r.estimate, *k);
                    Bar {
                        value: e.map(|e| e.value * 100.0),
                        low: e.map(|e| e.low * 100.0),
                        high: e.map(|e| e.high * 100.0),
                    }
                })
                .collect()
        })
        .collect();
    grouped_bars(
        "Goal alignment per category (%, 95% bootstrap interval)",
        &cols.iter().map(|c| c.0.to_string()).collect::<Vec<_>>(),
        &runs.iter().map(|r| r.label.clone()).collect::<Vec<_>>(),
        &bars,
        100.0,
        "%",
    )
}

fn failure_chart(runs: &[RunSummary]) -> String {
    let bars: Vec<Vec<Bar>> = KINDS
        .iter()
        .map(|k| {
            runs.iter()
                .map(|r| Bar {
                    value: Some(r.failures.conversation_rate[*k] * 100.0),
                    low: None,
                    high: None,
                })
                .collect()
        })
        .collect();
    grouped_bars(
        "Conversations showing each failure (%)",
        &KINDS
            .iter()
            .map(|k| k.replace('_', " "))
            .collect::<Vec<_>>(),
        &runs.iter().map(|r| r.label.clone()).collect::<Vec<_>>(),
        &bars,
        100.0,
        "%",
    )
}

fn metric_rows(runs: &[RunSummary]) -> Vec<Value> {
    runs.iter()
        .map(|r| {
            let sim = r.similarity.as_ref();
            let q = r.quality.as_ref();
            json!({
                "label": r.label,
                "bertscore": opt(sim.and_then(|s| s.f1), 4),
                "bertscore_pr": sim.map_or(String::new(), |s| format!("P {} / R {}", opt(s.precision, 3), opt(s.recall, 3))),
                "naturalness": opt(q.and_then(|q| q.naturalness), 2),
                "coherence": opt(q.and_then(|q| q.coherence), 2),
                "mtld": opt(r.diversity.mtld, 1),
                "hdd": opt(r.diversity.hdd, 3),
                "tokens": r.diversity.tokens,
                "first_turn_diversity": opt(r.realism.first_turn_diversity, 2),
                "gradual_reveal": opt(r.realism.gradual_reveal.map(|x| x * 100.0), 1),
                "mean_user_words": opt(r.realism.mean_user_words, 1),
                "role_adherence": opt(r.realism.role_adherence.map(|x| x * 100.0), 1),
                "termination": CLASSES.iter().map(|k| format!("{:.0}", r.termination.rates.get(*k).copied().unwrap_or(0.0) * 100.0)).collect::<Vec<_>>(),
                "failures": KINDS.iter().map(|k| json!({
                    "count": r.failures.counts[*k],
                    "frequency": format!("{:.0}", r.failures.frequency[*k] * 100.0),
                    "rate": format!("{:.0}", r.failures.conversation_rate[*k] * 100.0),
                })).collect::<Vec<_>>(),
                "failing": r.failures.failing,
                "examined": r.failures.conversations,
                "judged": r.failures.judged,
                "task": r.task_reward.as_ref().map(|t| json!({
                    "env": t.env,
                    "scored": t.scored,
                    "mean": opt(t.mean, 3),
                    "aligned_scored": t.aligned_scored,
                    "aligned_mean": opt(t.aligned_mean, 3),
                    "breakdown": t.breakdown(),
                })),
                "pass_k": r.pass_k.as_ref().map(|p| {
                    let f = |x: &f64| format!("{x:.3}");
                    let rows: Vec<Value> = (0..p.max_k).map(|i| json!({
                        "k": i + 1,
                        "pass_hat": f(&p.pass_hat[i]),
                        "pass_hat_ci": format!("[{:.3}, {:.3}]", p.pass_hat_ci[i].0, p.pass_hat_ci[i].1),
                        "pass_at": f(&p.pass_at[i]),
                        "alignment": p.alignment_pass_hat.as_ref().map(|a| f(&a[i])),
                        "gated": p.gated_pass_hat.as_ref().and_then(|g| g[i].as_ref().map(f)),
                    })).collect();
                    json!({"tasks": p.tasks, "max_k": p.max_k, "rows": rows})
                }),
                "costs": r.costs.iter().map(|(role, c)| {
                    let live = c.calls - c.cache_hits;
                    json!({
                        "role": role, "calls": c.calls, "cached": c.cache_hits, "failed": c.failed,
                        "retries": c.retries, "prompt_tokens": c.prompt_tokens,
                        "completion_tokens": c.completion_tokens,
                        "mean_ms": c.latency_ms.checked_div(live).unwrap_or(0),
                    })
                }).collect::<Vec<_>>(),
                "meta": {
                    "mode": r.meta.settings.mode, "tracking": r.meta.settings.tracking, "env": r.meta.env,
                    "max_turns": r.meta.settings.max_turns, "verify": r.meta.settings.verify, "models": r.meta.models,
                },
            })
        })
        .collect()
}

fn components(s: &GoalState, before: Option<&GoalState>) -> Vec<Value> {
    s.components
        .iter()
        .map(|c| {
            let prev = before.and_then(|b| b.get(&c.id)).map(|p| p.status);
            json!({
                "id": c.id,
                "category": c.category.short(),
                "text": c.text,
                "status": c.status.as_str(),
                "success": c.is_success(),
                "changed": prev.is_some_and(|p| p != c.status),
                "from": prev.filter(|p| *p != c.status).map(|p| p.as_str()),
                "reason": c.reason,
            })
        })
        .collect()
}

/// One conversation as the browser reads it.
fn conversation_json(c: &Conversation, failures: &[crate::evaluate::failures::Failure]) -> Value {
    let mut before = c.initial_state.as_ref();
    let turns: Vec<Value> = c
        .turns
        .iter()
        .map(|t| {
            let tools: Vec<Value> = t
                .agent_messages
                .iter()
                .flat_map(|m| {
                    let calls = m.tool_calls.iter().map(|tc| {
                        json!({"kind": "call", "text": format!("{}({})", tc.function.name, tc.function.arguments)})
                    });
                    let obs = (m.role == ugst_llm::Role::Tool)
                        .then(|| json!({"kind": "result", "text": m.content_str()}));
                    calls.chain(obs).collect::<Vec<_>>()
                })
                .collect();
            let v = json!({
                "index": t.index,
                "user": t.user,
                "agent": t.agent,
                "tools": tools,
                "rejected": t.rejected,
                "state": components(&t.state, before),
            });
            before = Some(&t.state);
            v
        })
        .collect();
    json!({
        "id": c.goal.id,
        "goal": c.goal.goal,
        "status": format!("{:?}", c.status).to_lowercase(),
        "end": c.end_reason,
        "error": c.error,
        "reward": c.task_reward.as_ref().map(|r| r.reward),
        "failures": failures,
        "initial": c.initial_state.as_ref().map(|s| components(s, None)),
        "turns": turns,
    })
}

fn browser_data(runs: &[RunSummary], max_conversations: usize) -> Value {
    let list: Vec<Value> = runs
        .iter()
        .map(|r| {
            let convs: Vec<Value> = r
                .conversations
                .iter()
                .take(max_conversations)
                .map(|c| {
                    let f = r
                        .failures
                        .per_conversation
                        .iter()
                        .find(|x| x.goal_id == c.goal.id)
                        .map_or(&[][..], |x| x.failures.as_slice());
                    conversation_json(c, f)
                })
                .collect();
            json!({
                "label": r.label,
                "total": r.conversations.len(),
                "conversations": convs,
            })
        })
        .collect();
    json!({ "runs": list })
}

/// JSON that can sit inside `<script>`: `<`, `>`, `&` and the line separators escaped.
fn script_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The whole report as one HTML string.
pub fn render(
    runs: &[RunSummary],
    max_conversations: usize,
    generated: &str,
) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_trim_blocks(true);
    env.add_template("report", TEMPLATE)?;
    env.get_template("report")?.render(context! {
        generated => generated,
        columns => columns().iter().map(|c| c.0).collect::<Vec<_>>(),
        rows => alignment_rows(runs),
        metrics => metric_rows(runs),
        kinds => KINDS.iter().map(|k| k.replace('_', " ")).collect::<Vec<_>>(),
        classes => CLASSES.iter().map(|k| k.replace('_', " ")).collect::<Vec<_>>(),
        alignment_chart => alignment_chart(runs),
        failure_chart => failure_chart(runs),
        data => script_json(&browser_data(runs, max_conversations)),
        max_conversations => max_conversations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script() {
        let s = script_json(&json!({"t": "</script><b>&\u{2028}"}));
        assert!(!s.contains("</"));
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["t"], "</script><b>&\u{2028}");
    }
}
