//! Asking closed questions: one question in one answer order (ranked answers where the backend
//! ranks, a written answer counted as certain otherwise), and the checks of one proposed change
//! asked in turn until their verdict is settled.

use super::questions::{checks, Check};
use super::verdict::{clear_enough, decide, mean, out_of_reach, softmax};
use crate::model::Exchange;
use crate::prompts::{self, schemas};
use crate::track::render::PartView;
use crate::track::Tracker;
use minijinja::context;
use serde_json::{json, Value};
use ugst_llm::{CallRole, ChatRequest, Ledger, LlmError, Message};
use ugst_state::{Status, Update};

/// A judge answer, or `None` when it stayed unusable after the repair retry (the ledger counts
/// the failed call): delta mode then proposes or confirms nothing instead of failing the
/// conversation. Every other error stands.
pub(crate) fn usable<T>(answer: Result<T, LlmError>) -> Result<Option<T>, LlmError> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(LlmError::InvalidOutput { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The request for one check of one proposed change: only the judged turn and the one part, so
/// a small judge answers a narrow question instead of weighing every part at once.
pub(crate) fn check_request(
    part: &PartView,
    last: &Exchange,
    turn: u32,
    check: &Check,
    tracker: &Tracker,
) -> ChatRequest {
    let answers = check.answer_texts();
    let prompt = prompts::render(
        "track_check",
        context! {
            turn => turn,
            user => last.user,
            agent => last.agent.as_deref().unwrap_or("(no reply)"),
            category => part.label(),
            text => part.c.text,
            objective => part.objective,
            question => check.question,
            answers => answers,
        },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::CHANGE_CHECK, schemas::change_check(&answers))
        .with_sampling(tracker.role.sampling.clone())
}

impl Tracker {
    /// The judge's probability of each answer (in the order given) to the closed question of
    /// `req`, whose schema is `{"answer": <one of answers>}`. A backend that ranks answers (the
    /// embedded model; an HTTP endpoint that returns `logprobs`) gives each one's probability —
    /// the softmax of their log-probabilities — so a lean to "yes" or to the first answer shows
    /// as a shift that the other order or the opposite question cancels; any other backend's
    /// written answer counts as certain. `None` when the answer stays unusable after the repair
    /// retry (the ledger counts the call).
    pub(crate) async fn answer_probs(
        &self,
        ledger: &Ledger,
        req: ChatRequest,
        answers: &[&str],
    ) -> Result<Option<Vec<f64>>, LlmError> {
        let probs = self.ranked_answer_probs(ledger, req, answers).await?;
        Ok(probs.map(|(p, _)| p))
    }

    /// [`Tracker::answer_probs`], with whether the judge ranked the answers (`false`: a written
    /// answer counted as certain).
    async fn ranked_answer_probs(
        &self,
        ledger: &Ledger,
        req: ChatRequest,
        answers: &[&str],
    ) -> Result<Option<(Vec<f64>, bool)>, LlmError> {
        let candidates = answers
            .iter()
            .map(|a| json!({ "answer": a }).to_string())
            .collect();
        let req = req.with_score(candidates);
        let Some(resp) = usable(self.role.llm.chat(CallRole::Tracker, ledger, &req).await)? else {
            return Ok(None);
        };
        if resp.scores.len() == answers.len() {
            return Ok(Some((softmax(&resp.scores), true)));
        }
        let given: Option<String> = serde_json::from_str::<Value>(resp.content_str())
            .ok()
            .and_then(|v| Some(v.get("answer")?.as_str()?.to_string()));
        Ok(given.map(|g| {
            let p = answers
                .iter()
                .map(|a| f64::from(u8::from(*a == g)))
                .collect();
            (p, false)
        }))
    }

    /// Confirms proposed changes one after another: those the checks confirm, with the status
    /// they gave, and those they do not. Not concurrently: every check of a turn starts with the
    /// same instructions and exchange, and a model that keeps one prompt per sequence (the
    /// embedded engine's slots, most servers' prefix caches) decodes that start once only when
    /// the first check has finished before the next begins (measured in `docs/tracking.md`).
    pub(crate) async fn confirm_all(
        &self,
        ledger: &Ledger,
        view: &crate::track::TurnView<'_>,
        proposed: Vec<Update>,
    ) -> Result<(Vec<Update>, Vec<Update>), LlmError> {
        let (mut kept, mut dropped) = (Vec::new(), Vec::new());
        for mut u in proposed {
            match self.confirm(ledger, view, &u).await? {
                Some((status, p)) => {
                    u.status = status;
                    u.reason = format!("{} (checks: p = {p:.2})", u.reason);
                    kept.push(u);
                }
                None => dropped.push(u),
            }
        }
        Ok((kept, dropped))
    }

    /// Asks the [`checks`] of one proposed change and weighs their answers (see [`decide`]):
    /// the status they give, when it is a forward move. A check answer that stays unusable
    /// confirms nothing.
    async fn confirm(
        &self,
        ledger: &Ledger,
        view: &crate::track::TurnView<'_>,
        u: &Update,
    ) -> Result<Option<(Status, f64)>, LlmError> {
        let cfg = &self.config;
        let Some(part) = view.part(&u.id) else {
            return Ok(None);
        };
        let c = part.c;
        let ask = |check: &Check| {
            let req = check_request(&part, view.last, view.turn, check, self);
            let answers = check.answer_texts();
            async move { self.ranked_answer_probs(ledger, req, &answers).await }
        };
        let all = checks(c.category);
        let first: Vec<&Check> = all.iter().filter(|k| k.only_after.is_none()).collect();
        let mut asked: Vec<(&Check, Vec<f64>)> = Vec::new();
        // Questions a ranking judge answered at least `sure` in one order.
        let mut sure: Vec<&str> = Vec::new();
        for (i, check) in first.iter().enumerate() {
            // The answers so far may already rule every move out (a break's bar is high): the
            // rest would not change the verdict, so they are not asked.
            if cfg.stop_out_of_reach
                && !asked.is_empty()
                && out_of_reach(c.category, &asked, &first[i..], cfg)
            {
                return Ok(None);
            }
            if sure.contains(&check.question) {
                continue;
            }
            match ask(check).await? {
                Some((p, ranked)) => {
                    if cfg.skip_sure_orders && ranked && p.iter().any(|&x| x >= cfg.sure) {
                        sure.push(check.question);
                    }
                    asked.push((check, p));
                }
                None => return Ok(None),
            }
        }
        let Some((verdict, p)) =
            decide(&asked, cfg).filter(|(s, p)| clear_enough(c.category, *s, *p, cfg))
        else {
            return Ok(None);
        };
        // Confirmations of that verdict, in both answer orders: it stands unless they deny it
        // on average (a lean to one answer cannot overturn it alone).
        let mut confirmed = Vec::new();
        let confirmations = all.iter().filter(|k| k.only_after == Some(verdict));
        for check in confirmations.filter(|_| cfg.done_confirmation) {
            if let Some((p, _)) = ask(check).await? {
                confirmed.push(check.probability_of(&p, Some(verdict)));
            }
        }
        if !confirmed.is_empty() && mean(&confirmed) < cfg.confirmation_mean {
            return Ok(None);
        }
        Ok(Some((verdict, p)).filter(|(s, _)| c.category.rank(*s) > c.category.rank(c.status)))
    }
}
