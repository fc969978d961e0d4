//! `ugst bench harness`: how fast the harness itself is. Runs N conversations against the in-process
//! instant mock model at several concurrency levels and reports conversations/s, LLM calls/s,
//! harness CPU seconds and peak RSS. Writes JSON and prints a table; never asserts timings.
//! `bench memory` is one large harness run in its own process (peak RSS is per process);
//! `tracker` (judge cost per tracking mode) lives in its own module.

pub mod ablations;
pub mod counterfactual;
pub mod labelled;
pub mod tracker;
pub mod workload;

use anyhow::Result;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use ugst::model::{Exchange, Goal, RunMeta, Settings, SimMode, TrackingMode};
use ugst::progress::Quiet;
use ugst::runner::run_pending;
use ugst::simulate::env::ChatOnly;
use ugst::store::RunStore;

pub use ugst::goals::{demo_goals, synthetic_goals, DEMO_GOALS};

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

/// Turns stored over all of a run's conversations.
pub fn turns_of(convs: &[ugst::model::Conversation]) -> u64 {
    convs.iter().map(|c| c.turns.len() as u64).sum()
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
    let models = ugst_mock::role_models();
    let settings = Settings {
        mode: SimMode::GoalState,
        tracking,
        max_turns: 10,
        ..Settings::default()
    };
    let meta = RunMeta {
        created: 0,
        ..RunMeta::new(settings, "chat", ugst::config::Config::mock().describe())
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
        &Quiet,
    )
    .await?;
    let (cpu1, rss) = cpu_and_rss();
    let ledger = store.ledger()?;
    let turns = turns_of(&store.conversations()?);
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

/// Figures of `ugst bench memory`.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    pub conversations: usize,
    pub concurrency: usize,
    pub turns: u64,
    pub llm_calls: u64,
    /// Resident memory before the run started.
    pub baseline_rss_mb: f64,
    pub peak_rss_mb: f64,
    pub growth_mb: f64,
    pub wall_s: f64,
}

/// One harness run of `n` conversations; peak RSS against the process's RSS before it.
pub async fn memory(n: usize, concurrency: usize) -> Result<MemoryResult> {
    let (_, baseline) = cpu_and_rss();
    let r = harness(n, concurrency, TrackingMode::PerComponent).await?;
    Ok(MemoryResult {
        conversations: n,
        concurrency,
        turns: r.turns,
        llm_calls: r.llm_calls,
        baseline_rss_mb: baseline,
        peak_rss_mb: r.peak_rss_mb,
        growth_mb: r.peak_rss_mb - baseline,
        wall_s: r.wall_s,
    })
}

pub fn memory_table(r: &MemoryResult) -> String {
    format!(
        "{:>6}{:>7}{:>8}{:>9}{:>14}{:>10}{:>11}{:>9}\n{:>6}{:>7}{:>8}{:>9}{:>14.1}{:>10.1}{:>11.1}{:>9.2}\n",
        "convs", "conc", "turns", "calls", "baseline MB", "peak MB", "growth MB", "wall s",
        r.conversations, r.concurrency, r.turns, r.llm_calls, r.baseline_rss_mb, r.peak_rss_mb,
        r.growth_mb, r.wall_s
    )
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

/// Figures of `ugst bench embedded`.
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddedResult {
    pub model: String,
    pub threads: usize,
    pub prompt_tokens: u32,
    pub engine_prompt_tok_s: f64,
    pub engine_gen_tok_s: f64,
    pub engine_ttft_ms: f64,
    pub plain_prompt_tok_s: f64,
    pub plain_gen_tok_s: f64,
    /// Engine generation speed over the plain loop's (1.0 = no overhead).
    pub gen_ratio_vs_plain: f64,
    pub multi_turn_turns: u32,
    pub multi_turn_with_reuse_s: f64,
    pub multi_turn_without_reuse_s: f64,
    pub multi_turn_speedup: f64,
    /// Share of prompt tokens served from the KV cache in the reuse run.
    pub multi_turn_reused_share: f64,
    /// Generated tokens/s of one request alone and of four together, prompts already cached
    /// (the regime of a conversation's later calls).
    pub one_in_flight_gen_tok_s: f64,
    pub four_in_flight_gen_tok_s: f64,
    pub concurrency_gain: f64,
}

fn conversation_layout(goal: &Goal, turns: usize) -> ugst_embedded::chat::Layout {
    let history: Vec<Exchange> = (0..turns)
        .map(|i| Exchange {
            user: format!("Message {} from the customer about: {}", i + 1, goal.goal),
            agent: Some(format!(
                "Thank you. For point {} I have checked the options and found two that match. Would you like the first one, or shall I look for more?",
                i + 1
            )),
        })
        .collect();
    let req = ugst::simulate::user::request(&goal.goal, 10, &history, None);
    ugst_embedded::chat::layout(&req, None)
}

/// Engine vs plain loop on one prompt, then a 10-turn conversation with and without KV reuse.
pub fn embedded(model: &str) -> Result<EmbeddedResult> {
    use ugst_embedded::engine::{
        plain_generate, render_with, Engine, EngineOptions, GenParams, Prompt,
    };
    let path = crate::backends::resolve_embedded(model).map_err(anyhow::Error::msg)?;
    let goal = demo_goals().remove(0);
    let single = render_with(&path, &conversation_layout(&goal, 3)).map_err(anyhow::Error::msg)?;
    let greedy = |max| GenParams {
        temperature: 0.0,
        top_p: 1.0,
        seed: 0,
        max_tokens: max,
        grammar: None,
        score: Vec::new(),
    };
    let mut opts = EngineOptions::new(path.clone());
    opts.n_seq = 1;
    opts.n_ctx = 4096;
    opts.kv_reuse = false;
    eprintln!("engine: one prompt …");
    let fresh = Engine::start(opts.clone()).map_err(anyhow::Error::msg)?;
    let g = fresh
        .generate_blocking(Prompt::Text(single.clone()), greedy(96))
        .map_err(anyhow::Error::msg)?;
    let gen_s = (g.total - g.time_to_first_token).as_secs_f64();
    let engine_gen = (g.completion_tokens.saturating_sub(1)) as f64 / gen_s.max(1e-9);
    eprintln!("plain loop: same prompt …");
    let p = plain_generate(&path, &single, g.completion_tokens.max(1), 4096)
        .map_err(anyhow::Error::msg)?;
    let plain_gen = p.completion_tokens as f64 / p.generation_time.as_secs_f64().max(1e-9);

    let turns = 10u32;
    let run_turns = |engine: &Engine| -> Result<(f64, f64)> {
        let start = std::time::Instant::now();
        let (mut reused, mut total) = (0u64, 0u64);
        for t in 0..turns as usize {
            let out = engine
                .generate_blocking(Prompt::Chat(conversation_layout(&goal, t)), greedy(24))
                .map_err(anyhow::Error::msg)?;
            reused += out.reused_tokens as u64;
            total += out.prompt_tokens as u64;
        }
        Ok((
            start.elapsed().as_secs_f64(),
            reused as f64 / total.max(1) as f64,
        ))
    };
    eprintln!("multi-turn: {turns} turns without KV reuse …");
    let (without, _) = run_turns(&fresh)?;
    drop(fresh);
    opts.kv_reuse = true;
    let reuse = Engine::start(opts).map_err(anyhow::Error::msg)?;
    eprintln!("multi-turn: {turns} turns with KV reuse …");
    let (with, share) = run_turns(&reuse)?;
    drop(reuse);
    let (one, four) = in_flight(&path, greedy(64))?;
    Ok(EmbeddedResult {
        model: model.to_string(),
        threads: std::thread::available_parallelism().map_or(0, |n| n.get()),
        prompt_tokens: g.prompt_tokens,
        engine_prompt_tok_s: g.prompt_tokens as f64 / g.time_to_first_token.as_secs_f64().max(1e-9),
        engine_gen_tok_s: engine_gen,
        engine_ttft_ms: g.time_to_first_token.as_secs_f64() * 1000.0,
        plain_prompt_tok_s: p.prompt_tokens as f64 / p.prompt_time.as_secs_f64().max(1e-9),
        plain_gen_tok_s: plain_gen,
        gen_ratio_vs_plain: engine_gen / plain_gen.max(1e-9),
        multi_turn_turns: turns,
        multi_turn_with_reuse_s: with,
        multi_turn_without_reuse_s: without,
        multi_turn_speedup: without / with.max(1e-9),
        multi_turn_reused_share: share,
        one_in_flight_gen_tok_s: one,
        four_in_flight_gen_tok_s: four,
        concurrency_gain: four / one.max(1e-9),
    })
}

/// Generated tokens/s with one request in flight and with four, on an engine of four slots
/// whose caches already hold the four prompts.
fn in_flight(
    path: &std::path::Path,
    params: ugst_embedded::engine::GenParams,
) -> Result<(f64, f64)> {
    use ugst_embedded::engine::{render_with, Engine, EngineOptions, GenParams, Prompt};
    let mut opts = EngineOptions::new(path.to_path_buf());
    opts.n_seq = 4;
    opts.n_ctx = 4096;
    let engine = Engine::start(opts).map_err(anyhow::Error::msg)?;
    let prompts: Vec<String> = demo_goals()
        .iter()
        .take(4)
        .map(|g| render_with(path, &conversation_layout(g, 3)).map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    let together = |ps: &[String], p: &GenParams| -> Result<(u64, f64)> {
        let start = std::time::Instant::now();
        let pending: Vec<_> = ps
            .iter()
            .map(|t| engine.submit(Prompt::Text(t.clone()), p.clone()))
            .collect();
        let mut tokens = 0u64;
        for rx in pending {
            let g = rx
                .blocking_recv()
                .map_err(|_| anyhow::anyhow!("the model thread dropped a request"))?
                .map_err(anyhow::Error::msg)?;
            tokens += g.completion_tokens as u64;
        }
        Ok((tokens, start.elapsed().as_secs_f64()))
    };
    eprintln!("in flight: caching four prompts …");
    together(
        &prompts,
        &GenParams {
            max_tokens: 1,
            ..params.clone()
        },
    )?;
    eprintln!("in flight: one request, then four together …");
    let (t1, s1) = together(&prompts[..1], &params)?;
    let (t4, s4) = together(&prompts, &params)?;
    Ok((t1 as f64 / s1.max(1e-9), t4 as f64 / s4.max(1e-9)))
}

pub fn embedded_table(r: &EmbeddedResult) -> String {
    format!(
        "model {} ({} threads), prompt of {} tokens\n\
         {:<34}{:>12}{:>12}\n\
         {:<34}{:>12.1}{:>12.1}\n\
         {:<34}{:>12.1}{:>12.1}\n\
         {:<34}{:>12.0}\n\
         generation speed engine / plain loop: {:.2}\n\
         {}-turn conversation: {:.1}s with KV reuse, {:.1}s without — {:.2}x faster ({:.0}% of prompt tokens reused)\n\
         generated tokens/s, prompts cached: {:.1} with one request in flight, {:.1} with four — {:.2}x\n",
        r.model, r.threads, r.prompt_tokens,
        "", "engine", "plain loop",
        "prompt tokens/s", r.engine_prompt_tok_s, r.plain_prompt_tok_s,
        "generated tokens/s", r.engine_gen_tok_s, r.plain_gen_tok_s,
        "time to first token (ms)", r.engine_ttft_ms,
        r.gen_ratio_vs_plain,
        r.multi_turn_turns, r.multi_turn_with_reuse_s, r.multi_turn_without_reuse_s, r.multi_turn_speedup,
        r.multi_turn_reused_share * 100.0,
        r.one_in_flight_gen_tok_s, r.four_in_flight_gen_tok_s, r.concurrency_gain
    )
}
