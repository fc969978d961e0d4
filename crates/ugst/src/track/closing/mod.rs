//! The closing pass (step 6 of the module doc of `track`). A tracker that judges one exchange at
//! a time misses what only shows across the whole conversation: a request turned down politely
//! reads "nothing settled yet" in its turn, a preference stated in passing is missed, an
//! identifier the user never gives or a charge above the user's cap is visible only at the end.
//! Once the conversation has ended, the parts still at their starting status are looked at once
//! more: objectives and preferences by a closing question over everything the user wrote (in
//! both answer orders), then the requirements whose objective moved; profile and policy parts
//! by the text rules of [`rules`]. An objective the user asked for is then asked what became of
//! it, over the whole chat: done (COMPLETE), blocked by something outside the user (ATTEMPTED),
//! or unfinished — the user stopped, gave up or ran out of turns — which leaves it INCOMPLETE.
//! Asking alone never makes an objective ATTEMPTED.

pub(crate) mod rules;
#[cfg(test)]
mod tests;

use super::checks::questions::{closing_outcome, closing_question, Check};
use super::checks::verdict::{decide_among, mean};
use super::delta::order::objective_moved;
use super::render::PartView;
use super::{Judgement, Tracker};
use crate::model::Exchange;
use crate::prompts::{self, schemas};
use minijinja::context;
use serde_json::Value;
use ugst_llm::{ChatRequest, Ledger, LlmError, Message};
use ugst_state::{Category, GoalState, Status, SubComponent, Update};

/// Which messages a closing question shows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shown {
    /// Everything the user wrote: whether the user asked for or stated something.
    User,
    /// The whole chat: what the agent did with a request.
    Both,
}

/// One closing question about one part: the conversation (first, so that the questions of one
/// conversation share their prompt's start), then the part, then the question with its answers
/// in the given order.
fn closing_request(
    part: &PartView,
    history: &[Exchange],
    shown: Shown,
    question: &str,
    answers: &[&str],
    tracker: &Tracker,
) -> ChatRequest {
    let turns: Vec<Value> = history
        .iter()
        .enumerate()
        .map(|(i, e)| {
            serde_json::json!({"turn": i + 1, "user": e.user,
                "agent": e.agent.as_deref().unwrap_or("(no reply)")})
        })
        .collect();
    let prompt = prompts::render(
        "track_close",
        context! {
            with_agent => shown == Shown::Both,
            turns => turns,
            category => part.label(),
            text => part.c.text,
            objective => part.objective,
            question => question,
            answers => answers,
        },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::CHANGE_CHECK, schemas::change_check(answers))
        .with_sampling(tracker.role.sampling.clone())
}

impl Tracker {
    /// The closing pass: the updates for the parts still at their starting status once the
    /// conversation in `history` has ended. Objectives and preferences are asked first, then the
    /// requirements whose objective is no longer INCOMPLETE. An unusable answer moves nothing.
    pub(crate) async fn closing_pass(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        history: &[Exchange],
    ) -> Result<Judgement, LlmError> {
        let cfg = &self.config;
        if !self.runs_closing_pass() || history.is_empty() {
            return Ok(Judgement::default());
        }
        let mut updates = self.rule_breaks(state, history);
        if !cfg.closing_questions {
            return Ok(updates.into());
        }
        let starting = |c: &&SubComponent| c.status == c.category.statuses()[0];
        let words =
            |c: &&SubComponent| !cfg.closing_users_words || rules::in_users_words(c, history, cfg);
        let first: Vec<&SubComponent> = state
            .components
            .iter()
            .filter(starting)
            .filter(|c| matches!(c.category, Category::TaskObjective | Category::Preference))
            .filter(words)
            .collect();
        updates.extend(self.ask_closing(ledger, state, &first, history).await?);
        let reqs: Vec<&SubComponent> = state
            .components
            .iter()
            .filter(starting)
            .filter(|c| c.category == Category::Requirement)
            .filter(|c| objective_moved(state, &updates, c))
            .filter(words)
            .collect();
        // A requirement the user asked for shares its objective's outcome: COMPLETE when the
        // objective was carried out, ATTEMPTED when it was blocked or only asked for.
        let objective_status = |o: &str| {
            updates
                .iter()
                .find(|u| u.id == o)
                .map(|u| u.status)
                .or_else(|| state.get(o).map(|o| o.status))
        };
        let more: Vec<Update> = self
            .ask_closing(ledger, state, &reqs, history)
            .await?
            .into_iter()
            .map(|mut u| {
                let o = state.get(&u.id).and_then(|c| c.objective.clone());
                if cfg.requirement_shares_outcome
                    && o.as_deref().and_then(objective_status) == Some(Status::Complete)
                {
                    u.status = Status::Complete;
                    u.reason.push_str("; its objective is COMPLETE");
                }
                u
            })
            .collect();
        updates.extend(more);
        Ok(updates.into())
    }

    /// The closing rules' breaks: profile and policy parts still ALIGNED that a text rule finds
    /// broken over the whole conversation (no model call).
    fn rule_breaks(&self, state: &GoalState, history: &[Exchange]) -> Vec<Update> {
        let cfg = &self.config;
        state
            .components
            .iter()
            .filter(|c| c.status == Status::Aligned)
            .filter_map(|c| {
                let withheld = || {
                    cfg.withheld_identifier_rule
                        .then(|| rules::withheld_identifier(c, history, cfg))
                        .flatten()
                };
                let changed = || {
                    cfg.changed_identifier_rule
                        .then(|| rules::changed_identifier(c, history, cfg))
                        .flatten()
                };
                let over_cap = || {
                    cfg.charge_over_cap_rule
                        .then(|| rules::charge_over_cap(c, history))
                        .flatten()
                };
                let reason = withheld().or_else(changed).or_else(over_cap)?;
                Some(Update {
                    id: c.id.clone(),
                    status: Status::Misaligned,
                    reason,
                })
            })
            .collect()
    }

    /// Whether this tracker runs the closing pass: `closing_pass` when set, else in delta mode
    /// only (the other modes judge every turn against the whole conversation already).
    pub(crate) fn runs_closing_pass(&self) -> bool {
        self.config
            .closing_pass
            .unwrap_or(self.mode == crate::model::TrackingMode::Delta)
    }

    /// Asks the closing question of each part, one after another so that every call after the
    /// first re-reads only its part (they share the user's messages at the start); the updates
    /// of those that P(yes) over both answer orders moves.
    async fn ask_closing(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        parts: &[&SubComponent],
        history: &[Exchange],
    ) -> Result<Vec<Update>, LlmError> {
        let mut updates = Vec::new();
        for c in parts {
            let Some(q) = closing_question(c.category) else {
                continue;
            };
            let part = PartView::new(state, c);
            // P(yes) in each answer order; an unusable answer moves nothing.
            let mut p_yes = Vec::new();
            for answers in [[q.no, q.yes], [q.yes, q.no]] {
                let req = closing_request(&part, history, Shown::User, q.question, &answers, self);
                let Some(p) = self.answer_probs(ledger, req, &answers).await? else {
                    break;
                };
                p_yes.push(if answers[0] == q.yes { p[0] } else { p[1] });
            }
            let p = mean(&p_yes);
            if p_yes.len() < 2 || p <= self.config.closing_yes {
                continue;
            }
            let asked = format!(
                "closing pass: {} (p = {p:.2} over both answer orders)",
                q.yes
            );
            let settled = match q.gives {
                Some(status) => Some((status, asked)),
                None => self
                    .closing_outcome(ledger, state, &part, history)
                    .await?
                    .map(|(status, why)| (status, format!("{asked}; {why}"))),
            };
            if let Some((status, reason)) = settled {
                updates.push(Update {
                    id: c.id.clone(),
                    status,
                    reason,
                });
            }
        }
        Ok(updates)
    }

    /// What became of an objective the user asked for, over the whole chat, in both answer
    /// orders: COMPLETE (done), ATTEMPTED (blocked by something outside the user) or `None`
    /// (unfinished: it stays INCOMPLETE), with the reason. "Done" also needs the agent's report
    /// of it in the text (`closing_done_report`, [`rules::agent_reports_done`]) and "blocked"
    /// the agent's report of a blocker (`closing_blocker_report`,
    /// [`rules::agent_reports_blocker`]); the judge's weights decide among the outcomes that
    /// stand and staying unfinished. Off (`cfg.closing_outcome = false`), an objective the
    /// user asked for stays INCOMPLETE. An unusable answer moves nothing.
    async fn closing_outcome(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        part: &PartView<'_>,
        history: &[Exchange],
    ) -> Result<Option<(Status, String)>, LlmError> {
        if !self.config.closing_outcome {
            return Ok(None);
        }
        let checks = closing_outcome();
        let mut asked: Vec<(&Check, Vec<f64>)> = Vec::new();
        for check in &checks {
            let answers = check.answer_texts();
            let req = closing_request(part, history, Shown::Both, check.question, &answers, self);
            let Some(p) = self.answer_probs(ledger, req, &answers).await? else {
                return Ok(None);
            };
            asked.push((check, p));
        }
        // An outcome stands only where the text bears it out: "done" needs the agent's report
        // of it, "blocked" the agent's report of a blocker; the judge's weights decide among
        // the outcomes that stand and staying unfinished.
        let words: Vec<&str> = state
            .components
            .iter()
            .filter(|c| c.id == part.c.id || c.objective.as_deref() == Some(&part.c.id))
            .map(|c| c.text.as_str())
            .collect();
        let words = words.join(" ");
        let cfg = &self.config;
        let done = rules::agent_reports_done(&words, history, cfg);
        let blocker = rules::agent_reports_blocker(&words, history, cfg);
        let stands = |s: Status| match s {
            Status::Complete => !cfg.closing_done_report || done.is_some(),
            Status::Attempted => !cfg.closing_blocker_report || blocker.is_some(),
            _ => true,
        };
        let Some((status, p)) = decide_among(&asked, cfg, stands) else {
            return Ok(None);
        };
        let report = match status {
            Status::Complete if cfg.closing_done_report => done
                .map(|t| format!("; the agent reports it done in turn {t}"))
                .unwrap_or_default(),
            Status::Attempted if cfg.closing_blocker_report => blocker
                .map(|t| format!("; the agent reports a blocker in turn {t}"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        let answer = checks[0]
            .answers
            .iter()
            .find(|(_, s)| *s == Some(status))
            .map_or("", |(a, _)| *a);
        Ok(Some((
            status,
            format!("outcome {answer} (p = {p:.2}){report}"),
        )))
    }
}
