//! The tracker: after each turn of a conversation, an LLM judge says how every sub-component of
//! the user's goal stands, and the tracker turns its answers into [`Update`]s for the state
//! machine (`ugst-state`), which applies them or refuses them with a cause.
//!
//! Read in this order. The paper's method is [`paper`] (one request per open sub-component);
//! [`batched`] asks one request per turn. `delta` mode is the small-model layer, for judges as
//! small as the embedded 1.5B, and runs these steps for each turn:
//!
//! 1. **Propose** (`delta/propose.rs`): one call names only the changes the turn makes, each
//!    with quoted evidence; its schema offers only forward moves.
//! 2. **Evidence** (`delta/evidence.rs`): a change whose quote is not in the judged turn, from
//!    the right speaker, is refused; a preference must be named in the user's words; a profile
//!    part naming an identifier is left to the closing rules (`closing/rules.rs`).
//! 3. **Sweep** (`delta/sweep.rs`): open parts the turn speaks of that the judge passed over
//!    are checked as if proposed.
//! 4. **Checks** (`checks/`): narrow closed questions per change, from
//!    `prompts/track_questions.toml`, each in both answer orders, answered by ranking where the
//!    backend ranks (`checks/ask.rs`) and weighed by pure arithmetic (`checks/verdict.rs`).
//! 5. **Order** (`delta/order.rs`): requirements move with or after their objective.
//! 6. **Closing pass** (`closing/`): once the conversation has ended, the parts still at their
//!    starting status are asked once more over the whole conversation, and two text rules
//!    decide profile and policy breaks that only show across turns.
//!
//! Every number and switch of steps 2–6 is a field of [`TrackingConfig`] (`model/tracking.rs`, a record of the run's settings), set per
//! run from `ugst.toml`'s `[tracking]` table. A conversation is tracked through one driver,
//! [`ConversationState`] (`conversation.rs`): start from S0, advance one exchange at a time,
//! finish with the closing pass. Measurements behind every rule: `docs/tracking.md`.

mod batched;
mod checks;
mod closing;
mod conversation;
mod delta;
mod paper;
mod render;
#[cfg(test)]
mod tests;

pub use crate::model::TrackingConfig;
pub use batched::{batched_request, parse_batched};
pub use conversation::{ConversationState, TrackError};
pub use delta::propose::parse_changes;
pub use paper::{component_request, parse_status};

use crate::model::{Exchange, TrackingMode};
use crate::roles::RoleModel;
use render::PartView;
use ugst_llm::{Ledger, LlmError};
use ugst_state::{GoalState, IgnoreCause, SubComponent, Update};

/// What the judge said about one turn: the updates to apply, and (delta mode) the changes the
/// tracker refused, each with its cause.
#[derive(Debug, Clone, Default)]
pub struct Judgement {
    pub updates: Vec<Update>,
    pub refused: Vec<(Update, IgnoreCause)>,
}

impl Judgement {
    /// Applies the updates to `state` as turn `turn` and records the refused changes in
    /// `state.ignored`.
    pub fn apply(&self, state: &mut GoalState, turn: u32) {
        for (r, cause) in &self.refused {
            state.refuse(turn, r, *cause);
        }
        state.apply_turn(turn, &self.updates);
    }
}

impl From<Vec<Update>> for Judgement {
    fn from(updates: Vec<Update>) -> Judgement {
        Judgement {
            updates,
            refused: Vec::new(),
        }
    }
}

/// The tracker: a judge model with its sampling, the way it is asked ([`TrackingMode`]) and the
/// rules it applies ([`TrackingConfig`]).
#[derive(Clone)]
pub struct Tracker {
    pub role: RoleModel,
    pub mode: TrackingMode,
    pub config: TrackingConfig,
}

/// One turn as the tracker sees it: the state before it, the conversation through it, the
/// judged exchange (the last of `history`) and the parts that can still change.
pub(crate) struct TurnView<'a> {
    pub state: &'a GoalState,
    pub history: &'a [Exchange],
    pub last: &'a Exchange,
    pub turn: u32,
    pub open: Vec<&'a SubComponent>,
}

impl<'a> TurnView<'a> {
    /// Part `id` of the state, with its objective's text.
    pub fn part(&self, id: &str) -> Option<PartView<'a>> {
        self.state.get(id).map(|c| PartView::new(self.state, c))
    }
}

impl Tracker {
    pub fn new(role: RoleModel, mode: TrackingMode, config: TrackingConfig) -> Tracker {
        Tracker { role, mode, config }
    }

    /// Judges turn `turn` (the last entry of `history`) for every open sub-component of
    /// `state`. Settled sub-components are never sent to the judge. The state is not changed:
    /// [`Judgement::apply`] (or [`ConversationState::advance`]) does that.
    pub async fn judge_turn(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        history: &[Exchange],
        turn: u32,
    ) -> Result<Judgement, LlmError> {
        let open: Vec<&SubComponent> = state.open_components().collect();
        let Some(last) = history.last() else {
            return Ok(Judgement::default());
        };
        if open.is_empty() {
            return Ok(Judgement::default());
        }
        let view = TurnView {
            state,
            history,
            last,
            turn,
            open,
        };
        let (llm, sampling) = (&self.role.llm, &self.role.sampling);
        match self.mode {
            TrackingMode::PerComponent => paper::judge(&view, llm, sampling, ledger).await,
            TrackingMode::Batched => batched::judge(&view, llm, sampling, ledger).await,
            TrackingMode::Delta => self.judge_delta(ledger, &view).await,
        }
    }
}
