//! `ugst run`: a new run from goals (or an environment's tasks), or `--resume` of one.

use crate::args::RunArgs;
use crate::{backends, progress};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ugst::config::Config;
use ugst::goals::read_goals;
use ugst::model::{Goal, RunMeta, Settings};
use ugst::runner::{self, check_resume, ResumeFlags, RunCounts};
use ugst::simulate::env::{self, Environment};
use ugst::store::RunStore;

pub async fn run(a: RunArgs) -> Result<()> {
    let cfg = backends::config_with(a.config.as_deref(), &a.models)?;
    if a.resume {
        return resume(a, &cfg).await;
    }
    let s = &a.source;
    let (environment, goals) = env::goals_for(
        s.env.as_deref(),
        s.data.as_deref(),
        s.goals.as_deref(),
        &s.split,
        &s.task_ids,
        s.limit,
    )?;
    let d = Settings::default();
    let settings = Settings {
        mode: a.mode.unwrap_or(d.mode),
        tracking: a.tracking.unwrap_or(cfg.default_tracking()),
        max_turns: a.max_turns.unwrap_or(d.max_turns),
        agent_steps: a.agent_steps.unwrap_or(d.agent_steps),
        verify: a.verify.unwrap_or(d.verify),
        tracker: cfg.tracking,
    };
    if settings.max_turns == 0 {
        return Err(ugst::input_err!("--max-turns must be at least 1"));
    }
    let goals = match a.trials {
        0 => return Err(ugst::input_err!("--trials must be at least 1")),
        1 => goals,
        k => ugst::model::Goal::trials(&goals, k, a.seed),
    };
    let meta = RunMeta {
        env_data: s.data.as_deref().map(canonical),
        goals_file: s.goals.as_ref().map(|p| p.display().to_string()),
        ..RunMeta::new(settings, environment.name(), cfg.describe())
    };
    let limits = Limits {
        concurrency: a.concurrency,
        quiet: a.quiet,
        max_failed_share: a.max_failed_share,
        rerun_misaligned: a.rerun_misaligned,
    };
    start(&cfg, &meta, goals, environment, &a.out, limits).await
}

/// How a run is driven and judged from the terminal.
#[derive(Clone, Copy)]
pub struct Limits {
    pub concurrency: usize,
    pub quiet: bool,
    /// Exit non-zero above this share of failed conversations (nothing finished always does).
    pub max_failed_share: Option<f64>,
    /// `--rerun-misaligned N`.
    pub rerun_misaligned: u32,
}

/// A data path as stored with the run (absolute where it resolves).
pub fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// Connects the models, creates the run in `out`, runs it and prints the summary.
pub async fn start(
    cfg: &Config,
    meta: &RunMeta,
    goals: Vec<Goal>,
    environment: Arc<dyn Environment>,
    out: &Path,
    limits: Limits,
) -> Result<()> {
    let counts = simulate(cfg, meta, goals, environment, out, limits).await?;
    finish(out, &counts, limits.max_failed_share).await
}

/// Connects the models, creates the run in `out` and runs it (with the reruns asked for).
pub async fn simulate(
    cfg: &Config,
    meta: &RunMeta,
    goals: Vec<Goal>,
    environment: Arc<dyn Environment>,
    out: &Path,
    limits: Limits,
) -> Result<RunCounts> {
    // Models first: a config error must not leave an empty run behind.
    let models = backends::connect(cfg).await?;
    let bar = progress::terminal(limits.quiet);
    let mut counts = runner::start(
        out,
        meta,
        &goals,
        models.clone(),
        environment.clone(),
        limits.concurrency,
        bar.as_ref(),
    )
    .await?;
    if limits.rerun_misaligned > 0 {
        let store = Arc::new(RunStore::open_for_writing(out)?);
        let again = runner::rerun_misaligned(
            store,
            models,
            environment,
            meta.settings,
            limits.concurrency,
            bar.as_ref(),
            limits.rerun_misaligned,
        )
        .await?;
        eprintln!(
            "reran {} trial attempt(s) whose simulator misaligned: {} finished, {} failed",
            again.ran, again.finished, again.failed
        );
        counts.add(&again);
    }
    Ok(counts)
}

async fn resume(a: RunArgs, cfg: &Config) -> Result<()> {
    let store = RunStore::open_for_writing(&a.out)?;
    let meta = store.meta()?;
    let goals = match &a.source.goals {
        Some(g) => Some((g.display().to_string(), read_goals(g)?)),
        None => None,
    };
    let flags = ResumeFlags {
        mode: a.mode,
        tracking: a.tracking,
        max_turns: a.max_turns,
        agent_steps: a.agent_steps,
        verify: a.verify,
        env: a.source.env.clone(),
        data: a.source.data.as_deref().map(canonical),
        models: Some((cfg.describe(), a.config.is_some())),
        tracker: a.config.is_some().then_some(cfg.tracking),
        goals,
    };
    let settings = check_resume(&store, &meta, &flags)?;
    if a.retry_failed {
        store.requeue_failed()?;
    }
    let data = (a.source.data.clone()).or_else(|| meta.env_data.as_ref().map(PathBuf::from));
    let environment = env::open(&meta.env, data.as_deref())?;
    environment.check_goals(&store.goals()?)?;
    let models = backends::connect(cfg).await?;
    let bar = progress::terminal(a.quiet);
    let counts = runner::run_pending(
        Arc::new(store),
        models,
        environment,
        settings,
        a.concurrency,
        bar.as_ref(),
    )
    .await?;
    finish(&a.out, &counts, a.max_failed_share).await
}

/// The closing line of a run and its summary; an error when too many conversations failed.
pub async fn finish(out: &Path, s: &RunCounts, max_failed_share: Option<f64>) -> Result<()> {
    eprintln!(
        "{} conversation(s) run in {:.1}s: {} finished, {} failed ({} in the run)",
        s.ran,
        s.wall.as_secs_f64(),
        s.finished,
        s.failed,
        s.total
    );
    super::eval::print_one(out, false, None, false).await?;
    let convs = RunStore::open(out)?.conversations()?;
    s.check(
        max_failed_share,
        &ugst::evaluate::alignment(&convs).failure_reasons,
    )
}
