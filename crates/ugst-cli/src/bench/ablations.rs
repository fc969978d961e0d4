//! `ugst bench ablations`: what each rule of the tracker buys. Imports the hand-labelled
//! development set (`data/tracking-devset/`: τ-airline conversations from a gpt-4o log, with
//! their gold decompositions) once, re-tracks it once per tracker configuration — the default,
//! each switch of `TrackingConfig` off in turn, and any config file given — and compares every
//! run's final goal states with the labels: κ at the success level, recall of the failure
//! statuses, judge calls and tokens per conversation. Answers come from the response cache when
//! a configuration asks what an earlier one asked, so only the changed calls cost model time.

use crate::progress;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use ugst::config::Config;
use ugst::model::tracking::ablations;
use ugst::runner::retrack_run;
use ugst::store::RunStore;
use ugst::track::{Tracker, TrackingConfig};
use ugst_llm::CallRole;

/// What to measure and where.
pub struct AblationPlan {
    /// The models (the tracker role is what is measured) and the base `[tracking]` rules.
    pub config: Config,
    pub tracking: ugst::model::TrackingMode,
    /// The labelled set: `final_states.jsonl` and `decompositions.jsonl`.
    pub set: PathBuf,
    /// The τ-bench log the set's conversations come from, unless the set keeps its own
    /// `conversations.jsonl`.
    pub log: PathBuf,
    /// Only the first N labelled conversations (0 = all).
    pub limit: usize,
    /// Only these switches of the built-in ablations (empty = all).
    pub switches: Vec<String>,
    /// Extra configurations: files with a `[tracking]` table, named by their file stem.
    pub variants: Vec<PathBuf>,
    pub concurrency: usize,
    /// Where the imported set and every configuration's run are kept.
    pub work: PathBuf,
    pub quiet: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AblationRow {
    /// `default`, `-<switch>` (that switch off) or a variant file's stem.
    pub name: String,
    pub conversations: usize,
    pub labels: usize,
    pub exact_agreement: Option<f64>,
    pub success_kappa: Option<f64>,
    /// Share of the gold labels with this status that the run gives too, and their count.
    pub recall_misaligned: (Option<f64>, usize),
    pub recall_incomplete: (Option<f64>, usize),
    pub recall_attempted: (Option<f64>, usize),
    /// Final statuses that differ from the default row's.
    pub changed_vs_default: usize,
    pub judge_calls_per_conversation: f64,
    pub prompt_tokens_per_conversation: f64,
    pub completion_tokens_per_conversation: f64,
    /// Tracker calls answered by the model (not the cache), and the wall time of the run.
    pub fresh_calls: usize,
    pub wall_s: f64,
    /// The rules the row was tracked with.
    pub config: TrackingConfig,
}

#[derive(Debug, Clone, Serialize)]
pub struct AblationResult {
    pub model: String,
    pub tracking: String,
    pub conversation_ids: Vec<String>,
    pub rows: Vec<AblationRow>,
}

/// The labelled conversation ids of `set`, in file order, the first `limit` (0 = all).
fn labelled_ids(set: &Path, limit: usize) -> Result<Vec<String>> {
    let mut ids = crate::bench::labelled::ids(set)?;
    if limit > 0 {
        ids.truncate(limit);
    }
    Ok(ids)
}

/// The configurations to run: the base, each requested switch off, each variant file.
fn configurations(plan: &AblationPlan) -> Result<Vec<(String, TrackingConfig)>> {
    let base = plan.config.tracking;
    let mut out = vec![("default".to_string(), base)];
    // Each switch off on top of the base rules (`[tracking]` of --config).
    let all = ablations(base);
    let known: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
    for s in &plan.switches {
        if !known.contains(&s.as_str()) {
            return Err(ugst::input_err!(
                "--switches: {s:?} is not a tracker switch; known: {}",
                known.join(", ")
            ));
        }
    }
    for (name, c) in all {
        if plan.switches.is_empty() || plan.switches.iter().any(|s| s == name) {
            out.push((format!("-{name}"), c));
        }
    }
    for f in &plan.variants {
        let cfg = Config::load(f)?;
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.display().to_string());
        out.push((name, cfg.tracking));
    }
    Ok(out)
}

/// Runs every configuration on the set and compares each with the labels.
pub async fn ablations_run(plan: AblationPlan) -> Result<AblationResult> {
    let ids = labelled_ids(&plan.set, plan.limit)?;
    let configs = configurations(&plan)?;
    std::fs::create_dir_all(&plan.work)
        .with_context(|| format!("cannot create {}", plan.work.display()))?;
    let imported = plan.work.join("imported");
    if imported.exists() {
        std::fs::remove_dir_all(&imported)?;
    }
    let source = crate::bench::labelled::source(&plan.set, &plan.log);
    crate::commands::import::import_log(
        &source.file,
        source.format,
        source.env,
        &ids,
        Some(&plan.set.join("decompositions.jsonl")),
        &imported,
    )?;
    let src = RunStore::open(&imported)?;
    let models = crate::backends::connect(&plan.config).await?;
    let gold = plan.set.join("final_states.jsonl");
    let mut rows: Vec<AblationRow> = Vec::new();
    let mut default_finals: Option<Vec<(String, String)>> = None;
    for (i, (name, rules)) in configs.iter().enumerate() {
        eprintln!(
            "bench ablations: {}/{} {name} on {} conversation(s)",
            i + 1,
            configs.len(),
            ids.len()
        );
        let out = plan.work.join(name);
        if out.exists() {
            std::fs::remove_dir_all(&out)?;
        }
        let tracker = Tracker::new(models.tracker.clone(), plan.tracking, *rules);
        let bar = progress::terminal(plan.quiet);
        let meta = src.meta()?;
        let counts = retrack_run(
            &src,
            &out,
            tracker,
            // The set's conversations carry their gold decompositions: S0 without a model call.
            Some(models.decomposer.clone()),
            meta,
            plan.concurrency,
            bar.as_ref(),
        )
        .await?;
        let run = RunStore::open(&out)?;
        let convs = run.conversations()?;
        let labels = plan.work.join(format!("{name}.statuses.jsonl"));
        std::fs::write(&labels, ugst::export::statuses(&convs))
            .with_context(|| format!("cannot write {}", labels.display()))?;
        let agree = ugst::agree::tracking(&gold, &labels)?;
        let finals = final_statuses(&convs);
        let changed = match &default_finals {
            None => 0,
            Some(d) => d.iter().zip(&finals).filter(|(a, b)| a != b).count(),
        };
        if default_finals.is_none() {
            default_finals = Some(finals);
        }
        let ledger = run.ledger()?;
        let judge: Vec<_> = ledger
            .iter()
            .map(|(_, e)| e)
            .filter(|e| e.role == CallRole::Tracker)
            .collect();
        let n = counts.finished.max(1) as f64;
        let recall = |s: &str| agree.recall.get(s).cloned().unwrap_or((None, 0));
        rows.push(AblationRow {
            name: name.clone(),
            conversations: counts.finished,
            labels: agree.overall.n,
            exact_agreement: agree.overall.agreement,
            success_kappa: agree.overall.success_kappa,
            recall_misaligned: recall("MISALIGNED"),
            recall_incomplete: recall("INCOMPLETE"),
            recall_attempted: recall("ATTEMPTED"),
            changed_vs_default: changed,
            judge_calls_per_conversation: judge.len() as f64 / n,
            prompt_tokens_per_conversation: judge.iter().map(|e| e.prompt_tokens).sum::<u64>()
                as f64
                / n,
            completion_tokens_per_conversation: judge
                .iter()
                .map(|e| e.completion_tokens)
                .sum::<u64>() as f64
                / n,
            fresh_calls: judge.iter().filter(|e| !e.cache_hit).count(),
            wall_s: counts.wall.as_secs_f64(),
            config: *rules,
        });
    }
    Ok(AblationResult {
        model: plan.config.describe_roles(&["tracker"]).to_string(),
        tracking: plan.tracking.to_string(),
        conversation_ids: ids,
        rows,
    })
}

/// Every conversation's final status per part, in a fixed order: (conversation/part, status).
fn final_statuses(convs: &[ugst::model::Conversation]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in convs {
        let Some(state) = c.final_state.as_ref() else {
            continue;
        };
        for p in &state.components {
            out.push((
                format!("{}/{}", c.goal.id, p.id),
                p.status.as_str().to_string(),
            ));
        }
    }
    out.sort();
    out
}

pub fn table(r: &AblationResult) -> String {
    let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.3}"));
    let rec = |(x, n): (Option<f64>, usize)| match x {
        Some(v) => format!("{:.0}/{n}", v * n as f64),
        None => format!("–/{n}"),
    };
    let mut s = format!(
        "tracker {} ({} tracking), {} conversation(s)\n{:<32}{:>7}{:>8}{:>7}{:>7}{:>7}{:>8}{:>8}{:>10}{:>8}{:>7}\n",
        r.model,
        r.tracking,
        r.conversation_ids.len(),
        "configuration",
        "exact",
        "κ succ",
        "MIS",
        "INC",
        "ATT",
        "changed",
        "calls",
        "prompt",
        "compl",
        "fresh"
    );
    for row in &r.rows {
        s.push_str(&format!(
            "{:<32}{:>7}{:>8}{:>7}{:>7}{:>7}{:>8}{:>8.1}{:>10.0}{:>8.0}{:>7}\n",
            row.name,
            f(row.exact_agreement),
            f(row.success_kappa),
            rec(row.recall_misaligned),
            rec(row.recall_incomplete),
            rec(row.recall_attempted),
            row.changed_vs_default,
            row.judge_calls_per_conversation,
            row.prompt_tokens_per_conversation,
            row.completion_tokens_per_conversation,
            row.fresh_calls
        ));
    }
    s
}
