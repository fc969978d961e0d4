//! `ugst ab`: the same goals under several simulator modes (each optionally with the verifier),
//! repeated R times with different sampling seeds, then one comparison table: alignment per
//! category with 95% bootstrap intervals, termination rates, and the paired difference of each
//! mode against the first one over the same goals. Runs live in `<out>/<mode>/r<k>/` and resume if
//! interrupted. The arms advance together, a round of goals at a time, so an interrupted
//! comparison holds the same goals in every arm and its report (`--report-only`) is already a
//! fair one over them.

use crate::evaluate::compare::{self, Estimate, RunEstimate};
use crate::evaluate::termination::{self, Termination};
use crate::input_err;
use crate::model::Goal;
use crate::model::{Conversation, RunMeta, Settings, SimMode};
use crate::progress::Progress;
use crate::roles::RoleModels;
use crate::runner::run_pending_among;
use crate::simulate::env::Environment;
use crate::store::{RunStore, DB_FILE};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use ugst_state::Category;

/// One arm of the comparison: a simulator mode, with or without the verifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub name: String,
    pub mode: SimMode,
    pub verify: u32,
}

/// Parses `prompt,goal,goal-state,goal-state+verify` (`+verify=K` sets the retries).
pub fn parse_arms(s: &str) -> Result<Vec<Arm>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (mode, verify) = match part.split_once("+verify") {
            Some((m, rest)) => {
                let k = match rest.strip_prefix('=') {
                    Some(k) => k.parse().map_err(|_| {
                        input_err!("--modes: '{part}': K in +verify=K must be a number")
                    })?,
                    None if rest.is_empty() => 2,
                    None => {
                        return Err(input_err!(
                            "--modes: '{part}' is not MODE or MODE+verify[=K]"
                        ))
                    }
                };
                (m, k)
            }
            None => (part, 0),
        };
        let mode: SimMode = mode
            .parse()
            .map_err(|e| input_err!("--modes: {e} (each optionally +verify[=K])"))?;
        out.push(Arm {
            name: part.to_string(),
            mode,
            verify,
        });
    }
    if out.is_empty() {
        return Err(input_err!("--modes lists no mode"));
    }
    Ok(out)
}

/// An arm's stored run is reused (to resume) only when it was made exactly as asked now; the
/// error names the flag that differs.
fn same_arm(
    dir: &Path,
    stored: &RunMeta,
    want: &RunMeta,
    stored_goals: &[Goal],
    goals: &[Goal],
) -> Result<()> {
    let (a, b) = (&stored.settings, &want.settings);
    let clash = [
        ("--max-turns", a.max_turns != b.max_turns),
        ("--tracking", a.tracking != b.tracking),
        ("--modes", a.mode != b.mode || a.verify != b.verify),
        (
            "--env / --data",
            stored.env != want.env || stored.env_data != want.env_data,
        ),
        ("--goals (or --split / --limit)", stored_goals != goals),
        (
            "--config",
            stored.models.get("models") != want.models.get("models"),
        ),
        (
            "--seed",
            stored.models.get("seed") != want.models.get("seed"),
        ),
    ];
    match clash.iter().find(|(_, differs)| *differs) {
        Some((flag, _)) => Err(input_err!(
            "{} holds an arm made with another {flag}; use another --out, or the flags it was made with to resume it",
            dir.display()
        )),
        None => Ok(()),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmReport {
    pub arm: String,
    pub estimate: RunEstimate,
    pub termination: Termination,
    /// Against the first arm: (goals compared, mean difference of conversation-level Avg).
    pub paired_vs_first: Option<(usize, Estimate)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AbReport {
    pub repeats: u32,
    pub seed: u64,
    pub goals: usize,
    pub arms: Vec<ArmReport>,
}

/// How an A/B is carried out: repeats and their seeds, conversations in flight, and how many
/// goals every arm finishes before any arm starts the next ones.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub repeats: u32,
    pub seed: u64,
    pub concurrency: usize,
    /// Goals per round: each arm runs these before the next round starts (0: all at once).
    pub round: usize,
    /// Run nothing; report what the stored arms have finished.
    pub report_only: bool,
}

#[allow(clippy::too_many_arguments)]
pub async fn run(
    models: &RoleModels,
    env: Arc<dyn Environment>,
    env_data: Option<String>,
    goals: &[Goal],
    arms: &[Arm],
    base: Settings,
    plan: Plan,
    out: &Path,
    progress: &dyn Progress,
    models_meta: &serde_json::Value,
) -> Result<AbReport> {
    let Plan { repeats, seed, .. } = plan;
    // Every arm's stores first (so a clash is reported before anything runs), then the rounds.
    let mut stores: Vec<Vec<(Arc<RunStore>, RoleModels, Settings)>> = Vec::new();
    for arm in arms {
        let mut runs = Vec::new();
        for r in 0..repeats.max(1) {
            let dir = out.join(arm.name.replace('+', "_")).join(format!("r{r}"));
            let settings = Settings {
                mode: arm.mode,
                verify: arm.verify,
                ..base
            };
            let m = models.clone().with_seed(seed + r as u64);
            let meta = RunMeta {
                env_data: env_data.clone(),
                ..RunMeta::new(
                    settings,
                    env.name(),
                    serde_json::json!({"models": models_meta, "seed": seed + r as u64}),
                )
            };
            let store = if dir.join(DB_FILE).exists() {
                let store = RunStore::open_for_writing(&dir)?;
                same_arm(&dir, &store.meta()?, &meta, &store.goals()?, goals)?;
                store
            } else if plan.report_only {
                return Err(input_err!(
                    "--report-only: {} holds no run yet; run the comparison first",
                    dir.display()
                ));
            } else {
                RunStore::create(&dir, &meta, goals)?
            };
            runs.push((Arc::new(store), m, settings));
        }
        stores.push(runs);
    }
    let ids: Vec<String> = goals.iter().map(|g| g.id.clone()).collect();
    let round = if plan.round == 0 {
        ids.len()
    } else {
        plan.round
    };
    if !plan.report_only {
        for (k, chunk) in ids.chunks(round.max(1)).enumerate() {
            for (arm, runs) in arms.iter().zip(&stores) {
                for (r, (store, m, settings)) in runs.iter().enumerate() {
                    progress.note(&format!(
                        "ab: goals {}-{} of {}, {} repeat {}",
                        k * round + 1,
                        k * round + chunk.len(),
                        ids.len(),
                        arm.name,
                        r + 1
                    ));
                    run_pending_among(
                        store.clone(),
                        m.clone(),
                        env.clone(),
                        *settings,
                        plan.concurrency,
                        progress,
                        Some(chunk),
                    )
                    .await?;
                }
            }
        }
    }
    let mut per_arm: Vec<Vec<Vec<Conversation>>> = Vec::new();
    for runs in &stores {
        let mut convs = Vec::new();
        for (store, _, _) in runs {
            convs.push(store.conversations()?);
        }
        per_arm.push(convs);
    }
    let mut reports = Vec::new();
    for (i, arm) in arms.iter().enumerate() {
        let all: Vec<Conversation> = per_arm[i].iter().flatten().cloned().collect();
        let firsts: Vec<&[Conversation]> = per_arm[0].iter().map(Vec::as_slice).collect();
        let mine: Vec<&[Conversation]> = per_arm[i].iter().map(Vec::as_slice).collect();
        reports.push(ArmReport {
            arm: arm.name.clone(),
            estimate: compare::estimate(&arm.name, &all, seed),
            termination: termination::summarise(&all, base.max_turns),
            paired_vs_first: if i == 0 {
                None
            } else {
                compare::paired_difference(&firsts, &mine, seed)
            },
        });
    }
    Ok(AbReport {
        repeats: repeats.max(1),
        seed,
        goals: goals.len(),
        arms: reports,
    })
}

pub fn table(r: &AbReport) -> String {
    let mut out = format!("{:<24}{:>6}", "mode", "conv");
    for c in Category::ALL {
        out.push_str(&format!("{:>23}", c.short()));
    }
    out.push_str(&format!(
        "{:>23}{:>11}{:>9}  {:>24}\n",
        "Avg", "premature", "proper", "Δ Avg vs first"
    ));
    for a in &r.arms {
        out.push_str(&format!("{:<24}{:>6}", a.arm, a.estimate.conversations));
        for c in Category::ALL {
            out.push_str(&format!(
                "{:>23}",
                compare::pct(&a.estimate.categories[c.as_str()])
            ));
        }
        out.push_str(&format!(
            "{:>23}{:>10.1}%{:>8.1}%  {:>24}\n",
            compare::pct(&a.estimate.average),
            a.termination.rates["premature_stop"] * 100.0,
            a.termination.rates["proper_stop"] * 100.0,
            match &a.paired_vs_first {
                Some((n, e)) => format!(
                    "{:+.1} [{:+.1}, {:+.1}] n={n}",
                    e.value * 100.0,
                    e.low * 100.0,
                    e.high * 100.0
                ),
                None => "–".into(),
            }
        ));
    }
    out.push_str(&format!(
        "{} goals × {} repeat(s); values in percent with 95% bootstrap intervals ({} resamples, seed {})\n",
        r.goals,
        r.repeats,
        compare::RESAMPLES,
        r.seed
    ));
    out
}
