//! Runs many conversations with bounded concurrency and the run store: starts a run, resumes a
//! killed one by redoing only the conversations that never reached `finished` or `failed` (after
//! checking that the flags agree with what the run was made with), and re-tracks a run.

use crate::decompose::{decompose_goal, DecomposeError};
use crate::model::{ConvStatus, EndReason, Ending, Goal, RunMeta, Settings, SimMode, TrackingMode};
use crate::progress::Progress;
use crate::roles::{RoleModel, RoleModels};
use crate::simulate::{env::Environment, retrack, run_conversation, RunError};
use crate::store::RunStore;
use crate::track::Tracker;
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use ugst_llm::Ledger;
use ugst_state::GoalState;

/// What a run (or a resumed part of one) did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunCounts {
    pub total: usize,
    pub ran: usize,
    pub finished: usize,
    pub failed: usize,
    pub wall: Duration,
}

impl RunCounts {
    /// Adds what a later pass over the same run did (`later.total` is the run's size then).
    pub fn add(&mut self, later: &RunCounts) {
        self.total = self.total.max(later.total);
        self.ran += later.ran;
        self.finished += later.finished;
        self.failed += later.failed;
        self.wall += later.wall;
    }

    /// Whether the run's failures are too many: nothing that ran finished, or more than
    /// `max_failed_share` (0–1) of the run's conversations failed. The error names the counts
    /// and the failures by stage (`reasons`, as `evaluate::alignment` counts them).
    pub fn check(
        &self,
        max_failed_share: Option<f64>,
        reasons: &std::collections::BTreeMap<String, usize>,
    ) -> Result<()> {
        let why = || {
            let r: Vec<String> = reasons.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            match r.is_empty() {
                true => String::new(),
                false => format!(" (failures by stage: {})", r.join(", ")),
            }
        };
        if self.ran > 0 && self.finished == 0 {
            anyhow::bail!(
                "no conversation finished: {} of {} failed{}; see `error` in `ugst export RUN`",
                self.failed,
                self.ran,
                why()
            );
        }
        if let Some(max) = max_failed_share {
            let share = self.failed as f64 / self.ran.max(1) as f64;
            if share > max {
                anyhow::bail!(
                    "{} of {} conversation(s) failed ({:.0}%), more than --max-failed-share {max}{}",
                    self.failed,
                    self.ran,
                    share * 100.0,
                    why()
                );
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Outcome {
    Finished,
    Failed,
}

/// Creates a run in `out` with `meta` and `goals` and runs it. The store is created only after
/// the caller has built (and probed) the models, so a config error leaves no empty run behind.
pub async fn start(
    out: &Path,
    meta: &RunMeta,
    goals: &[Goal],
    models: RoleModels,
    env: Arc<dyn Environment>,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<RunCounts> {
    let store = RunStore::create(out, meta, goals)?;
    run_pending(
        Arc::new(store),
        models,
        env,
        meta.settings,
        concurrency,
        progress,
    )
    .await
}

/// `run --rerun-misaligned N`: every finished trial whose simulated user ended misaligned is run
/// again under a new seed (`<id>@rerun<n>`), up to `max` times, until its simulator stays
/// aligned. Every attempt is kept in the run; pass^k counts each trial's last attempt. Returns
/// the counts of the reruns.
pub async fn rerun_misaligned(
    store: Arc<RunStore>,
    models: RoleModels,
    env: Arc<dyn Environment>,
    settings: Settings,
    concurrency: usize,
    progress: &dyn Progress,
    max: u32,
) -> Result<RunCounts> {
    let mut all = RunCounts::default();
    for n in 1..=max {
        let convs = store.conversations()?;
        let again: Vec<Goal> = crate::model::last_attempts(&convs)
            .into_iter()
            .filter(|c| c.goal.attempt.unwrap_or(0) + 1 == n)
            .filter(|c| {
                c.finished()
                    && c.final_state.as_ref().is_some_and(|s| {
                        !s.components.is_empty() && !crate::model::simulator_aligned(s)
                    })
            })
            .map(|c| c.goal.rerun(n))
            .collect();
        if again.is_empty() {
            break;
        }
        progress.status(format!("rerun {n}: {} misaligned trial(s)", again.len()));
        store.add_goals(&again)?;
        let c = run_pending(
            store.clone(),
            models.clone(),
            env.clone(),
            settings,
            concurrency,
            progress,
        )
        .await?;
        all.add(&c);
    }
    Ok(all)
}

/// Runs every unfinished conversation of `store`.
pub async fn run_pending(
    store: Arc<RunStore>,
    models: RoleModels,
    env: Arc<dyn Environment>,
    settings: Settings,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<RunCounts> {
    run_pending_among(store, models, env, settings, concurrency, progress, None).await
}

/// As `run_pending`, limited to the goals named in `only` when given (`ugst ab` advances every
/// arm by the same goals in turn).
pub async fn run_pending_among(
    store: Arc<RunStore>,
    models: RoleModels,
    env: Arc<dyn Environment>,
    settings: Settings,
    concurrency: usize,
    progress: &dyn Progress,
    only: Option<&[String]>,
) -> Result<RunCounts> {
    let start = Instant::now();
    let goals = store.goals()?;
    let mut todo = store.unfinished()?;
    if let Some(only) = only {
        todo.retain(|id| only.contains(id));
    }
    let by_id: std::collections::HashMap<String, Goal> =
        goals.iter().map(|g| (g.id.clone(), g.clone())).collect();
    let todo: Vec<Goal> = todo.iter().map(|id| by_id[id].clone()).collect();
    let ran = todo.len();
    let mut counts = drive(todo, concurrency, progress, move |goal| {
        let (store, models, env) = (store.clone(), models.clone(), env.clone());
        async move { one_conversation(&store, &models, env.as_ref(), settings, &goal).await }
    })
    .await?;
    counts.total = goals.len();
    counts.ran = ran;
    counts.wall = start.elapsed();
    Ok(counts)
}

/// What `run --resume` was given on the command line besides the run; `None` = not given.
#[derive(Debug, Clone, Default)]
pub struct ResumeFlags {
    pub mode: Option<SimMode>,
    pub tracking: Option<TrackingMode>,
    pub max_turns: Option<u32>,
    pub agent_steps: Option<u32>,
    pub verify: Option<u32>,
    pub env: Option<String>,
    /// `--data`, as it would be stored (absolute where it resolves).
    pub data: Option<String>,
    /// The models the resume would use (`Config::describe`), and whether `--config` named them
    /// (else they are the embedded default).
    pub models: Option<(serde_json::Value, bool)>,
    /// The `[tracking]` rules of `--config`, when a config was given.
    pub tracker: Option<crate::track::TrackingConfig>,
    /// The goals of `--goals`, with the file's name.
    pub goals: Option<(String, Vec<Goal>)>,
}

/// The rules of `run --resume`: every flag given must agree with what the run was made with
/// (the run's settings are used, never silently replaced), and a goal file given must hold the
/// run's goals. Returns the settings to resume with.
pub fn check_resume(store: &RunStore, meta: &RunMeta, f: &ResumeFlags) -> Result<Settings> {
    let s = meta.settings;
    let clash = |name: &str, given: Option<String>, stored: String| -> Result<()> {
        match given {
            Some(g) if g != stored => Err(crate::input_err!(
                "--{name} {g} differs from the run's {stored}; drop the flag to resume, or start a new run"
            )),
            _ => Ok(()),
        }
    };
    let text = |v: Option<u32>| v.map(|v| v.to_string());
    clash("mode", f.mode.map(|m| m.to_string()), s.mode.to_string())?;
    clash("env", f.env.clone(), meta.env.clone())?;
    clash(
        "tracking",
        f.tracking.map(|m| m.to_string()),
        s.tracking.to_string(),
    )?;
    clash("max-turns", text(f.max_turns), s.max_turns.to_string())?;
    clash("verify", text(f.verify), s.verify.to_string())?;
    clash(
        "agent-steps",
        text(f.agent_steps),
        s.agent_steps.to_string(),
    )?;
    if f.tracker.is_some_and(|t| t != s.tracker) {
        return Err(crate::input_err!(
            "the [tracking] table of --config differs from the rules the run was tracked with (its meta.json, settings.tracker); resume with the run's rules or start a new run"
        ));
    }
    if let Some(given) = &f.data {
        if Some(given) != meta.env_data.as_ref() {
            let stored = meta.env_data.as_deref().unwrap_or("(none)");
            return Err(crate::input_err!(
                "--data {given} differs from the run's {stored}; drop --data to resume with the run's data, or start a new run"
            ));
        }
    }
    if let Some((models, named)) = &f.models {
        if models != &meta.models {
            let stored = serde_json::to_string(&meta.models).unwrap_or_default();
            return Err(match named {
                true => crate::input_err!(
                    "--config names other models than the run was made with ({stored}); resume with the run's own config, or start a new run"
                ),
                false => crate::input_err!(
                    "the run was made with other models than the embedded default ({stored}); pass --config with the run's config to resume it"
                ),
            });
        }
    }
    if let Some((file, goals)) = &f.goals {
        if goals != &store.goals()? {
            return Err(crate::input_err!(
                "{file} does not hold the goals of the run in {}; resume without --goals or start a new run",
                store.path.parent().unwrap_or(Path::new(".")).display()
            ));
        }
    }
    Ok(s)
}

/// Runs `task` over `items` with at most `concurrency` in flight, counting outcomes. A task
/// error (a store failure) aborts the whole run.
async fn drive<I, F, Fut>(
    items: Vec<I>,
    concurrency: usize,
    progress: &dyn Progress,
    task: F,
) -> Result<RunCounts>
where
    I: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome>> + Send + 'static,
{
    progress.start(items.len(), "conversations");
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for item in items {
        let (sem, fut) = (sem.clone(), task(item));
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            fut.await
        });
    }
    let mut counts = RunCounts::default();
    while let Some(joined) = set.join_next().await {
        match joined.context("a conversation task panicked")?? {
            Outcome::Finished => counts.finished += 1,
            Outcome::Failed => {
                counts.failed += 1;
                progress.status(format!("{} failed", counts.failed));
            }
        }
        progress.advance(1);
    }
    progress.finish();
    Ok(counts)
}

/// Stores how a conversation ended. Model failures mark it failed with its reason; only store
/// failures (which would lose data) are returned as errors.
fn settle(
    store: &RunStore,
    id: &str,
    result: Result<Ending, RunError>,
    ledger: &Ledger,
) -> Result<Outcome> {
    match result {
        Ok(e) => {
            store.finish(id, &e, &ledger.drain())?;
            Ok(Outcome::Finished)
        }
        Err(RunError::Store { source, .. }) => {
            Err(source.context(format!("goal {id}: the run store failed")))
        }
        Err(RunError::Model { source, .. }) if source.stops_the_run() => Err(stop(id, source)),
        Err(e) => {
            store.fail(id, &e.to_string(), &ledger.drain())?;
            Ok(Outcome::Failed)
        }
    }
}

/// The run's end at an error every later call would hit alike (the server refuses how we ask):
/// the conversation is left unfinished, so `--resume` redoes it once the config is fixed.
fn stop(id: &str, e: ugst_llm::LlmError) -> anyhow::Error {
    anyhow::Error::new(crate::error::InputError::new(format!(
        "goal {id}: {e}\nthe run stopped here; conversations already finished are kept"
    )))
}

/// S0 of `goal`: its decomposition, given or from `decomposer`. `None` when the decomposer
/// failed (the conversation is stored as failed with the reason); an error that stops the run
/// (a refused schema, a bad config) is `Err`.
async fn initial_state(
    store: &RunStore,
    decomposer: &RoleModel,
    ledger: &Ledger,
    goal: &Goal,
) -> Result<Option<GoalState>> {
    match decompose_goal(decomposer, ledger, goal).await {
        Ok(d) => Ok(Some(GoalState::initial(&d))),
        Err(DecomposeError::Llm(e)) if e.stops_the_run() => Err(stop(&goal.id, e)),
        Err(e) => {
            store.fail(&goal.id, &format!("decomposer: {e}"), &ledger.drain())?;
            Ok(None)
        }
    }
}

/// One conversation, start to end. Model failures mark the conversation failed with its reason;
/// only store failures (which would lose data) abort the run.
async fn one_conversation(
    store: &RunStore,
    models: &RoleModels,
    env: &dyn Environment,
    settings: Settings,
    goal: &Goal,
) -> Result<Outcome> {
    let ledger = Ledger::new();
    // A trial samples under its own seed (`run --trials`).
    let seeded;
    let models = match goal.seed {
        Some(seed) => {
            seeded = models.clone().with_seed(seed);
            &seeded
        }
        None => models,
    };
    let Some(s0) = initial_state(store, &models.decomposer, &ledger, goal).await? else {
        return Ok(Outcome::Failed);
    };
    store.start(&goal.id, &s0, &ledger.drain())?;
    let result = run_conversation(models, env, settings, goal, s0, &ledger, |rec| {
        store.commit_turn(&goal.id, rec, &ledger.drain())
    })
    .await;
    settle(store, &goal.id, result, &ledger)
}

/// `ugst track`: copies the conversations of `src` into a new run at `out`, re-judging every
/// turn with `tracker`. `meta` is the source run's, with what re-tracking changed. Conversations
/// without a goal state (imported logs) are decomposed first with `decomposer`.
pub async fn retrack_run(
    src: &RunStore,
    out: &Path,
    tracker: Tracker,
    decomposer: Option<RoleModel>,
    mut meta: RunMeta,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<RunCounts> {
    let start = Instant::now();
    let convs = src.conversations()?;
    let goals: Vec<Goal> = convs.iter().map(|c| c.goal.clone()).collect();
    meta.settings.tracking = tracker.mode;
    meta.settings.tracker = tracker.config;
    meta.source_run = Some(src.path.display().to_string());
    let store = Arc::new(RunStore::create(out, &meta, &goals)?);
    let mut counts = drive(convs, concurrency, progress, move |c| {
        let (store, tracker, decomposer) = (store.clone(), tracker.clone(), decomposer.clone());
        async move {
            let id = c.goal.id.clone();
            let (Some(s0), ConvStatus::Finished) = (c.initial_state.clone(), c.status) else {
                let why = c
                    .error
                    .clone()
                    .unwrap_or_else(|| "it never finished".into());
                store.fail(
                    &id,
                    &format!("not re-tracked: the source conversation did not finish ({why})"),
                    &[],
                )?;
                return Ok(Outcome::Failed);
            };
            let ledger = Ledger::new();
            // An imported conversation has no goal state yet: decompose its goal first.
            let s0 = match (s0.components.is_empty(), &decomposer) {
                (true, Some(d)) => match initial_state(&store, d, &ledger, &c.goal).await? {
                    Some(s0) => s0,
                    None => return Ok(Outcome::Failed),
                },
                _ => s0,
            };
            store.start(&id, &s0, &ledger.drain())?;
            let end = c.end_reason.unwrap_or(EndReason::MaxTurns);
            // Re-tracking changes the goal states, not what happened: the task reward stays.
            let (reward, closing_reasoning) = (c.task_reward.clone(), c.closing_reasoning.clone());
            let res = retrack(&tracker, s0, &c.turns, &ledger, |rec| {
                store.commit_turn(&id, rec, &ledger.drain())
            })
            .await
            .map(|state| Ending {
                end,
                state,
                reward,
                closing_reasoning,
            });
            settle(&store, &id, res, &ledger)
        }
    })
    .await?;
    counts.total = goals.len();
    counts.ran = goals.len();
    counts.wall = start.elapsed();
    Ok(counts)
}
