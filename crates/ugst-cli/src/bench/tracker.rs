//! `ugst bench tracker`: what goal-state tracking costs per conversation under each tracking mode.
//! Simulates N conversations once (prompt mode, so the tracker never steers the simulator), then
//! re-tracks the same conversations with `per-component` and with `batched` judging and compares
//! judge calls, prompt and completion tokens per conversation, wall time, and how often the two
//! modes end with the same status per sub-component.

use super::synthetic_goals;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use ugst::model::{RunMeta, Settings, TrackingMode};
use ugst::progress::Quiet;
use ugst::roles::RoleModels;
use ugst::runner::{retrack_run, run_pending};
use ugst::simulate::env::ChatOnly;
use ugst::store::RunStore;
use ugst::track::Tracker;
use ugst_llm::CallRole;

#[derive(Debug, Clone, Serialize)]
pub struct TrackerRow {
    pub tracking: String,
    /// Conversations tracked to the end.
    pub conversations: usize,
    pub turns: u64,
    pub judge_calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub calls_per_conversation: f64,
    pub prompt_tokens_per_conversation: f64,
    pub completion_tokens_per_conversation: f64,
    pub wall_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrackerResult {
    /// The tracker's model (`backend model`).
    pub model: String,
    pub rows: Vec<TrackerRow>,
    /// Batched judge tokens (prompt + completion) per conversation over per-component's.
    pub batched_token_fraction: f64,
    pub batched_call_fraction: f64,
    /// Share of final sub-component statuses on which the two modes agree.
    pub final_status_agreement: f64,
}

/// Runs the benchmark with `models` (the tracker role is what is measured).
pub async fn tracker(
    models: RoleModels,
    describe: serde_json::Value,
    n: usize,
    max_turns: u32,
    concurrency: usize,
) -> Result<TrackerResult> {
    let dir = tempfile::tempdir()?;
    let settings = Settings {
        tracking: TrackingMode::Batched,
        max_turns,
        ..Settings::default()
    };
    let meta = RunMeta {
        created: 0,
        ..RunMeta::new(settings, "chat", describe)
    };
    let source = Arc::new(RunStore::create(
        &dir.path().join("source"),
        &meta,
        &synthetic_goals(n),
    )?);
    eprintln!("bench tracker: simulating {n} conversations …");
    run_pending(
        source.clone(),
        models.clone(),
        Arc::new(ChatOnly),
        settings,
        concurrency,
        &Quiet,
    )
    .await?;

    // Both modes are measured live: the simulation above tracked in batched mode, and a cached
    // answer would make that mode look free.
    let mut live = models.tracker.clone();
    live.llm = models.tracker.llm.uncached();
    let mut rows = Vec::new();
    let mut finals: Vec<BTreeMap<(String, String), String>> = Vec::new();
    for mode in [TrackingMode::PerComponent, TrackingMode::Batched] {
        eprintln!("bench tracker: re-tracking with {mode} …");
        let out = dir.path().join(mode.as_str());
        let tracker = Tracker::new(live.clone(), mode, Default::default());
        let summary = retrack_run(
            &source,
            &out,
            tracker,
            None,
            meta.clone(),
            concurrency,
            &Quiet,
        )
        .await?;
        let store = RunStore::open(&out)?;
        let convs = store.conversations()?;
        let mut row = TrackerRow {
            tracking: mode.as_str().into(),
            conversations: summary.finished,
            turns: super::turns_of(&convs),
            judge_calls: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            calls_per_conversation: 0.0,
            prompt_tokens_per_conversation: 0.0,
            completion_tokens_per_conversation: 0.0,
            wall_s: summary.wall.as_secs_f64(),
        };
        for (_, e) in store.ledger()? {
            if e.role == CallRole::Tracker {
                row.judge_calls += 1;
                row.prompt_tokens += e.prompt_tokens;
                row.completion_tokens += e.completion_tokens;
            }
        }
        let per = |x: u64| x as f64 / row.conversations.max(1) as f64;
        row.calls_per_conversation = per(row.judge_calls);
        row.prompt_tokens_per_conversation = per(row.prompt_tokens);
        row.completion_tokens_per_conversation = per(row.completion_tokens);
        rows.push(row);
        finals.push(
            convs
                .iter()
                .filter_map(|c| c.final_state.as_ref().map(|s| (&c.goal.id, s)))
                .flat_map(|(id, s)| {
                    s.components
                        .iter()
                        .map(|x| ((id.clone(), x.id.clone()), x.status.as_str().to_string()))
                })
                .collect(),
        );
    }
    let (pc, b) = (&rows[0], &rows[1]);
    let tokens =
        |r: &TrackerRow| r.prompt_tokens_per_conversation + r.completion_tokens_per_conversation;
    let shared: Vec<_> = finals[0]
        .iter()
        .filter_map(|(k, v)| finals[1].get(k).map(|w| v == w))
        .collect();
    Ok(TrackerResult {
        model: format!(
            "{} {}",
            models.tracker.llm.backend_id(),
            models.tracker.llm.model()
        ),
        batched_token_fraction: tokens(b) / tokens(pc).max(1e-9),
        batched_call_fraction: b.calls_per_conversation / pc.calls_per_conversation.max(1e-9),
        final_status_agreement: shared.iter().filter(|x| **x).count() as f64
            / shared.len().max(1) as f64,
        rows,
    })
}

pub fn table(r: &TrackerResult) -> String {
    let mut out = format!(
        "tracker model: {}\n{:<15}{:>7}{:>7}{:>8}{:>12}{:>14}{:>14}{:>9}\n",
        r.model,
        "tracking",
        "convs",
        "turns",
        "calls",
        "calls/conv",
        "prompt/conv",
        "compl/conv",
        "wall s"
    );
    for x in &r.rows {
        out.push_str(&format!(
            "{:<15}{:>7}{:>7}{:>8}{:>12.1}{:>14.0}{:>14.0}{:>9.2}\n",
            x.tracking,
            x.conversations,
            x.turns,
            x.judge_calls,
            x.calls_per_conversation,
            x.prompt_tokens_per_conversation,
            x.completion_tokens_per_conversation,
            x.wall_s
        ));
    }
    out.push_str(&format!(
        "batched / per-component: {:.1}% of the judge tokens, {:.1}% of the calls; final statuses agree on {:.1}% of sub-components\n",
        r.batched_token_fraction * 100.0,
        r.batched_call_fraction * 100.0,
        r.final_status_agreement * 100.0
    ));
    out
}
