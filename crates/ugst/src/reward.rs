//! The composite UGST reward for training a simulator with GRPO.
//!
//! A candidate user turn is scored against the goal state before it: the turn must follow the
//! reasoning layout ([`crate::simulate::reasoning`]); its message is judged by the tracker as the
//! next turn of the conversation; then, on the state after it, five conditions are checked:
//!
//! - `I_profile` / `I_policy`: every user-profile / user-policy sub-component is ALIGNED;
//! - `I_objectives` / `I_requirements`: every task objective / requirement is ATTEMPTED or
//!   COMPLETE;
//! - `I_preferences`: every preference is ALIGNED.
//!
//! A category with no sub-component counts as satisfied. R = Σ α_j · I_j (α_j = 0.5 by default,
//! so R ∈ [0, 2.5]). A candidate that breaks the layout is not judged and gets the format penalty
//! (−0.5 by default, below every judged reward). When the judge fails, the reward is `None` so a
//! trainer can drop the sample instead of learning from noise.

use crate::decompose::decompose;
use crate::model::Exchange;
use crate::prompts::STOP;
use crate::roles::RoleModels;
use crate::simulate::{reasoning, user};
use crate::track::{ConversationState, Tracker};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ugst_llm::Ledger;
use ugst_state::{Category, Decomposition, GoalState};

/// α per condition, and the penalty for a broken layout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardConfig {
    pub profile: f64,
    pub policy: f64,
    pub objectives: f64,
    pub requirements: f64,
    pub preferences: f64,
    pub format_penalty: f64,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            profile: 0.5,
            policy: 0.5,
            objectives: 0.5,
            requirements: 0.5,
            preferences: 0.5,
            format_penalty: -0.5,
        }
    }
}

/// Condition names, in the order of `Category::ALL`.
pub const CONDITIONS: [&str; 5] = [
    "profile",
    "policy",
    "objectives",
    "requirements",
    "preferences",
];

impl RewardConfig {
    fn alpha(&self, cat: Category) -> f64 {
        match cat {
            Category::UserProfile => self.profile,
            Category::UserPolicy => self.policy,
            Category::TaskObjective => self.objectives,
            Category::Requirement => self.requirements,
            Category::Preference => self.preferences,
        }
    }

    /// Reads `profile=0.5,policy=1,...,format_penalty=-1`; unnamed conditions keep 0.5.
    pub fn parse(s: &str) -> Result<RewardConfig, String> {
        let mut c = RewardConfig::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: write NAME=NUMBER"))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: {v:?} is not a number"))?;
            let slot = match k.trim() {
                "profile" => &mut c.profile,
                "policy" => &mut c.policy,
                "objectives" => &mut c.objectives,
                "requirements" => &mut c.requirements,
                "preferences" => &mut c.preferences,
                "format_penalty" => &mut c.format_penalty,
                other => {
                    return Err(format!(
                        "unknown weight {other:?}; use {}, format_penalty",
                        CONDITIONS.join(", ")
                    ))
                }
            };
            *slot = v;
        }
        Ok(c)
    }
}

/// The five conditions on a state: every sub-component of the category in a success state.
pub fn conditions(state: &GoalState) -> BTreeMap<String, bool> {
    Category::ALL
        .iter()
        .zip(CONDITIONS)
        .map(|(cat, name)| {
            let ok = state
                .components
                .iter()
                .filter(|c| c.category == *cat)
                .all(|c| c.is_success());
            (name.to_string(), ok)
        })
        .collect()
}

/// R = Σ α_j I_j.
pub fn combine(cfg: &RewardConfig, conds: &BTreeMap<String, bool>) -> f64 {
    Category::ALL
        .iter()
        .zip(CONDITIONS)
        .filter(|(_, name)| conds.get(*name).copied().unwrap_or(false))
        .map(|(cat, _)| cfg.alpha(*cat))
        .sum()
}

pub use crate::model::transcript::{Speaker, Utterance};

/// What the reward knows about the conversation the candidate continues. `goal` (text) or
/// `decomposition` is required; `state` (the goal state before the candidate) is computed from
/// the goal and the history when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    #[serde(default)]
    pub goal: Option<String>,
    #[serde(default)]
    pub decomposition: Option<Decomposition>,
    #[serde(default)]
    pub history: Vec<Utterance>,
    #[serde(default)]
    pub state: Option<GoalState>,
    /// The candidate's turn number (default: one more than the user turns in `history`).
    #[serde(default)]
    pub turn: Option<u32>,
    #[serde(default)]
    pub max_turns: Option<u32>,
}

/// What the judge reads as the agent's side of a candidate turn (the agent has not seen it).
pub const NOT_ANSWERED_YET: &str = "(the agent has not answered this message yet)";

impl Context {
    /// What a client sent, checked before any judging: a given `state` must be a state (see
    /// [`GoalState::check`]), a given decomposition must be usable. Errors name the field under
    /// `context.`.
    pub fn check(&self) -> Result<(), String> {
        if let Some(s) = &self.state {
            s.check().map_err(|e| format!("state.{e}"))?;
        }
        if let Some(d) = &self.decomposition {
            d.validate().map_err(|e| format!("decomposition: {e}"))?;
        }
        Ok(())
    }
}

/// The history as exchanges (one rule for every shape: [`crate::model::transcript::exchanges`]).
pub fn exchanges(history: &[Utterance]) -> Vec<Exchange> {
    crate::model::transcript::exchanges(history.iter().map(|u| (u.speaker, u.text.as_str())))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub reward: Option<f64>,
    pub conditions: BTreeMap<String, bool>,
    pub format_ok: bool,
    pub error: Option<String>,
}

/// The goal state before the candidate: given, or S0 (given decomposition, else decomposed from
/// the goal) tracked through the history.
pub async fn state_before(
    models: &RoleModels,
    tracker: &Tracker,
    ctx: &Context,
    ledger: &Ledger,
) -> Result<GoalState, String> {
    if let Some(s) = &ctx.state {
        return Ok(s.clone());
    }
    let d = match (&ctx.decomposition, &ctx.goal) {
        (Some(d), _) => {
            d.validate()
                .map_err(|e| format!("context.decomposition: {e}"))?;
            d.clone()
        }
        (None, Some(goal)) => decompose(&models.decomposer, ledger, goal)
            .await
            .map_err(|e| format!("decomposing the goal: {e}"))?,
        (None, None) => {
            return Err("context needs \"goal\" (text), \"decomposition\" or \"state\"".into())
        }
    };
    let mut conv = ConversationState::new(GoalState::initial(&d));
    for e in exchanges(&ctx.history) {
        conv.advance(tracker, ledger, e)
            .await
            .map_err(|e| format!("tracking the history: {e}"))?;
    }
    Ok(conv.state)
}

/// Whether a candidate follows the reasoning layout (reported even when the judge fails).
pub fn score_layout_ok(response: &str) -> bool {
    reasoning::parse(response).is_ok()
}

/// Scores one candidate turn.
pub async fn score(
    tracker: &Tracker,
    cfg: &RewardConfig,
    ctx: &Context,
    before: &GoalState,
    response: &str,
    ledger: &Ledger,
) -> Scored {
    let turn_text = match reasoning::parse(response) {
        Ok(r) => r.reply,
        Err(e) => {
            return Scored {
                reward: Some(cfg.format_penalty),
                conditions: BTreeMap::new(),
                format_ok: false,
                error: Some(format!("layout: {e}")),
            }
        }
    };
    let user = user::parse(&turn_text);
    let mut history = exchanges(&ctx.history);
    let turn = ctx
        .turn
        .unwrap_or(history.iter().filter(|e| !e.user.is_empty()).count() as u32 + 1);
    // The candidate is judged as the newest turn of a live conversation: a message the agent
    // has yet to answer; only a candidate that stops reads as the user ending the conversation.
    history.push(Exchange {
        agent: (!user.stop).then(|| NOT_ANSWERED_YET.to_string()),
        user: if user.stop && user.text.is_empty() {
            STOP.to_string()
        } else {
            user.text
        },
    });
    let judged = match tracker.judge_turn(ledger, before, &history, turn).await {
        Ok(j) => j,
        Err(e) => {
            return Scored {
                reward: None,
                conditions: BTreeMap::new(),
                format_ok: true,
                error: Some(format!("judge: {e}")),
            }
        }
    };
    let mut after = before.clone();
    judged.apply(&mut after, turn);
    let conds = conditions(&after);
    Scored {
        reward: Some(combine(cfg, &conds)),
        conditions: conds,
        format_ok: true,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ugst_state::{Status, Update};

    fn state() -> GoalState {
        let d: Decomposition = serde_json::from_str(
            r#"{"user_profile": ["You are Ana"], "user_policy": [],
                "task_objectives": [{"text": "Book a hotel", "requirements": ["wifi"], "preferences": ["quiet"]}]}"#,
        )
        .unwrap();
        GoalState::initial(&d)
    }

    #[test]
    fn conditions_and_weights() {
        let mut s = state();
        let c = conditions(&s);
        // S0: profile ALIGNED, no policy (satisfied), objective/requirement INCOMPLETE,
        // preference MISALIGNED.
        assert_eq!(
            c.values().copied().collect::<Vec<_>>(),
            // BTreeMap order: objectives, policy, preferences, profile, requirements.
            [false, true, false, true, false]
        );
        assert_eq!(combine(&RewardConfig::default(), &c), 1.0);
        let up = |id: &str, status| Update {
            id: id.into(),
            status,
            reason: "r".into(),
        };
        s.apply_turn(
            1,
            &[
                up("obj-1", Status::Attempted),
                up("req-1.1", Status::Complete),
                up("pref-1.1", Status::Aligned),
            ],
        );
        assert_eq!(combine(&RewardConfig::default(), &conditions(&s)), 2.5);
        let w = RewardConfig::parse("objectives=2, format_penalty=-1").unwrap();
        assert_eq!((w.objectives, w.policy, w.format_penalty), (2.0, 0.5, -1.0));
        assert_eq!(combine(&w, &conditions(&s)), 4.0);
        assert!(RewardConfig::parse("tone=1")
            .unwrap_err()
            .contains("unknown weight"));
        assert!(RewardConfig::parse("profile").is_err());
    }

    #[test]
    fn history_becomes_exchanges() {
        let h = |speaker, text: &str| Utterance {
            speaker,
            text: text.into(),
        };
        let e = exchanges(&[
            h(Speaker::Agent, "Welcome"),
            h(Speaker::User, "Hi"),
            h(Speaker::Agent, "Hello"),
            h(Speaker::Agent, "Anything else?"),
            h(Speaker::User, "No"),
        ]);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].user, "");
        assert_eq!(e[1].agent.as_deref(), Some("Hello\nAnything else?"));
        assert_eq!(e[2].agent, None);
    }
}
