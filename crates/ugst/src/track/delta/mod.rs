//! Delta mode, the small-model layer's per-turn pipeline (steps 1–5 of the module doc of
//! `track`): one call names the changes the turn makes with quoted evidence; code keeps those
//! whose evidence is in the turn, adds the parts the turn speaks of that the judge passed over,
//! and confirms each with narrow checks, requirements after their objectives. Every heuristic
//! has a switch in [`TrackingConfig`](crate::model::TrackingConfig).

pub(crate) mod evidence;
pub(crate) mod order;
pub(crate) mod propose;
pub(crate) mod sweep;

use super::checks::ask::usable;
use super::closing::rules::decided_by_rule;
use super::{Judgement, Tracker, TurnView};
use order::objective_moved;
use ugst_llm::{CallRole, Ledger, LlmError};
use ugst_state::{Category, IgnoreCause, Update};

impl Tracker {
    /// Delta mode for one turn: the changes the judge names, kept when their evidence is in the
    /// turn and narrow checks confirm them, plus the parts the turn speaks of that the judge
    /// passed over.
    pub(crate) async fn judge_delta(
        &self,
        ledger: &Ledger,
        view: &TurnView<'_>,
    ) -> Result<Judgement, LlmError> {
        let cfg = &self.config;
        let (state, last) = (view.state, view.last);
        // 1–2. The proposal, its evidence checked. An answer that stays unusable after the
        // repair retry proposes nothing (the ledger counts the failed call); the sweep below
        // still looks at the turn.
        let req = propose::delta_request(
            state,
            &view.open,
            view.history,
            view.turn,
            &self.role.sampling,
        );
        let answer = usable(
            self.role
                .llm
                .structured(CallRole::Tracker, ledger, &req)
                .await,
        )?;
        let mut judged = answer.map_or_else(Judgement::default, |v| {
            propose::parse_changes(&v, state, view.history, cfg)
        });
        // A profile part naming an identifier is decided by the closing rule on the whole
        // conversation (withheld though asked for), as the annotation guide defines it.
        let (by_rule, proposed): (Vec<Update>, Vec<Update>) = std::mem::take(&mut judged.updates)
            .into_iter()
            .partition(|u| {
                cfg.identifiers_by_rule && state.get(&u.id).is_some_and(|c| decided_by_rule(c, cfg))
            });
        judged
            .refused
            .extend(by_rule.into_iter().map(|u| (u, IgnoreCause::ByRule)));
        if !cfg.checks {
            // A proposal past the evidence gate is taken as the judge wrote it.
            judged.updates = proposed;
            return Ok(judged);
        }
        // 3. The sweep: parts the turn speaks of that the judge passed over.
        let swept = if cfg.sweep {
            sweep::sweep(&view.open, &proposed, last, cfg)
        } else {
            Vec::new()
        };
        let mut proposed = proposed;
        proposed.extend(swept.iter().map(|(c, quote)| Update {
            id: c.id.clone(),
            // A placeholder: the checks set the status.
            status: c.status,
            reason: quote.clone(),
        }));
        // 4–5. The checks, requirements after their objectives.
        let (kept, dropped) = self.confirm_in_rounds(ledger, view, proposed).await?;
        judged.updates = kept;
        for u in dropped {
            // A swept part the checks leave as it was is no refused proposal.
            if !swept.iter().any(|(c, _)| c.id == u.id) {
                judged.refused.push((u, IgnoreCause::NotConfirmed));
            }
        }
        Ok(judged)
    }

    /// Confirms `proposed` by its checks: round one everything but requirements, round two the
    /// requirements whose objective is no longer INCOMPLETE after round one (a requirement moves
    /// with or after its objective; `requirements_after_objectives` off: one round). Returns
    /// the confirmed updates and the rest.
    async fn confirm_in_rounds(
        &self,
        ledger: &Ledger,
        view: &TurnView<'_>,
        proposed: Vec<Update>,
    ) -> Result<(Vec<Update>, Vec<Update>), LlmError> {
        let (cfg, state) = (&self.config, view.state);
        let (reqs, first): (Vec<Update>, Vec<Update>) = proposed.into_iter().partition(|u| {
            cfg.requirements_after_objectives
                && state.get(&u.id).map(|c| c.category) == Some(Category::Requirement)
        });
        let (mut kept, mut dropped) = self.confirm_all(ledger, view, first).await?;
        let (reqs, blocked): (Vec<Update>, Vec<Update>) = reqs.into_iter().partition(|u| {
            state
                .get(&u.id)
                .is_some_and(|c| objective_moved(state, &kept, c))
        });
        dropped.extend(blocked);
        let (more, not) = self.confirm_all(ledger, view, reqs).await?;
        kept.extend(more);
        dropped.extend(not);
        Ok((kept, dropped))
    }
}
