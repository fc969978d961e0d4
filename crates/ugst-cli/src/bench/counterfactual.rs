//! `ugst bench counterfactual`: the counterfactual suite (`ugst::counterfactual`) tracked and
//! scored. Every labelled conversation is tracked as it is, then every edit of it; each result is
//! appended to `<work>/results.jsonl` as soon as it is known, so a stopped run resumes where it
//! stopped (a full run may take more than one session on two cores). The table gives, per edit
//! kind and per category of the part edited, how many edits got the status they call for, and
//! the judge's cost. `--quick` measures a fixed subset: the edits of the first conversations of
//! each set.

use crate::bench::labelled;
use crate::progress;
use anyhow::{bail, Context, Result};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use ugst::config::Config;
use ugst::counterfactual::{
    edits, holds, Edit, EditKind, Expect, Labelled, Line, SuiteConfig, Tally,
};
use ugst::model::{Exchange, TrackingMode};
use ugst::track::{ConversationState, Tracker};
use ugst_llm::{CallRole, Ledger};
use ugst_state::{GoalState, Status};

/// What to measure and where.
pub struct CounterfactualPlan {
    /// The models (the tracker role is measured) and the `[tracking]` rules.
    pub config: Config,
    pub tracking: TrackingMode,
    /// Labelled sets (each a folder with final_states.jsonl and decompositions.jsonl).
    pub sets: Vec<PathBuf>,
    /// The τ-bench log of a set without its own conversations.jsonl.
    pub log: PathBuf,
    /// The written lines that break profile and policy parts.
    pub lines: PathBuf,
    pub suite: SuiteConfig,
    pub quick: bool,
    pub concurrency: usize,
    pub work: PathBuf,
    pub quiet: bool,
}

/// The judge's cost of tracking one conversation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cost {
    pub calls: usize,
    /// Calls the model answered (not the response cache).
    pub fresh_calls: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Model time of the fresh calls.
    pub model_ms: u64,
}

/// One tracked conversation (an unedited one has the id `<set>/<conversation>/original`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tracked {
    id: String,
    statuses: BTreeMap<String, Status>,
    cost: Cost,
}

/// Everything a stored result depends on; a work folder holds results of one identity only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Identity {
    tracker: serde_json::Value,
    tracking: String,
    rules: ugst::track::TrackingConfig,
    suite: SuiteConfig,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub kind: String,
    /// The category of the part edited (`all parts` for edits about none).
    pub category: String,
    #[serde(flatten)]
    pub tally: Tally,
}

#[derive(Debug, Clone, Serialize)]
pub struct CounterfactualResult {
    pub tracker: serde_json::Value,
    pub tracking: String,
    pub sets: Vec<String>,
    pub quick: bool,
    /// Edits in the suite (or the quick subset), and how many are tracked so far.
    pub edits: usize,
    pub tracked: usize,
    pub rows: Vec<Row>,
    /// Edits that call for a change and got it / edits that call for none and kept to that.
    pub sensitivity: Tally,
    pub specificity: Tally,
    /// The judge's cost per tracked conversation (edited or not) and in all.
    pub mean_cost: Cost,
    pub fresh_model_s: f64,
    /// Edits the tracker failed on (a model error), to be tried again on the next run.
    pub failed: Vec<String>,
}

fn read_lines(path: &Path) -> Result<Vec<Line>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (use --lines FILE)", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!(
                    "{}:{}: expected {{\"set\", \"id\", \"part\", \"line\"}}",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

/// The edits to track: per labelled conversation, the unedited one first (`original`), then
/// its edits.
fn suite(plan: &CounterfactualPlan) -> Result<(Vec<Labelled>, Vec<Edit>)> {
    let lines = read_lines(&plan.lines)?;
    let mut convs = Vec::new();
    for set in &plan.sets {
        let mut set_convs = labelled::load(set, &plan.log)?;
        if plan.quick {
            set_convs.truncate(plan.suite.quick_conversations_per_set);
        }
        convs.extend(set_convs);
    }
    let all = convs
        .iter()
        .flat_map(|c| edits(c, &lines, &plan.suite))
        .collect();
    Ok((convs, all))
}

fn original_id(c: &Labelled) -> String {
    format!("{}/{}/original", c.set, c.id)
}

async fn track(
    tracker: &Tracker,
    s0: GoalState,
    history: &[Exchange],
) -> Result<(BTreeMap<String, Status>, Cost)> {
    let ledger = Ledger::new();
    let mut conv = ConversationState::new(s0);
    for e in history {
        conv.advance(tracker, &ledger, e.clone()).await?;
    }
    conv.finish(tracker, &ledger).await?;
    let calls: Vec<_> = ledger
        .drain()
        .into_iter()
        .filter(|e| e.role == CallRole::Tracker)
        .collect();
    let fresh = || calls.iter().filter(|e| !e.cache_hit);
    let cost = Cost {
        calls: calls.len(),
        fresh_calls: fresh().count(),
        prompt_tokens: calls.iter().map(|e| e.prompt_tokens).sum(),
        completion_tokens: calls.iter().map(|e| e.completion_tokens).sum(),
        model_ms: fresh().map(|e| e.latency_ms).sum(),
    };
    let statuses = conv
        .state
        .components
        .iter()
        .map(|c| (c.id.clone(), c.status))
        .collect();
    Ok((statuses, cost))
}

/// Checks (or writes) the work folder's identity: results of other settings are never mixed.
fn claim_work(work: &Path, identity: &Identity) -> Result<()> {
    std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let path = work.join("identity.json");
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        let stored: Identity = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a counterfactual work folder's identity",
                path.display()
            )
        })?;
        if &stored != identity {
            return Err(ugst::input_err!(
                "{} holds results of another tracker, tracking mode, [tracking] rules or suite; \
                 resume with the same ones or give a new --work",
                work.display()
            ));
        }
    } else {
        std::fs::write(&path, serde_json::to_string_pretty(identity)?)?;
    }
    Ok(())
}

fn read_results(path: &Path) -> Result<BTreeMap<String, Tracked>> {
    let mut out = BTreeMap::new();
    if !path.exists() {
        return Ok(out);
    }
    let text = std::fs::read_to_string(path)?;
    for (i, l) in text.lines().enumerate() {
        // A line cut short by a kill is the last one; it is tracked again.
        match serde_json::from_str::<Tracked>(l) {
            Ok(t) => {
                out.insert(t.id.clone(), t);
            }
            Err(_) if i + 1 == text.lines().count() => {}
            Err(e) => bail!(
                "{}:{}: {e}; remove the line to track it again",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(out)
}

/// Tracks whatever of the suite is not yet in `<work>/results.jsonl`, then scores it all.
pub async fn counterfactual_run(plan: CounterfactualPlan) -> Result<CounterfactualResult> {
    let (convs, all) = suite(&plan)?;
    let models = crate::backends::connect(&plan.config).await?;
    let tracker = Tracker::new(models.tracker.clone(), plan.tracking, plan.config.tracking);
    let identity = Identity {
        tracker: plan.config.describe_roles(&["tracker"]),
        tracking: plan.tracking.to_string(),
        rules: plan.config.tracking,
        suite: plan.suite.clone(),
    };
    claim_work(&plan.work, &identity)?;
    let results_path = plan.work.join("results.jsonl");
    let mut done = read_results(&results_path)?;
    // Unedited conversations first: the edits that call for no change are scored against them.
    let jobs: Vec<(String, GoalState, Vec<Exchange>)> = convs
        .iter()
        .map(|c| (original_id(c), c.s0.clone(), c.history.clone()))
        .chain(all.iter().map(|e| {
            let s0 = convs
                .iter()
                .find(|c| c.set == e.set && c.id == e.conversation)
                .map(|c| c.s0.clone())
                .expect("every edit comes from a loaded conversation");
            (e.id.clone(), s0, e.history.clone())
        }))
        .filter(|(id, _, _)| !done.contains_key(id))
        .collect();
    eprintln!(
        "bench counterfactual: {} edit(s) of {} conversation(s); {} to track ({} tracked before)",
        all.len(),
        convs.len(),
        jobs.len(),
        done.len()
    );
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results_path)
        .with_context(|| format!("cannot write {}", results_path.display()))?;
    let file = Mutex::new(file);
    let bar = progress::terminal(plan.quiet);
    bar.start(jobs.len(), "tracked");
    let failed = Mutex::new(Vec::new());
    let fresh: Vec<Tracked> = futures::stream::iter(jobs)
        .map(|(id, s0, history)| {
            let tracker = &tracker;
            async move { (id, track(tracker, s0, &history).await) }
        })
        .buffer_unordered(plan.concurrency.max(1))
        .filter_map(|(id, res)| {
            bar.advance(1);
            let out = match res {
                Ok((statuses, cost)) => {
                    let t = Tracked { id, statuses, cost };
                    let line = serde_json::to_string(&t).expect("a result serialises");
                    let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
                    if let Err(e) = writeln!(f, "{line}").and_then(|_| f.flush()) {
                        bar.note(&format!("cannot append to {}: {e}", results_path.display()));
                    }
                    Some(t)
                }
                Err(e) => {
                    bar.note(&format!("{id}: {e:#} (tracked again on the next run)"));
                    failed.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                    None
                }
            };
            async move { out }
        })
        .collect()
        .await;
    bar.finish();
    for t in fresh {
        done.insert(t.id.clone(), t);
    }
    let failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(score(&plan, &convs, &all, &done, failed, identity))
}

fn score(
    plan: &CounterfactualPlan,
    convs: &[Labelled],
    all: &[Edit],
    done: &BTreeMap<String, Tracked>,
    failed: Vec<String>,
    identity: Identity,
) -> CounterfactualResult {
    let mut rows: BTreeMap<(EditKind, String), Tally> = BTreeMap::new();
    let (mut sensitivity, mut specificity) = (Tally::default(), Tally::default());
    let mut tracked = 0;
    for e in all {
        let conv = convs
            .iter()
            .find(|c| c.set == e.set && c.id == e.conversation)
            .expect("every edit comes from a loaded conversation");
        let (Some(base), Some(got)) = (done.get(&original_id(conv)), done.get(&e.id)) else {
            continue;
        };
        tracked += 1;
        let held = holds(e, &conv.s0, &base.statuses, &got.statuses);
        let before = matches!(e.expect, Expect::Is(_) | Expect::Not(_))
            && holds(e, &conv.s0, &base.statuses, &base.statuses);
        let category = e
            .category
            .map_or("all parts".to_string(), |c| c.label().to_string());
        for t in [
            rows.entry((e.kind, category)).or_default(),
            if e.kind.expects_change() {
                &mut sensitivity
            } else {
                &mut specificity
            },
        ] {
            t.edits += 1;
            t.held += usize::from(held);
            t.held_before += usize::from(held && before);
        }
    }
    let ids: BTreeSet<String> = convs
        .iter()
        .map(original_id)
        .chain(all.iter().map(|e| e.id.clone()))
        .collect();
    let counted: Vec<&Tracked> = ids.iter().filter_map(|id| done.get(id)).collect();
    let n = counted.len().max(1);
    let sum = |f: fn(&Cost) -> u64| counted.iter().map(|t| f(&t.cost)).sum::<u64>();
    let mean_cost = Cost {
        calls: sum(|c| c.calls as u64) as usize / n,
        fresh_calls: sum(|c| c.fresh_calls as u64) as usize / n,
        prompt_tokens: sum(|c| c.prompt_tokens) / n as u64,
        completion_tokens: sum(|c| c.completion_tokens) / n as u64,
        model_ms: sum(|c| c.model_ms) / n as u64,
    };
    CounterfactualResult {
        tracker: identity.tracker,
        tracking: identity.tracking,
        sets: plan.sets.iter().map(|s| labelled::name(s)).collect(),
        quick: plan.quick,
        edits: all.len(),
        tracked,
        rows: rows
            .into_iter()
            .map(|((kind, category), tally)| Row {
                kind: kind.as_str().to_string(),
                category,
                tally,
            })
            .collect(),
        sensitivity,
        specificity,
        mean_cost,
        fresh_model_s: sum(|c| c.model_ms) as f64 / 1000.0,
        failed,
    }
}

pub fn table(r: &CounterfactualResult) -> String {
    let share = |t: &Tally| t.share().map_or("–".into(), |v| format!("{v:.2}"));
    let mut s = format!(
        "counterfactual suite{}: {} of {} edit(s) tracked, sets {}; tracker {} ({} tracking)\n{:<14}{:<18}{:>7}{:>7}{:>7}{:>13}\n",
        if r.quick { " (quick subset)" } else { "" },
        r.tracked,
        r.edits,
        r.sets.join(", "),
        r.tracker["tracker"]["model"].as_str().unwrap_or("?"),
        r.tracking,
        "edit",
        "part",
        "edits",
        "held",
        "share",
        "held before"
    );
    for row in &r.rows {
        s.push_str(&format!(
            "{:<14}{:<18}{:>7}{:>7}{:>7}{:>13}\n",
            row.kind,
            row.category,
            row.tally.edits,
            row.tally.held,
            share(&row.tally),
            row.tally.held_before
        ));
    }
    s.push_str(&format!(
        "sensitivity {} ({}/{}, {} of them held before the edit)   specificity {} ({}/{})\n",
        share(&r.sensitivity),
        r.sensitivity.held,
        r.sensitivity.edits,
        r.sensitivity.held_before,
        share(&r.specificity),
        r.specificity.held,
        r.specificity.edits
    ));
    s.push_str(&format!(
        "judge per conversation: {} calls ({} answered by the model), {} prompt + {} completion tokens, {:.1} s model time; {:.0} s model time in all\n",
        r.mean_cost.calls,
        r.mean_cost.fresh_calls,
        r.mean_cost.prompt_tokens,
        r.mean_cost.completion_tokens,
        r.mean_cost.model_ms as f64 / 1000.0,
        r.fresh_model_s
    ));
    if !r.failed.is_empty() {
        s.push_str(&format!(
            "{} edit(s) failed (a model error) and are tracked again on the next run\n",
            r.failed.len()
        ));
    }
    s
}
