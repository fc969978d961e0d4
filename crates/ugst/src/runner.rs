//! Runs many conversations with bounded concurrency, a progress bar and the run store; resumes a
//! killed run by redoing only the conversations that never reached `finished` or `failed`.

use crate::config::RoleModels;
use crate::decompose::decompose;
use crate::goals::Goal;
use crate::simulate::{env::Environment, retrack, run_conversation, EndReason, Settings};
use crate::store::{ConvStatus, RunMeta, RunStore};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};
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
    let pb = progress(todo.len(), "conversations", quiet);
    let failed = Arc::new(AtomicUsize::new(0));
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for id in &todo {
        let goal = by_id[id].clone();
        let (store, models, env, sem) = (store.clone(), models.clone(), env.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            one_conversation(&store, &models, env.as_ref(), settings, &goal).await
        });
    }
    let mut summary = RunSummary {
        total: goals.len(),
        ran: todo.len(),
        ..Default::default()
    };
    while let Some(joined) = set.join_next().await {
        match joined.context("a conversation task panicked")?? {
            Outcome::Finished => summary.finished += 1,
            Outcome::Failed => {
                summary.failed += 1;
                let n = failed.fetch_add(1, Ordering::Relaxed) + 1;
                pb.set_message(format!("{n} failed"));
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    summary.wall = start.elapsed();
    Ok(summary)
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
    let s0 = match &goal.state {
        Some(d) => GoalState::initial(d),
        None => match decompose(
            &models.decomposer,
            &ledger,
            &goal.goal,
            models.sampling("decomposer"),
        )
        .await
        {
            Ok(d) => GoalState::initial(&d),
            Err(e) => {
                store.fail(&goal.id, &format!("decomposer: {e}"), &ledger.drain())?;
                return Ok(Outcome::Failed);
            }
        },
    };
    store.start(&goal.id, &s0, &ledger.drain())?;
    let result = run_conversation(models, env, settings, goal, s0, &ledger, |rec| {
        store.commit_turn(&goal.id, rec, &ledger.drain())
    })
    .await;
    match result {
        Ok((end, state)) => {
            store.finish(&goal.id, end, &state, &ledger.drain())?;
            Ok(Outcome::Finished)
        }
        Err(e) if e.role == "store" => Err(e
            .source
            .context(format!("goal {}: the run store failed", goal.id))),
        Err(e) => {
            store.fail(&goal.id, &e.to_string(), &ledger.drain())?;
            Ok(Outcome::Failed)
        }
    }
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
    let pb = progress(convs.len(), "conversations", quiet);
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for c in convs {
        let (store, models, sem) = (store.clone(), models.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
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
                return Ok::<_, anyhow::Error>(Outcome::Failed);
            };
            store.start(&id, &s0, &[])?;
            let ledger = Ledger::new();
            let res = retrack(&models, tracking, s0, &c.turns, &ledger, |rec| {
                store.commit_turn(&id, rec, &ledger.drain())
            })
            .await;
            match res {
                Ok(state) => {
                    let end = c
                        .end_reason
                        .as_deref()
                        .and_then(EndReason::parse)
                        .unwrap_or(EndReason::MaxTurns);
                    store.finish(&id, end, &state, &ledger.drain())?;
                    Ok(Outcome::Finished)
                }
                Err(e) if e.role == "store" => Err(e.source),
                Err(e) => {
                    store.fail(&id, &e.to_string(), &ledger.drain())?;
                    Ok(Outcome::Failed)
                }
            }
        });
    }
    let mut summary = RunSummary {
        total: goals.len(),
        ran: goals.len(),
        ..Default::default()
    };
    while let Some(j) = set.join_next().await {
        match j.context("a tracking task panicked")?? {
            Outcome::Finished => summary.finished += 1,
            Outcome::Failed => summary.failed += 1,
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    summary.wall = start.elapsed();
    Ok(summary)
}
