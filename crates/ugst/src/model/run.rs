//! A run and its conversations as data: the settings a run is made with, how each conversation
//! went (status, end reason, turns with the goal state after each) and the task reward. The
//! store writes these as text through serde; nothing matches them as strings.

use super::goal::Goal;
use super::transcript::Exchange;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use ugst_llm::Message;
use ugst_state::GoalState;

/// Default number of user–agent turns.
pub const DEFAULT_MAX_TURNS: u32 = 10;
/// Default number of model calls the agent may make in one turn.
pub const DEFAULT_AGENT_STEPS: u32 = 8;

/// Writes the enums' text forms once: `as_str`, `Display`, `FromStr` (with the accepted names in
/// the error) and the list of all values, matching their serde names.
macro_rules! text_enum {
    ($ty:ident $what:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(format!(
                        "unknown {} '{other}'; use one of: {}",
                        $what,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

/// How the simulator is steered before each turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimMode {
    /// The goal appears in the system message only.
    Prompt,
    /// The goal is restated before every turn.
    Goal,
    /// The latest goal state S_{i-1}, with reasons, is shown before every turn.
    GoalState,
    /// As `goal-state`, and every turn is written with its reasoning first (progress, plan,
    /// alignment); the reasoning is stored, never shown to the agent.
    Reasoning,
}
text_enum!(SimMode "mode" { Prompt => "prompt", Goal => "goal", GoalState => "goal-state", Reasoning => "reasoning" });

/// How the tracker asks its judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrackingMode {
    /// One judge call per open sub-component per turn (the paper's).
    PerComponent,
    /// One call per turn for every open sub-component.
    Batched,
    /// One call per turn naming only what changes, each change with quoted evidence.
    Delta,
}
text_enum!(TrackingMode "tracking mode" { PerComponent => "per-component", Batched => "batched", Delta => "delta" });

/// Why a conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    SimulatorStop,
    MaxTurns,
    /// The agent handed the user to a human (a tool call ended the episode).
    AgentTransfer,
    /// The conversation failed (a model call gave up); its error says where.
    Error,
}
text_enum!(EndReason "end reason" { SimulatorStop => "simulator_stop", MaxTurns => "max_turns", AgentTransfer => "agent_transfer", Error => "error" });

/// Status of one conversation in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvStatus {
    Pending,
    Running,
    Finished,
    Failed,
}
text_enum!(ConvStatus "conversation status" { Pending => "pending", Running => "running", Finished => "finished", Failed => "failed" });

/// Fixed settings of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub mode: SimMode,
    pub tracking: TrackingMode,
    /// The tracker's rules and thresholds (`[tracking]` in `ugst.toml`), so a stored run says
    /// exactly which rules judged it. Runs stored before it existed read as the default.
    #[serde(default)]
    pub tracker: super::TrackingConfig,
    pub max_turns: u32,
    pub agent_steps: u32,
    /// How many times a draft may be sent back by the verifier (0 = no verifier).
    #[serde(default)]
    pub verify: u32,
}

impl Default for Settings {
    /// What `ugst run` uses when no flag says otherwise: the paper's baseline (prompt-only
    /// simulator, per-component tracking), 10 turns, 8 agent steps, no verifier.
    fn default() -> Self {
        Settings {
            mode: SimMode::Prompt,
            tracking: TrackingMode::PerComponent,
            max_turns: DEFAULT_MAX_TURNS,
            agent_steps: DEFAULT_AGENT_STEPS,
            verify: 0,
            tracker: super::TrackingConfig::default(),
        }
    }
}

/// What a run was made with: its settings, environment, goals and models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    #[serde(flatten)]
    pub settings: Settings,
    pub env: String,
    /// Where the environment's data was read from (`--data`), for environments that need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_data: Option<String>,
    pub goals_file: Option<String>,
    /// Model names and endpoints per role (never keys).
    pub models: Value,
    /// For runs made by `ugst track`: the run whose conversations were re-tracked.
    #[serde(default)]
    pub source_run: Option<String>,
    /// For runs made by `ugst track`: the models that re-judged them (`tracker`, `judge`);
    /// `models` keeps what the source run was made with, since only the tracking changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retracked_with: Option<Value>,
    pub created: u64,
}

impl RunMeta {
    /// The metadata of a new run with `settings` in environment `env`, stamped now.
    pub fn new(settings: Settings, env: &str, models: Value) -> RunMeta {
        RunMeta {
            settings,
            env: env.to_string(),
            env_data: None,
            goals_file: None,
            models,
            source_run: None,
            retracked_with: None,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

/// A draft the verifier turned down, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedDraft {
    pub text: String,
    pub stop: bool,
    pub reason: String,
}

/// One stored turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    pub index: u32,
    pub user: String,
    /// The agent's visible reply; `None` for a closing message sent with the stop signal.
    pub agent: Option<String>,
    /// Everything the agent produced this turn (tool calls, observations, reply).
    #[serde(default)]
    pub agent_messages: Vec<Message>,
    /// The steering note the simulator saw before writing this turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steering: Option<String>,
    /// Drafts the verifier turned down before this turn's message was sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedDraft>,
    /// The simulator's reasoning for this turn (`reasoning` mode); never shown to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// The thinking a reasoning model wrote before the user's message and before the agent's
    /// answer (see `ugst_llm::thinking`): kept for inspection, never shown to the other role.
    #[serde(default, skip_serializing_if = "Thinking::is_empty")]
    pub thinking: Thinking,
    /// The goal state after this turn (S_index).
    pub state: GoalState,
}

/// A turn's private thinking, per role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thinking {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

impl Thinking {
    pub fn is_empty(&self) -> bool {
        self.user.is_none() && self.agent.is_none()
    }
}

impl TurnRecord {
    pub fn exchange(&self) -> Exchange {
        Exchange {
            user: self.user.clone(),
            agent: self.agent.clone(),
        }
    }
}

/// The task reward of one conversation, as the environment defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOutcome {
    /// 0.0 to 1.0.
    pub reward: f64,
    /// What the reward is made of (database match, required outputs, changed records, …).
    pub details: Value,
}

/// How a conversation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub end: EndReason,
    /// The final goal state S_n.
    pub state: GoalState,
    /// The environment's task reward, when the goal has a task.
    pub reward: Option<TaskOutcome>,
    /// Reasoning that came with a stop signal sent on its own (no turn records it).
    pub closing_reasoning: Option<String>,
}

/// One conversation as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    pub goal: Goal,
    pub status: ConvStatus,
    pub end_reason: Option<EndReason>,
    pub error: Option<String>,
    pub initial_state: Option<GoalState>,
    pub final_state: Option<GoalState>,
    pub turns: Vec<TurnRecord>,
    /// The environment's task reward, for goals that are benchmark tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_reward: Option<TaskOutcome>,
    /// The simulator's reasoning for a stop signal sent on its own (`reasoning` mode): it ends
    /// the conversation without a turn, so it is kept here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing_reasoning: Option<String>,
}

impl Conversation {
    /// Whether the conversation ran to its end (only finished ones are evaluated).
    pub fn finished(&self) -> bool {
        self.status == ConvStatus::Finished
    }
    /// Whether its goal state was tracked (an imported log is not until `ugst track`): the
    /// state-based metrics (termination classes, failure rules, alignment) need it.
    pub fn tracked(&self) -> bool {
        self.final_state
            .as_ref()
            .is_some_and(|s| !s.components.is_empty())
    }
    /// The exchanges of its turns, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.turns.iter().map(TurnRecord::exchange).collect()
    }
}

/// The finished conversations of a run, in order.
pub fn finished(convs: &[Conversation]) -> impl Iterator<Item = &Conversation> {
    convs.iter().filter(|c| c.finished())
}

/// The simulator stayed on its goal: every profile and policy item ALIGNED and every task
/// objective successful in the final state.
pub fn simulator_aligned(s: &GoalState) -> bool {
    use ugst_state::Category;
    s.components.iter().all(|c| match c.category {
        Category::UserProfile | Category::UserPolicy | Category::TaskObjective => c.is_success(),
        Category::Requirement | Category::Preference => true,
    })
}

/// The last attempt of every trial (`run --rerun-misaligned` keeps the earlier ones in the run),
/// in trial order.
pub fn last_attempts(convs: &[Conversation]) -> Vec<&Conversation> {
    let mut last: std::collections::BTreeMap<&str, &Conversation> = Default::default();
    for c in convs {
        let e = last.entry(c.goal.trial_id()).or_insert(c);
        if c.goal.attempt.unwrap_or(0) > e.goal.attempt.unwrap_or(0) {
            *e = c;
        }
    }
    last.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_match_serde() {
        for m in SimMode::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
            assert_eq!(m.as_str().parse::<SimMode>().unwrap(), *m);
        }
        for m in TrackingMode::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        for e in EndReason::ALL {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        for c in ConvStatus::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert!("fast"
            .parse::<SimMode>()
            .unwrap_err()
            .contains("goal-state"));
    }

    #[test]
    fn meta_keeps_its_stored_shape() {
        let m = RunMeta::new(Settings::default(), "chat", Value::Null);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["mode"], "prompt");
        assert_eq!(v["tracking"], "per-component");
        assert_eq!(serde_json::from_value::<RunMeta>(v).unwrap(), m);
    }
}
