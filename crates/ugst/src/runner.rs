//! Runs many conversations with bounded concurrency, a progress bar and the run store; resumes a
//! killed run by redoing only the conversations that never reached `finished` or `failed`.

use crate::config::RoleModels;
use crate::decompose::decompose_goal;
use crate::goals::Goal;
use crate::simulate::{
    env::Environment, retrack, run_conversation, ConversationError, EndReason, Ending, Settings,
};
use crate::store::{ConvStatus, RunMeta, RunStore};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use ugst_llm::Ledger;
use ugst_state::GoalState;

/// What a run (or a resumed part of one) did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    pub total: usize,
    pub ran: usize,
    pub finished: usize,
    pub failed: usize,
    pub wall: Duration,
}

/// A progress bar on stderr, hidden when `quiet` or when stderr is not a terminal.
pub fn progress(len: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}}) {{msg}}"
        ))
        .expect("valid progress template"),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

#[derive(Clone, Copy)]
enum Outcome {
    Finished,
    Failed,
}

/// Runs every unfinished conversation of `store`.
pub async fn run_pending(
    store: Arc<RunStore>,
    models: RoleModels,
    env: Arc<dyn Environment>,
    settings: Settings,
    concurrency: usize,
    quiet: bool,
) -> Result<RunSummary> {
    let start = Instant::now();
    let goals = store.goals()?;
    let todo = store.unfinished()?;
    let by_id: std::collections::HashMap<String, Goal> =
        goals.iter().map(|g| (g.id.clone(), g.clone())).collect();
    let todo: Vec<Goal> = todo.iter().map(|id| by_id[id].clone()).collect();
    let ran = todo.len();
    let mut summary = drive(todo, concurrency, quiet, move |goal| {
        let (store, models, env) = (store.clone(), models.clone(), env.clone());
        async move { one_conversation(&store, &models, env.as_ref(), settings, &goal).await }
    })
    .await?;
    summary.total = goals.len();
    summary.ran = ran;
    summary.wall = start.elapsed();
    Ok(summary)
}

/// Runs `task` over `items` with at most `concurrency` in flight and a progress bar, counting
/// outcomes. A task error (a store failure) aborts the whole run.
async fn drive<I, F, Fut>(
    items: Vec<I>,
    concurrency: usize,
    quiet: bool,
    task: F,
) -> Result<RunSummary>
where
    I: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome>> + Send + 'static,
{
    let pb = progress(items.len(), "conversations", quiet);
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for item in items {
        let (sem, fut) = (sem.clone(), task(item));
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            fut.await
        });
    }
    let mut summary = RunSummary::default();
    while let Some(joined) = set.join_next().await {
        match joined.context("a conversation task panicked")?? {
            Outcome::Finished => summary.finished += 1,
            Outcome::Failed => {
                summary.failed += 1;
                pb.set_message(format!("{} failed", summary.failed));
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(summary)
}

/// Stores how a conversation ended. Model failures mark it failed with its reason; only store
/// failures (which would lose data) are returned as errors.
fn settle(
    store: &RunStore,
    id: &str,
    result: Result<Ending, ConversationError>,
    ledger: &Ledger,
) -> Result<Outcome> {
    match result {
        Ok(e) => {
            store.finish(id, &e, &ledger.drain())?;
            Ok(Outcome::Finished)
        }
        Err(e) if e.role == "store" => {
            Err(e.source.context(format!("goal {id}: the run store failed")))
        }
        Err(e) => {
            store.fail(id, &e.to_string(), &ledger.drain())?;
            Ok(Outcome::Failed)
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
    let s0 = match decompose_goal(
        &models.decomposer,
        &ledger,
        goal,
        models.sampling("decomposer"),
    )
    .await
    {
        Ok(d) => GoalState::initial(&d),
        Err(e) => {
            store.fail(&goal.id, &format!("decomposer: {e}"), &ledger.drain())?;
            return Ok(Outcome::Failed);
        }
    };
    store.start(&goal.id, &s0, &ledger.drain())?;
    let result = run_conversation(models, env, settings, goal, s0, &ledger, |rec| {
        store.commit_turn(&goal.id, rec, &ledger.drain())
    })
    .await;
    settle(store, &goal.id, result, &ledger)
}

/// `ugst track`: copies the conversations of `src` into a new run at `out`, re-judging every turn.
pub async fn retrack_run(
    src: &RunStore,
    out: &std::path::Path,
    models: RoleModels,
    mut meta: RunMeta,
    tracking: crate::track::TrackingMode,
    concurrency: usize,
    quiet: bool,
) -> Result<RunSummary> {
    let start = Instant::now();
    let convs = src.conversations()?;
    let goals: Vec<Goal> = convs.iter().map(|c| c.goal.clone()).collect();
    meta.tracking = tracking.as_str().to_string();
    meta.source_run = Some(src.path.display().to_string());
    let store = Arc::new(RunStore::create(out, &meta, &goals)?);
    let mut summary = drive(convs, concurrency, quiet, move |c| {
        let (store, models) = (store.clone(), models.clone());
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
            store.start(&id, &s0, &[])?;
            let ledger = Ledger::new();
            let end = c
                .end_reason
                .as_deref()
                .and_then(EndReason::parse)
                .unwrap_or(EndReason::MaxTurns);
            // Re-tracking changes the goal states, not what happened: the task reward stays.
            let reward = c.task_reward.clone();
            let closing_reasoning = c.closing_reasoning.clone();
            let res = retrack(&models, tracking, s0, &c.turns, &ledger, |rec| {
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
    summary.total = goals.len();
    summary.ran = goals.len();
    summary.wall = start.elapsed();
    Ok(summary)
}
