//! `ugst run`: a new run from goals (or an environment's tasks), or `--resume` of one.

use crate::args::{AgentUrlArgs, RunArgs};
use crate::{backends, progress};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ugst::config::Config;
use ugst::goals::read_goals;
use ugst::model::{Goal, RunMeta, Settings};
use ugst::runner::{self, check_resume, ResumeFlags, RunCounts};
use ugst::simulate::env::hub::{HostedEnv, ToolHub};
use ugst::simulate::env::{self, Environment};
use ugst::store::RunStore;
use ugst_llm::{RemoteAgent, RemoteConfig};

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
    let (environment, agent) = agent_behind_url(&a.agent, environment).await?;
    let meta = RunMeta {
        env_data: s.data.as_deref().map(canonical),
        goals_file: s.goals.as_ref().map(|p| p.display().to_string()),
        ..RunMeta::new(
            settings,
            environment.name(),
            models_of(&cfg, agent.as_ref()),
        )
    };
    let limits = Limits {
        concurrency: a.concurrency,
        quiet: a.quiet,
        max_failed_share: a.max_failed_share,
        rerun_misaligned: a.rerun_misaligned,
    };
    let counts = simulate(&cfg, &meta, goals, environment, &a.out, limits, agent).await?;
    finish(&a.out, &counts, limits.max_failed_share).await
}

/// The models a run records: the config's, with the agent behind a URL in the agent's place.
fn models_of(cfg: &Config, agent: Option<&RemoteAgent>) -> serde_json::Value {
    let mut models = cfg.describe();
    if let Some(a) = agent {
        models["agent"] = a.describe();
    }
    models
}

/// With `--agent-url`: connects the agent (reading an A2A agent's card) and, for an environment
/// with tools, serves each conversation's tools over MCP on `--tools-host`/`--tools-port` for
/// as long as the process runs; the environment returned hosts its sessions there.
async fn agent_behind_url(
    a: &AgentUrlArgs,
    environment: Arc<dyn Environment>,
) -> Result<(Arc<dyn Environment>, Option<RemoteAgent>)> {
    let Some(url) = &a.agent_url else {
        return Ok((environment, None));
    };
    let api_key = match &a.agent_key_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            ugst::input_err!("--agent-key-env {var}: the variable is not set; export {var}=<key>")
        })?),
        None => None,
    };
    let cfg = RemoteConfig {
        url: url.clone(),
        protocol: a.agent_protocol,
        model: a.agent_url_model.clone(),
        api_key,
        timeout: std::time::Duration::from_secs(a.agent_timeout_s.max(1)),
        max_retries: 3,
        poll_interval: std::time::Duration::from_millis(500),
    };
    let agent = RemoteAgent::connect(cfg)
        .await
        .map_err(|e| ugst::input_err!("--agent-url {url}: {e}"))?;
    if environment.tools().is_empty() {
        return Ok((environment, Some(agent)));
    }
    let hub = ToolHub::hosting(environment.as_ref());
    let listener = ugst::serve::listen(&a.tools_host, a.tools_port).await?;
    let app = ugst::serve::tools::router(hub.clone(), &a.tools_host, listener.local_addr()?);
    eprintln!(
        "the agent at {url} gets this run's {} tools over MCP at {}/<conversation>",
        hub.tools().len(),
        hub.base().unwrap_or_default()
    );
    tokio::spawn(async move {
        let exposure = ugst::serve::Exposure::default();
        let forever = std::future::pending::<()>();
        if let Err(e) = ugst::serve::http::serve(listener, app, &exposure, forever).await {
            eprintln!("the MCP tools server stopped: {e}");
        }
    });
    Ok((Arc::new(HostedEnv::new(environment, hub)), Some(agent)))
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

/// Connects the models, creates the run in `out` and runs it (with the reruns asked for).
pub async fn simulate(
    cfg: &Config,
    meta: &RunMeta,
    goals: Vec<Goal>,
    environment: Arc<dyn Environment>,
    out: &Path,
    limits: Limits,
    agent: Option<RemoteAgent>,
) -> Result<RunCounts> {
    // Models first: a config error must not leave an empty run behind.
    let mut models = backends::connect(cfg).await?;
    models.agent_url = agent;
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
    let data = (a.source.data.clone()).or_else(|| meta.env_data.as_ref().map(PathBuf::from));
    let environment = env::open(&meta.env, data.as_deref())?;
    if let (Some(url), None) = (meta.models["agent"]["url"].as_str(), &a.agent.agent_url) {
        return Err(ugst::input_err!(
            "this run's agent is behind {url} ({}): pass --agent-url {url} to resume it",
            meta.models["agent"]["protocol"]
                .as_str()
                .unwrap_or("openai")
        ));
    }
    let (environment, agent) = agent_behind_url(&a.agent, environment).await?;
    let flags = ResumeFlags {
        mode: a.mode,
        tracking: a.tracking,
        max_turns: a.max_turns,
        agent_steps: a.agent_steps,
        verify: a.verify,
        env: a.source.env.clone(),
        data: a.source.data.as_deref().map(canonical),
        models: Some((models_of(cfg, agent.as_ref()), a.config.is_some())),
        tracker: a.config.is_some().then_some(cfg.tracking),
        goals,
    };
    let settings = check_resume(&store, &meta, &flags)?;
    if a.retry_failed {
        store.requeue_failed()?;
    }
    environment.check_goals(&store.goals()?)?;
    let mut models = backends::connect(cfg).await?;
    models.agent_url = agent;
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
