//! `ugst bench harness`: how fast the harness itself is. Runs N conversations against the in-process
//! instant mock model at several concurrency levels and reports conversations/s, LLM calls/s,
//! harness CPU seconds and peak RSS. Writes JSON and prints a table; never asserts timings.

use crate::config::Config;
use crate::goals::{parse_goals, Goal};
use crate::runner::run_pending;
use crate::simulate::{env::ChatOnly, Settings, SimMode, DEFAULT_AGENT_STEPS};
use crate::store::{RunMeta, RunStore};
use crate::track::TrackingMode;
use anyhow::Result;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

pub const DEMO_GOALS: &str = include_str!("../goals/demo.jsonl");

/// The built-in demo goals.
pub fn demo_goals() -> Vec<Goal> {
    parse_goals("built-in demo goals", DEMO_GOALS.as_bytes()).expect("built-in goals parse")
}

/// `n` goals cycled from the demo set, with unique ids.
pub fn synthetic_goals(n: usize) -> Vec<Goal> {
    let base = demo_goals();
    (0..n)
        .map(|i| {
            let mut g = base[i % base.len()].clone();
            g.id = format!("{}#{i}", g.id);
            g
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct HarnessResult {
    pub conversations: usize,
    pub concurrency: usize,
    pub tracking: String,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub llm_calls: u64,
    pub turns: u64,
    pub conversations_per_s: f64,
    pub llm_calls_per_s: f64,
    pub cpu_ms_per_conversation: f64,
    pub peak_rss_mb: f64,
}

/// User + system CPU time of this process so far, and its peak RSS in MiB.
pub fn cpu_and_rss() -> (Duration, f64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    (tv(u.ru_utime) + tv(u.ru_stime), u.ru_maxrss as f64 / 1024.0)
}

pub async fn harness(
    n: usize,
    concurrency: usize,
    tracking: TrackingMode,
) -> Result<HarnessResult> {
    let dir = tempfile::tempdir()?;
    let cfg = Config::mock();
    let models = cfg.build()?;
    let settings = Settings {
        mode: SimMode::GoalState,
        tracking,
        max_turns: 10,
        agent_steps: DEFAULT_AGENT_STEPS,
    };
    let meta = RunMeta {
        mode: settings.mode.as_str().into(),
        tracking: tracking.as_str().into(),
        max_turns: settings.max_turns,
        agent_steps: settings.agent_steps,
        env: "chat".into(),
        goals_file: None,
        models: cfg.describe(),
        source_run: None,
        created: 0,
    };
    let store = Arc::new(RunStore::create(
        &dir.path().join("bench"),
        &meta,
        &synthetic_goals(n),
    )?);
    let (cpu0, _) = cpu_and_rss();
    let summary = run_pending(
        store.clone(),
        models,
        Arc::new(ChatOnly),
        settings,
        concurrency,
        true,
    )
    .await?;
    let (cpu1, rss) = cpu_and_rss();
    let ledger = store.ledger()?;
    let turns: u64 = store
        .conversations()?
        .iter()
        .map(|c| c.turns.len() as u64)
        .sum();
    let wall = summary.wall.as_secs_f64();
    let cpu = (cpu1 - cpu0).as_secs_f64();
    Ok(HarnessResult {
        conversations: n,
        concurrency,
        tracking: tracking.as_str().into(),
        wall_s: wall,
        cpu_s: cpu,
        llm_calls: ledger.len() as u64,
        turns,
        conversations_per_s: n as f64 / wall,
        llm_calls_per_s: ledger.len() as f64 / wall,
        cpu_ms_per_conversation: cpu * 1000.0 / n as f64,
        peak_rss_mb: rss,
    })
}

pub fn harness_table(rows: &[HarnessResult]) -> String {
    let mut out = format!(
        "{:>6}{:>7}{:>15}{:>9}{:>9}{:>10}{:>10}{:>11}{:>10}{:>10}\n",
        "convs",
        "conc",
        "tracking",
        "wall s",
        "cpu s",
        "calls",
        "conv/s",
        "calls/s",
        "cpu ms/c",
        "rss MB"
    );
    for r in rows {
        out.push_str(&format!(
            "{:>6}{:>7}{:>15}{:>9.2}{:>9.2}{:>10}{:>10.1}{:>11.0}{:>10.2}{:>10.1}\n",
            r.conversations,
            r.concurrency,
            r.tracking,
            r.wall_s,
            r.cpu_s,
            r.llm_calls,
            r.conversations_per_s,
            r.llm_calls_per_s,
            r.cpu_ms_per_conversation,
            r.peak_rss_mb
        ));
    }
    out
}
