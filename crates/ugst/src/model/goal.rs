//! A user goal as read from a goal file, and the `{"id", "decomposition"}` line that
//! `ugst decompose` and the goal generator write (and `ugst agree` reads).

use serde::{Deserialize, Serialize};
use ugst_state::Decomposition;

/// One user goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub id: String,
    pub goal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// A pre-made decomposition; when present the decomposer is not called. Goal files written
    /// before the rename call it `state`, which is still read.
    #[serde(default, alias = "state", skip_serializing_if = "Option::is_none")]
    pub decomposition: Option<Decomposition>,
    /// What the environment scores the conversation against (for `--env multiwoz`: the
    /// objectives `ugst goals generate multiwoz` built the goal from). Never shown to a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<serde_json::Value>,
    /// Which trial of its task this is (`run --trials`, imported logs; ids then read
    /// `<task>#<trial>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<u32>,
    /// The sampling seed of the simulator and the agent in this conversation (`run --trials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Which rerun of its trial this is (`run --rerun-misaligned`; 0 or absent: the first
    /// attempt). Its id is the trial's with `@rerun<n>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

impl Goal {
    /// The trial this conversation attempts: its id without `@rerun<n>`.
    pub fn trial_id(&self) -> &str {
        self.id.split("@rerun").next().unwrap_or(&self.id)
    }

    /// Attempt `n` (1, 2, …) of this goal's trial, under a new seed.
    pub fn rerun(&self, n: u32) -> Goal {
        Goal {
            id: format!("{}@rerun{n}", self.trial_id()),
            attempt: Some(n),
            seed: Some(self.seed.unwrap_or(0) + 1_000_003 * n as u64),
            ..self.clone()
        }
    }

    /// `k` trials of each goal: ids `<id>#<trial>`, trial `t` sampling under seed `seed + t`
    /// (the same seed for trial `t` of every goal).
    pub fn trials(goals: &[Goal], k: u32, seed: u64) -> Vec<Goal> {
        goals
            .iter()
            .flat_map(|g| {
                (0..k).map(move |t| Goal {
                    id: format!("{}#{t}", g.id),
                    trial: Some(t),
                    seed: Some(seed + t as u64),
                    ..g.clone()
                })
            })
            .collect()
    }

    /// A goal with only its id and text.
    pub fn new(id: impl Into<String>, goal: impl Into<String>) -> Goal {
        Goal {
            id: id.into(),
            goal: goal.into(),
            max_turns: None,
            domain: None,
            decomposition: None,
            task: None,
            trial: None,
            seed: None,
            attempt: None,
        }
    }
}

/// One line of a decomposition file, `{"id", "state"}`: a goal id and its decomposition. The
/// file format keeps the key `state` that existing reference sets use; this is the one place
/// that writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecompositionLine {
    pub id: String,
    #[serde(rename = "state")]
    pub decomposition: Decomposition,
}

impl DecompositionLine {
    /// The JSONL line (with its newline).
    pub fn to_line(id: &str, d: &Decomposition) -> String {
        serde_json::json!({"id": id, "state": d}).to_string() + "\n"
    }
}

/// How a decomposer model is asked: `free` (it writes the whole decomposition) or `clauses`
/// (ugst cuts the goal into clauses and the model names each clause's kind; see `decompose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecomposeMethod {
    /// The model writes the decomposition.
    Free,
    /// ugst splits the goal into clauses; the model classifies each.
    Clauses,
}
