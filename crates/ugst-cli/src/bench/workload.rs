//! `ugst bench embedded --workload ugst`: the embedded model on the calls a real run makes. It
//! runs τ-retail tasks end to end (decomposer, goal-state simulator with its steering note, agent
//! with the retail tools, delta tracker), re-tracks the same conversations in the batched and
//! per-component modes, and reports per role what the engine measured: prompt and generated
//! tokens/s, time to first token, time in grammar-constrained sampling and the share of prompt
//! tokens served from the KV cache. Nothing is answered from the response cache.

use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use ugst::config::Config;
use ugst::model::{RunMeta, Settings, SimMode, TrackingMode};
use ugst::store::RunStore;
use ugst::track::Tracker;
use ugst_llm::LedgerEntry;

/// One role's (or one tracking mode's) calls, summed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RoleRow {
    pub role: String,
    pub calls: u64,
    pub prompt_tokens: u64,
    /// Prompt tokens whose KV was reused.
    pub cached_tokens: u64,
    pub completion_tokens: u64,
    /// Summed call latencies.
    pub model_s: f64,
    pub first_token_s: f64,
    pub grammar_s: f64,
}

impl RoleRow {
    fn add(&mut self, e: &LedgerEntry) {
        let f = e.engine.unwrap_or_default();
        self.calls += 1;
        self.prompt_tokens += e.prompt_tokens;
        self.cached_tokens += f.cached_tokens;
        self.completion_tokens += e.completion_tokens;
        self.model_s += e.latency_ms as f64 / 1000.0;
        self.first_token_s += f.first_token_ms as f64 / 1000.0;
        self.grammar_s += f.grammar_ms as f64 / 1000.0;
    }
    /// Newly decoded prompt tokens per second of prefill (time to first token).
    pub fn prompt_tok_s(&self) -> f64 {
        (self.prompt_tokens - self.cached_tokens) as f64 / self.first_token_s.max(1e-9)
    }
    /// Generated tokens per second after the first token.
    pub fn gen_tok_s(&self) -> f64 {
        let gen_s = self.model_s - self.first_token_s;
        self.completion_tokens.saturating_sub(self.calls) as f64 / gen_s.max(1e-9)
    }
    pub fn reused_share(&self) -> f64 {
        self.cached_tokens as f64 / self.prompt_tokens.max(1) as f64
    }
    pub fn grammar_share(&self) -> f64 {
        self.grammar_s / self.model_s.max(1e-9)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadResult {
    pub model: String,
    pub threads: usize,
    pub tasks: usize,
    pub max_turns: u32,
    pub concurrency: usize,
    pub turns: u64,
    /// Wall time of the simulated run (delta tracking) and of each re-tracking.
    pub run_wall_s: f64,
    pub retrack_wall_s: BTreeMap<String, f64>,
    pub roles: Vec<RoleRow>,
    /// Model time of the run's calls as made, and as estimated had every call decoded its whole
    /// prompt (its cached tokens at the measured prefill speed).
    pub model_s_with_reuse: f64,
    pub model_s_without_reuse_estimate: f64,
}

fn rows_of(
    ledger: &[(Option<String>, LedgerEntry)],
    only: Option<&str>,
    tracker_label: &str,
) -> Vec<RoleRow> {
    let mut by: BTreeMap<String, RoleRow> = BTreeMap::new();
    for (_, e) in ledger {
        if e.cache_hit || !e.ok {
            continue;
        }
        if only.is_some_and(|o| o != e.role.as_str()) {
            continue;
        }
        let name = match e.role.as_str() {
            "tracker" => tracker_label.to_string(),
            r => r.to_string(),
        };
        let row = by.entry(name.clone()).or_insert_with(|| RoleRow {
            role: name,
            ..RoleRow::default()
        });
        row.add(e);
    }
    by.into_values().collect()
}

/// Runs the workload: `tasks` τ-retail tasks from `data`, up to `max_turns` turns each.
pub async fn workload(
    model: &str,
    data: &Path,
    tasks: usize,
    max_turns: u32,
    concurrency: usize,
    retrack: &[TrackingMode],
) -> Result<WorkloadResult> {
    let mut cfg = Config::embedded(model);
    cfg.cache.enabled = false;
    let models = crate::backends::connect(&cfg).await?;
    let (environment, goals) = ugst::simulate::env::goals_for(
        Some("tau-retail"),
        Some(data),
        None,
        "test",
        &[],
        Some(tasks),
    )?;
    let dir = tempfile::tempdir()?;
    let settings = Settings {
        mode: SimMode::GoalState,
        tracking: TrackingMode::Delta,
        max_turns,
        ..Settings::default()
    };
    let meta = RunMeta::new(settings, environment.name(), cfg.describe());
    eprintln!(
        "workload: {} τ-retail task(s), up to {max_turns} turns, goal-state simulator, delta tracker …",
        goals.len()
    );
    let bar = crate::progress::terminal(false);
    let run_dir = dir.path().join("run");
    let counts = ugst::runner::start(
        &run_dir,
        &meta,
        &goals,
        models.clone(),
        environment,
        concurrency,
        bar.as_ref(),
    )
    .await?;
    if counts.finished == 0 {
        anyhow::bail!(
            "no conversation of the workload finished ({} failed)",
            counts.failed
        );
    }
    let store = RunStore::open(&run_dir)?;
    let ledger = store.ledger()?;
    let turns = super::turns_of(&store.conversations()?);
    let mut roles = rows_of(&ledger, None, "tracker delta");
    let with: f64 = roles.iter().map(|r| r.model_s).sum();
    let without = without_reuse_s(&roles);
    let mut retrack_wall_s = BTreeMap::new();
    for &mode in retrack {
        eprintln!("workload: the same conversations re-tracked {mode} …");
        let out = dir.path().join(mode.as_str());
        let s = ugst::runner::retrack_run(
            &store,
            &out,
            Tracker::new(models.tracker.clone(), mode, Default::default()),
            None,
            store.meta()?,
            concurrency,
            bar.as_ref(),
        )
        .await
        .with_context(|| format!("re-tracking {mode}"))?;
        retrack_wall_s.insert(mode.as_str().to_string(), s.wall.as_secs_f64());
        let l = RunStore::open(&out)?.ledger()?;
        roles.extend(rows_of(&l, Some("tracker"), &format!("tracker {mode}")));
    }
    Ok(WorkloadResult {
        model: model.to_string(),
        threads: std::thread::available_parallelism().map_or(0, |n| n.get()),
        tasks: goals.len(),
        max_turns,
        concurrency,
        turns,
        run_wall_s: counts.wall.as_secs_f64(),
        retrack_wall_s,
        roles,
        model_s_with_reuse: with,
        model_s_without_reuse_estimate: without,
    })
}

/// Model time had every cached prompt token been decoded: each role's at its own prefill
/// speed when measured over at least `MEASURED` decoded tokens, else at the whole run's. A role
/// that decoded only a few tokens per call (the agent whose system message came from the prefix
/// store) shows mostly per-call overhead, which would inflate the estimate.
pub fn without_reuse_s(roles: &[RoleRow]) -> f64 {
    const MEASURED: u64 = 1000;
    let decoded = |r: &RoleRow| r.prompt_tokens - r.cached_tokens;
    let run_speed = roles.iter().map(decoded).sum::<u64>() as f64
        / roles.iter().map(|r| r.first_token_s).sum::<f64>().max(1e-9);
    roles
        .iter()
        .map(|r| {
            let speed = if decoded(r) >= MEASURED {
                r.prompt_tok_s()
            } else {
                run_speed
            };
            r.model_s + r.cached_tokens as f64 / speed.max(1e-9)
        })
        .sum()
}

pub fn table(r: &WorkloadResult) -> String {
    let mut out = format!(
        "model {} ({} threads): {} τ-retail task(s), {} turns, run {:.0}s wall\n\
         {:<24}{:>6}{:>9}{:>8}{:>8}{:>10}{:>10}{:>9}{:>10}{:>9}\n",
        r.model,
        r.threads,
        r.tasks,
        r.turns,
        r.run_wall_s,
        "role",
        "calls",
        "prompt",
        "reused",
        "gen",
        "prompt/s",
        "gen/s",
        "ttft s",
        "grammar",
        "s/call"
    );
    for x in &r.roles {
        out.push_str(&format!(
            "{:<24}{:>6}{:>9}{:>7.0}%{:>8}{:>10.1}{:>10.1}{:>9.1}{:>9.0}%{:>9.1}\n",
            x.role,
            x.calls,
            x.prompt_tokens / x.calls.max(1),
            x.reused_share() * 100.0,
            x.completion_tokens / x.calls.max(1),
            x.prompt_tok_s(),
            x.gen_tok_s(),
            x.first_token_s / x.calls.max(1) as f64,
            x.grammar_share() * 100.0,
            x.model_s / x.calls.max(1) as f64,
        ));
    }
    out.push_str(&format!(
        "(prompt and gen are per call; grammar = share of model time building and checking the answer grammar)\n\
         run's model time {:.0}s with KV reuse; without reuse (every cached token decoded at the role's prefill speed) ≈ {:.0}s — {:.1}x\n",
        r.model_s_with_reuse,
        r.model_s_without_reuse_estimate,
        r.model_s_without_reuse_estimate / r.model_s_with_reuse.max(1e-9)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ugst_llm::{CallRole, EngineFacts};

    fn entry(
        role: CallRole,
        prompt: u64,
        cached: u64,
        completion: u64,
        ms: u64,
        ttft: u64,
    ) -> (Option<String>, LedgerEntry) {
        (
            Some("g".into()),
            LedgerEntry {
                role,
                backend: "embedded:m".into(),
                model: "m".into(),
                prompt_tokens: prompt,
                completion_tokens: completion,
                reasoning_tokens: 0,
                latency_ms: ms,
                retries: 0,
                repaired: false,
                cache_hit: false,
                ok: true,
                error: None,
                engine: Some(EngineFacts {
                    cached_tokens: cached,
                    first_token_ms: ttft,
                    grammar_ms: ms / 10,
                }),
            },
        )
    }

    #[test]
    fn rows_sum_each_role_and_rates_use_only_new_prompt_tokens() {
        let ledger = vec![
            entry(CallRole::Agent, 1000, 0, 11, 12_000, 10_000),
            entry(CallRole::Agent, 1100, 1000, 11, 4_000, 2_000),
            entry(CallRole::Tracker, 500, 250, 6, 3_000, 2_500),
        ];
        let rows = rows_of(&ledger, None, "tracker delta");
        assert_eq!(rows.len(), 2);
        let agent = &rows[0];
        assert_eq!((agent.role.as_str(), agent.calls), ("agent", 2));
        // 1100 new prompt tokens in 12 s to first token; 20 tokens after the first in 4 s.
        assert!((agent.prompt_tok_s() - 1100.0 / 12.0).abs() < 1e-9);
        assert!((agent.gen_tok_s() - 5.0).abs() < 1e-9);
        assert!((agent.reused_share() - 1000.0 / 2100.0).abs() < 1e-9);
        assert!((agent.grammar_share() - 0.1).abs() < 1e-9);
        assert_eq!(rows[1].role, "tracker delta");
        let only = rows_of(&ledger, Some("tracker"), "tracker batched");
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].role, "tracker batched");
    }

    #[test]
    fn a_role_that_decoded_few_tokens_is_estimated_at_the_runs_prefill_speed() {
        let ledger = vec![
            // 2000 new tokens in 20 s: 100 tokens/s, its own speed.
            entry(CallRole::Tracker, 2000, 0, 5, 25_000, 20_000),
            // 3000 tokens, 2990 of them from the cache: 10 new ones in 1 s.
            entry(CallRole::Agent, 3000, 2990, 5, 2_000, 1_000),
        ];
        let rows = rows_of(&ledger, None, "tracker delta");
        // The run: 2010 new tokens in 21 s.
        let run = 2010.0 / 21.0;
        let want = 25.0 + (2.0 + 2990.0 / run);
        assert!(
            (without_reuse_s(&rows) - want).abs() < 1e-6,
            "{}",
            without_reuse_s(&rows)
        );
    }
}
