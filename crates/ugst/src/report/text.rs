//! The terminal's rendering of a run's summary: the alignment table, then one line or table per
//! metric, then the cost ledger — what `ugst eval` and the end of `ugst run` print. Every line
//! and table of a run's metrics is rendered here; `evaluate` only computes them.

use crate::evaluate::diversity::Diversity;
use crate::evaluate::failures::{Taxonomy, KINDS};
use crate::evaluate::passk::PassK;
use crate::evaluate::quality::Quality;
use crate::evaluate::realism::Realism;
use crate::evaluate::similarity::Similarity;
use crate::evaluate::summary::RunSummary;
use crate::evaluate::termination::{Termination, CLASSES};
use crate::evaluate::{Alignment, RoleCost, TaskRewards};
use std::collections::BTreeMap;
use ugst_state::Category;

/// The whole text report of one run.
pub fn summary(label: &str, s: &RunSummary) -> String {
    let mut out = alignment(label, &s.alignment);
    if let Some(r) = &s.task_reward {
        out += &task_rewards(r);
    }
    if let Some(p) = &s.pass_k {
        out += &pass_k(p);
    }
    out += &termination(&s.termination);
    out += &realism(&s.realism);
    out += &diversity(&s.diversity);
    if let Some(q) = &s.quality {
        out += &quality(q);
    }
    match &s.similarity {
        Some(x) => out += &similarity(x),
        None => out += "goal similarity: – (the encoder is not installed; run `ugst setup`)\n",
    }
    out += &failures(&s.failures);
    out += "\n";
    out += &costs(&s.costs);
    if let Some(t) = &s.tracker {
        out += &tracker_cost(t);
    }
    out
}

/// The paper's layout: Prof., Pol., T.O., Req., Pref., Avg (percent), with counts beneath.
pub fn alignment(label: &str, a: &Alignment) -> String {
    let mut head = format!("{:<20}", "run");
    let mut rates = format!("{:<20}", truncate(label, 20));
    let mut counts = format!("{:<20}", "  success/total");
    for cat in Category::ALL {
        let c = a.tally.count(cat);
        head.push_str(&format!("{:>10}", cat.short()));
        rates.push_str(&format!("{:>10}", pct(c.rate())));
        counts.push_str(&format!("{:>10}", format!("{}/{}", c.success, c.total)));
    }
    head.push_str(&format!("{:>10}", "Avg"));
    rates.push_str(&format!("{:>10}", pct(a.tally.average())));
    let mut out = format!("{head}\n{rates}\n{counts}\n");
    out.push_str(&format!("conversations: {} counted", a.conversations));
    if a.failed > 0 || a.unfinished > 0 {
        out.push_str(&format!(
            ", {} failed, {} unfinished (excluded)",
            a.failed, a.unfinished
        ));
        if !a.failure_reasons.is_empty() {
            let why: Vec<String> = a
                .failure_reasons
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            out.push_str(&format!(" — failures by stage: {}", why.join(", ")));
        }
    }
    out.push('\n');
    out
}

/// One line: what tracking cost per conversation (with the prompt tokens a local model reused
/// from its KV cache, when it says).
pub fn tracker_cost(t: &crate::evaluate::TrackerCost) -> String {
    let reused = if t.reused_tokens > 0.0 {
        format!(" ({:.0} of them reused from the KV cache)", t.reused_tokens)
    } else {
        String::new()
    };
    format!(
        "tracker per conversation: {:.1} judge calls, {:.0} prompt{reused} + {:.0} completion tokens, {:.1} s of model time ({} conversations)\n",
        t.calls, t.prompt_tokens, t.completion_tokens, t.seconds, t.conversations
    )
}

pub fn costs(m: &BTreeMap<String, RoleCost>) -> String {
    let mut out = format!(
        "{:<12}{:>8}{:>8}{:>8}{:>9}{:>12}{:>12}{:>12}\n",
        "role", "calls", "cached", "failed", "retries", "tokens in", "tokens out", "mean ms"
    );
    for (role, c) in m {
        let live = c.calls - c.cache_hits;
        let mean = c.latency_ms.checked_div(live).unwrap_or(0);
        out.push_str(&format!(
            "{:<12}{:>8}{:>8}{:>8}{:>9}{:>12}{:>12}{:>12}\n",
            role,
            c.calls,
            c.cache_hits,
            c.failed,
            c.retries,
            c.prompt_tokens,
            c.completion_tokens,
            mean
        ));
    }
    out
}

pub fn task_rewards(t: &TaskRewards) -> String {
    let ends: Vec<String> = t.ends.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let aligned = match t.aligned_mean {
        Some(m) => format!(
            "{m:.3} over the {} where the simulator stayed aligned",
            t.aligned_scored
        ),
        None => "no conversation where the simulator stayed aligned".to_string(),
    };
    format!(
        "task reward ({}): {:.3} mean over {} scored conversation(s); {aligned}; {}; ends: {}\n",
        t.env,
        t.mean.unwrap_or(0.0),
        t.scored,
        t.breakdown(),
        ends.join(", ")
    )
}

pub fn termination(t: &Termination) -> String {
    let parts: Vec<String> = CLASSES
        .iter()
        .map(|k| format!("{} {:.1}%", k.replace('_', " "), t.rates[*k] * 100.0))
        .collect();
    format!(
        "termination ({} finished): {}\n",
        t.finished,
        parts.join(", ")
    )
}

pub fn realism(r: &Realism) -> String {
    format!(
        "realism: first-turn diversity {}, gradual reveal {}, mean user words {}, role adherence {}\n",
        num(r.first_turn_diversity, false),
        num(r.gradual_reveal, true),
        num(r.mean_user_words, false),
        match r.role_adherence {
            Some(_) => num(r.role_adherence, true),
            None => "– (needs --config for a judge)".into(),
        }
    )
}

pub fn diversity(d: &Diversity) -> String {
    let f = |x: Option<f64>, p: usize| x.map_or("–".to_string(), |v| format!("{v:.p$}"));
    format!(
        "lexical diversity of user messages: MTLD {}, HD-D {} ({} tokens)\n",
        f(d.mtld, 1),
        f(d.hdd, 3),
        d.tokens
    )
}

pub fn quality(q: &Quality) -> String {
    let f = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.2}"));
    format!(
        "naturalness {} / 5, coherence {} / 5 ({} conversation(s) judged)\n",
        f(q.naturalness),
        f(q.coherence),
        q.judged
    )
}

pub fn similarity(s: &Similarity) -> String {
    let f = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.4}"));
    format!(
        "goal similarity (BERTScore{}, {} conversation(s)): F1 {}, precision {}, recall {}{}\n",
        if s.idf { ", idf" } else { "" },
        s.conversations,
        f(s.f1),
        f(s.precision),
        f(s.recall),
        if s.truncated_texts > 0 {
            format!(" ({} text(s) cut to 510 word pieces)", s.truncated_texts)
        } else {
            String::new()
        }
    ) + &s
        .note
        .as_ref()
        .map_or(String::new(), |n| format!("  note: {n}\n"))
}

/// Table 1's layout: kind, frequency among failures, share of conversations.
pub fn failures(t: &Taxonomy) -> String {
    let mut out = format!(
        "failure taxonomy ({} of {} conversation(s) with a failure; {}):\n",
        t.failing,
        t.conversations,
        if t.judged {
            "rules + judge"
        } else {
            "rules only; confusion needs --config for a judge"
        }
    );
    out.push_str(&format!(
        "  {:<24}{:>7}{:>11}{:>15}\n",
        "kind", "count", "frequency", "conversations"
    ));
    for k in KINDS {
        out.push_str(&format!(
            "  {:<24}{:>7}{:>10.0}%{:>14.0}%\n",
            k,
            t.counts[k],
            t.frequency[k] * 100.0,
            t.conversation_rate[k] * 100.0
        ));
    }
    out
}

fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}", r * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn num(x: Option<f64>, pct: bool) -> String {
    match x {
        Some(v) if pct => format!("{:.1}%", v * 100.0),
        Some(v) => format!("{v:.2}"),
        None => "–".into(),
    }
}

/// pass^k and pass@k for k = 1 … max, then the simulator-aware figures when tracked.
pub fn pass_k(p: &PassK) -> String {
    let row = |xs: &[f64]| -> String {
        xs.iter()
            .enumerate()
            .map(|(i, x)| format!("k={} {x:.3}", i + 1))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ci: Vec<String> = p
        .pass_hat_ci
        .iter()
        .enumerate()
        .map(|(i, (lo, hi))| format!("k={} [{lo:.3}, {hi:.3}]", i + 1))
        .collect();
    let mut out = format!(
        "pass^k over {} task(s) (up to {} trials each): {}\n  95% bootstrap interval over tasks: {}\npass@k: {}\n",
        p.tasks,
        p.max_k,
        row(&p.pass_hat),
        ci.join(", "),
        row(&p.pass_at)
    );
    if let (Some(a), Some(g)) = (&p.alignment_pass_hat, &p.gated_pass_hat) {
        let gated: Vec<String> = g
            .iter()
            .enumerate()
            .map(|(i, x)| match x {
                Some(x) => format!("k={} {x:.3}", i + 1),
                None => format!("k={} –", i + 1),
            })
            .collect();
        out += &format!(
            "alignment pass^k (the simulated user stayed aligned in all k trials): {}\ngated pass^k (the agent over aligned trials only): {}\n",
            row(a),
            gated.join(", ")
        );
    } else {
        out += "alignment and gated pass^k: – (not tracked yet; run `ugst track` on this run)\n";
    }
    if p.reruns > 0 {
        out += &format!(
            "reruns: {} attempt(s) ran again for trials whose simulator misaligned; each trial counts its last attempt\n",
            p.reruns
        );
    }
    out
}

/// One conversation told turn by turn: the goal's sub-components at the start, then each turn's
/// messages (cut to `width` characters) and every status the judge changed, with its reason.
pub fn turn_by_turn(c: &crate::model::Conversation, width: usize) -> String {
    let mut out = format!("conversation {} — the goal state turn by turn\n", c.goal.id);
    let Some(s0) = &c.initial_state else {
        return out + "  (not decomposed)\n";
    };
    out += "  the goal, decomposed:\n";
    for sc in &s0.components {
        out += &format!(
            "    {:<9} {:<11} {}\n",
            sc.id,
            sc.status.as_str(),
            truncate(&sc.text, width)
        );
    }
    for t in &c.turns {
        out += &format!("  turn {}\n", t.index);
        out += &format!(
            "    user:  {}\n",
            truncate(one_line(&t.user).as_str(), width)
        );
        if let Some(a) = &t.agent {
            out += &format!("    agent: {}\n", truncate(one_line(a).as_str(), width));
        }
        let changed: Vec<String> = t
            .state
            .components
            .iter()
            .flat_map(|sc| {
                sc.changes
                    .iter()
                    .filter(|ch| ch.turn == t.index)
                    .map(move |ch| {
                        format!(
                            "    → {} {} → {}: {}\n",
                            sc.id,
                            ch.from.as_str(),
                            ch.to.as_str(),
                            truncate(one_line(&ch.reason).as_str(), width)
                        )
                    })
            })
            .collect();
        match changed.is_empty() {
            true => out += "    (no status changed)\n",
            false => out += &changed.concat(),
        }
    }
    if let Some(end) = c.end_reason {
        out += &format!("  ended: {end}\n");
    }
    out + &objective_outcomes(c)
}

/// What became of each objective, said plainly: done, blocked outside the user, or not
/// finished by the user — with the simulator's own failure named when its turns ran out or it
/// stopped early (an unfinished objective is the simulator's, never the agent's, failure).
fn objective_outcomes(c: &crate::model::Conversation) -> String {
    use crate::model::EndReason;
    use ugst_state::{Category, Status};
    let Some(state) = &c.final_state else {
        return String::new();
    };
    let mut out = String::new();
    for o in state
        .components
        .iter()
        .filter(|o| o.category == Category::TaskObjective)
    {
        let what = match (o.status, c.end_reason) {
            (Status::Complete, _) => "done".to_string(),
            (Status::Attempted, _) => "attempted: blocked by the agent or the system".to_string(),
            (_, Some(EndReason::MaxTurns)) => format!(
                "not finished: the simulated user used all {} of its turns first (poor length management)",
                c.turns.len()
            ),
            (_, Some(EndReason::SimulatorStop)) => {
                "not finished: the simulated user stopped before it was done".to_string()
            }
            _ => "not finished".to_string(),
        };
        out += &format!("  {} {}: {what}\n", o.id, o.status.as_str());
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConvStatus, Conversation, EndReason, TurnRecord};
    use ugst_state::{Decomposition, GoalState, Status, Update};

    #[test]
    fn a_conversation_is_told_turn_by_turn_with_each_change_and_its_reason() {
        let d: Decomposition = serde_json::from_value(serde_json::json!({
            "user_profile": ["You are Ada."], "user_policy": [],
            "task_objectives": [{"text": "Book a table for two."}]
        }))
        .unwrap();
        let s0 = GoalState::initial(&d);
        let mut s1 = s0.clone();
        s1.apply_turn(1, &[]);
        let mut s2 = s1.clone();
        s2.apply_turn(
            2,
            &[Update {
                id: "obj-1".into(),
                status: Status::Complete,
                reason: "the agent confirmed the booking".into(),
            }],
        );
        let turn = |index: u32, user: &str, agent: &str, state: &GoalState| TurnRecord {
            index,
            user: user.into(),
            agent: Some(agent.into()),
            agent_messages: Vec::new(),
            steering: None,
            rejected: Vec::new(),
            reasoning: None,
            thinking: Default::default(),
            state: state.clone(),
        };
        let c = Conversation {
            goal: serde_json::from_value(serde_json::json!({"id": "g1", "goal": "Book a table."}))
                .unwrap(),
            status: ConvStatus::Finished,
            end_reason: Some(EndReason::SimulatorStop),
            error: None,
            initial_state: Some(s0),
            final_state: Some(s2.clone()),
            turns: vec![
                turn(1, "Hi, a table\nplease.", "For how many?", &s1),
                turn(2, "Two.", "Booked for two.", &s2),
            ],
            task_reward: None,
            closing_reasoning: None,
        };
        let text = turn_by_turn(&c, 80);
        assert!(
            text.contains("obj-1     INCOMPLETE  Book a table for two."),
            "{text}"
        );
        assert!(text.contains("user:  Hi, a table please."), "{text}");
        let (one, two) = text.split_once("  turn 2").unwrap();
        assert!(one.contains("(no status changed)"), "{text}");
        assert!(
            two.contains("→ obj-1 INCOMPLETE → COMPLETE: the agent confirmed the booking"),
            "{text}"
        );
        assert!(
            text.trim_end()
                .ends_with("ended: simulator_stop\n  obj-1 COMPLETE: done"),
            "{text}"
        );
        // Out of turns with the booking never made: INCOMPLETE, and said so.
        let mut unfinished = c.clone();
        unfinished.end_reason = Some(EndReason::MaxTurns);
        unfinished.final_state = Some(s1);
        let text = turn_by_turn(&unfinished, 80);
        assert!(
            text.trim_end().ends_with(
                "obj-1 INCOMPLETE: not finished: the simulated user used all 2 of its turns first (poor length management)"
            ),
            "{text}"
        );
    }
}
