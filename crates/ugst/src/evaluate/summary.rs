//! Every metric of one run in one value: what `ugst eval` prints and `ugst report` draws.
//! Judged metrics (role adherence, naturalness/coherence, the failure judge) need models; goal
//! similarity needs the installed encoder the first time (its matches are then stored in the
//! run); everything else is read from the store.

use super::{
    alignment, compare, costs, diversity, failures, quality, realism, similarity, task_rewards,
    termination, Alignment, RoleCost, TaskRewards,
};
use crate::model::{Conversation, RunMeta};
use crate::progress::Progress;
use crate::roles::RoleModels;
use crate::store::RunStore;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub label: String,
    pub meta: RunMeta,
    #[serde(skip)]
    pub alignment: Alignment,
    pub estimate: compare::RunEstimate,
    pub task_reward: Option<TaskRewards>,
    /// pass^k / pass@k over repeated trials of a task (imported τ-bench logs, …).
    pub pass_k: Option<super::passk::PassK>,
    pub termination: termination::Termination,
    pub realism: realism::Realism,
    pub diversity: diversity::Diversity,
    pub quality: Option<quality::Quality>,
    pub failures: failures::Taxonomy,
    pub similarity: Option<similarity::Similarity>,
    /// Per role, the run's calls plus the judge calls made for this summary.
    pub costs: BTreeMap<String, RoleCost>,
    /// The tracker's cost per conversation (from the run's ledger).
    pub tracker: Option<super::TrackerCost>,
    #[serde(skip)]
    pub conversations: Vec<Conversation>,
}

/// What to compute beyond the store's own figures.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    pub models: Option<&'a RoleModels>,
    /// Weight BERTScore by idf.
    pub idf: bool,
    /// The bootstrap's seed.
    pub seed: u64,
    pub progress: &'a dyn Progress,
}

/// The default label of a run: its directory's name.
pub fn default_label(run: &Path) -> String {
    run.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| run.display().to_string())
}

pub async fn summarise(run: &Path, label: &str, o: Options<'_>) -> Result<RunSummary> {
    let store = RunStore::open(run)?;
    let convs = store.conversations()?;
    let meta = store.meta()?;
    let similarity = similarity::of_store(&store, &convs, o.idf, o.progress)?;
    let judge_ledger = ugst_llm::Ledger::new();
    let mut realism = realism::offline(&convs);
    let mut quality = None;
    let mut failures = failures::by_rules(&convs, meta.settings.max_turns);
    if let Some(m) = o.models {
        realism.role_adherence = realism::role_adherence(&m.judge.llm, &judge_ledger, &convs, 8)
            .await
            .context("the role-adherence judge failed")?;
        quality = Some(
            quality::judge(&m.judge.llm, &judge_ledger, &convs, 8)
                .await
                .context("the naturalness/coherence judge failed")?,
        );
        failures = failures::with_judge(
            &m.judge.llm,
            &judge_ledger,
            &convs,
            meta.settings.max_turns,
            8,
        )
        .await
        .context("the failure-taxonomy judge failed")?;
    }
    let stored = store.ledger()?;
    let tracker = super::tracker_cost(stored.iter().map(|(g, e)| (g.as_deref(), e)));
    let mut ledger: Vec<ugst_llm::LedgerEntry> = stored.into_iter().map(|(_, e)| e).collect();
    ledger.extend(judge_ledger.drain());
    Ok(RunSummary {
        label: label.to_string(),
        alignment: alignment(&convs),
        estimate: compare::estimate(label, &convs, o.seed),
        task_reward: task_rewards(&meta.env, &convs),
        pass_k: super::passk::pass_k(&convs),
        termination: termination::summarise(&convs, meta.settings.max_turns),
        realism,
        diversity: diversity::of_run(&convs),
        quality,
        failures,
        similarity,
        costs: costs(&ledger),
        tracker,
        meta,
        conversations: convs,
    })
}

impl RunSummary {
    /// What `ugst eval --json` prints: the alignment figures, then every other metric by name.
    pub fn to_json(&self) -> serde_json::Value {
        fn json<T: Serialize>(x: &T) -> serde_json::Value {
            serde_json::to_value(x).expect("summary values serialise")
        }
        let mut v = super::to_json(&self.alignment);
        v["env"] = json(&self.meta.env);
        v["task_reward"] = json(&self.task_reward);
        v["pass_k"] = json(&self.pass_k);
        v["termination"] = json(&self.termination);
        v["realism"] = json(&self.realism);
        v["diversity"] = json(&self.diversity);
        v["quality"] = json(&self.quality);
        v["failures"] = json(&self.failures);
        v["similarity"] = json(&self.similarity);
        v["costs"] = json(&self.costs);
        v["tracker_cost"] = json(&self.tracker);
        v
    }
}
