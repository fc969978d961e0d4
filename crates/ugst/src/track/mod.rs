//! Tracker: after each turn, asks an LLM judge for the status of every sub-component that can still
//! change, and turns the answers into [`Update`]s for the state machine.
//!
//! Three modes: `per-component` (one judge call per open sub-component per turn, as in the paper),
//! `batched` (one call per turn that answers every open sub-component) and `delta` (one call per
//! turn that names only the sub-components whose status changes, each with words quoted from the
//! conversation; a change whose quote is not in the conversation is refused, and a closing pass,
//! [`close`], looks at the parts still at their starting status once the conversation ended).

mod close;

pub use crate::model::transcript::transcript;
use crate::model::{Exchange, TrackingMode};
use crate::prompts::{self, schemas};
use crate::roles::RoleModel;
pub use close::{charge_over_cap, closing_question, withheld_identifier};
use futures::future::try_join_all;
use minijinja::context;
use serde_json::{json, Value};
use ugst_llm::{CallRole, ChatRequest, Ledger, LlmError, Message, Sampling};
use ugst_state::{Category, GoalState, IgnoreCause, Status, SubComponent, Update};

fn category_label(cat: Category) -> &'static str {
    match cat {
        Category::UserProfile => "user profile",
        Category::UserPolicy => "user policy",
        Category::TaskObjective => "task objective",
        Category::Requirement => "requirement",
        Category::Preference => "preference",
    }
}

/// One judge answer `{"status", "reason"}`; `None` when the status is missing or unknown.
pub fn parse_status(v: &Value) -> Option<(Status, String)> {
    let status = Status::parse(v.get("status")?.as_str()?)?;
    let reason = v
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    Some((status, reason))
}

fn objective_text<'a>(state: &'a GoalState, c: &SubComponent) -> Option<&'a str> {
    c.objective
        .as_ref()
        .and_then(|o| state.get(o))
        .map(|o| o.text.as_str())
}

/// The judge request for one sub-component (per-component mode). The prompt puts the constant
/// instructions and the growing transcript first and the sub-component last, so every judge call of
/// a conversation shares one long prefix (cheap for a local model that reuses its KV cache).
pub fn component_request(
    state: &GoalState,
    c: &SubComponent,
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    let prompt = prompts::render(
        "track_component",
        context! {
            transcript => transcript(history, 1),
            category => category_label(c.category),
            text => c.text,
            objective => objective_text(state, c),
            current => c.status.as_str(),
            turn => turn,
        },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(
            schemas::COMPONENT_STATUS,
            schemas::component_status(c.category),
        )
        .with_sampling(sampling.clone())
}

/// The single judge request for all open sub-components (batched mode); same layout as above,
/// and the same information per sub-component as [`component_request`] gives: category, text,
/// status before the turn, and for requirements and preferences the objective's own text.
pub fn batched_request(
    state: &GoalState,
    open: &[&SubComponent],
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    let comps: Vec<Value> = open.iter().map(|c| part(state, c)).collect();
    let prompt = prompts::render(
        "track_batched",
        context! { transcript => transcript(history, 1), components => comps, turn => turn },
    );
    let schema = schemas::turn_status(open.iter().map(|c| (c.id.as_str(), c.category)));
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::TURN_STATUS, schema)
        .with_sampling(sampling.clone())
}

/// One sub-component as the one-call-per-turn prompts show it: id, category, text, status
/// before the turn and, for requirements and preferences, the objective's own text.
fn part(state: &GoalState, c: &SubComponent) -> Value {
    json!({"id": c.id, "category": category_label(c.category),
           "objective": objective_text(state, c),
           "status": c.status.as_str(), "text": c.text})
}

/// The single judge request of delta mode, answered with only the changes this turn makes. Laid
/// out for a model that keeps its KV cache: instructions, every part of the goal (fixed for the
/// conversation), the growing transcript, and only then the open parts' statuses (a few tokens
/// each) and the question. The next turn's request starts with all of this turn's text up to
/// the end of its transcript, so only the new exchange and the short tail are decoded; with the
/// parts after the transcript (until v5) their texts were decoded again at every turn.
pub fn delta_request(
    state: &GoalState,
    open: &[&SubComponent],
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    // Every part's text before the transcript (the template leaves their statuses out there);
    // after it, only the open parts' ids and statuses.
    let parts: Vec<Value> = state.components.iter().map(|c| part(state, c)).collect();
    let statuses: Vec<Value> = open.iter().map(|c| part(state, c)).collect();
    let prompt = prompts::render(
        "track_delta",
        context! {
            parts => parts, transcript => transcript(history, 1),
            components => statuses, turn => turn
        },
    );
    let schema = schemas::turn_changes(open.iter().map(|c| (c.id.as_str(), c.category, c.status)));
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::TURN_CHANGES, schema)
        .with_sampling(sampling.clone())
}

/// Lower-case words of `s`, everything else a single space: what evidence is compared on. A
/// leading speaker label (`User:`, `Agent:`) that the judge copied from the transcript is dropped.
fn normalise(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let mut words: Vec<&str> = mapped.split_whitespace().collect();
    if matches!(words.first(), Some(&"user") | Some(&"agent"))
        && s.trim_start().find(':').is_some_and(|i| i <= 6)
    {
        words.remove(0);
    }
    words.join(" ")
}

/// Whether `quote` occurs in `source`: word for word after [`normalise`], or, for quotes of four
/// words or more, with at least 80% of its word trigrams in the source (a dropped or changed
/// word in a long quote is not a fabrication).
pub fn quoted_in(quote: &str, source: &str) -> bool {
    let q = normalise(quote);
    if q.is_empty() {
        return false;
    }
    let padded = format!(" {} ", normalise(source));
    if padded.contains(&format!(" {q} ")) {
        return true;
    }
    let words: Vec<&str> = q.split(' ').collect();
    if words.len() < 4 {
        return false;
    }
    let grams: Vec<String> = words
        .windows(3)
        .map(|w| format!(" {} ", w.join(" ")))
        .collect();
    let found = grams.iter().filter(|g| padded.contains(g.as_str())).count();
    found as f64 >= 0.8 * grams.len() as f64
}

/// Where the evidence for a change must be found, in the turn being judged: a profile, policy
/// or preference changes only on the user's own words; an objective or requirement on either
/// side's (the check question then asks what the agent's answer did to it).
fn evidence_source(category: Category, turn: &Exchange) -> String {
    let agent = turn.agent.as_deref().unwrap_or("");
    match category {
        Category::UserProfile | Category::UserPolicy | Category::Preference => turn.user.clone(),
        Category::TaskObjective | Category::Requirement => format!("{}\n{agent}", turn.user),
    }
}

/// Content words (four letters or more) that `a` and `b` share.
fn shared_content_words(a: &str, b: &str) -> usize {
    let words = |t: &str| -> std::collections::BTreeSet<String> {
        const COMMON: &[&str] = &[
            "with", "your", "that", "this", "from", "have", "want", "would", "like", "will",
            "they", "them", "there", "what", "when", "which", "also", "about", "just", "only",
        ];
        crate::text::words(t)
            .into_iter()
            .filter(|w| w.chars().count() >= 4 && !COMMON.contains(&w.as_str()))
            .collect()
    };
    words(a).intersection(&words(b)).count()
}

/// Whether a user message shares a content word (stem) with a preference. A user who states a
/// preference names some of it ("the original payment", "a voucher"); the 1.5B judge proposed
/// "You prefer gift card payment" for a message about the passenger's name.
pub(crate) fn states_in_words(c: &SubComponent, user: &str) -> bool {
    crate::text::share_of_stems(&c.text, user) > 0.0
}

/// A delta answer `{"changes": [{"id", "evidence", "status"}]}` checked against the turn it is
/// about (the last of `history`): returns the updates whose evidence is there and the changes
/// refused because it is not (for a preference, also when the user's message shares no content
/// word with it).
pub fn parse_changes(v: &Value, state: &GoalState, history: &[Exchange]) -> Judgement {
    let mut out = Judgement::default();
    let Some(last) = history.last() else {
        return out;
    };
    let changes = v.get("changes").and_then(Value::as_array);
    for ch in changes.into_iter().flatten() {
        let (Some(id), Some(status)) = (
            ch.get("id").and_then(Value::as_str),
            ch.get("status")
                .and_then(Value::as_str)
                .and_then(Status::parse),
        ) else {
            continue;
        };
        let evidence = ch
            .get("evidence")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        let update = Update {
            id: id.to_string(),
            status,
            reason: format!("\"{evidence}\""),
        };
        let found = state.get(id).is_some_and(|c| {
            quoted_in(evidence, &evidence_source(c.category, last))
                && (c.category != Category::Preference || states_in_words(c, &last.user))
        });
        match found {
            true => out.updates.push(update),
            false => out.refused.push((update, IgnoreCause::NoEvidence)),
        }
    }
    out
}

/// One narrow question that confirms a proposed change of delta mode: its text and its answers,
/// each with the status it gives (`None`: no change), in the order they are offered.
#[derive(Debug, Clone)]
pub struct Check {
    pub question: &'static str,
    pub answers: Vec<(&'static str, Option<Status>)>,
    /// Asked only when the checks before it gave this status (a confirmation of one verdict).
    pub only_after: Option<Status>,
}

impl Check {
    fn new(question: &'static str, answers: Vec<(&'static str, Option<Status>)>) -> Check {
        Check {
            question,
            answers,
            only_after: None,
        }
    }

    fn only_after(mut self, status: Status) -> Check {
        self.only_after = Some(status);
        self
    }

    fn reversed(mut self) -> Check {
        self.answers.reverse();
        self
    }

    /// The answers' texts in the order offered.
    pub fn answer_texts(&self) -> Vec<&'static str> {
        self.answers.iter().map(|(a, _)| *a).collect()
    }

    /// The probability that the answer gives `status`, from the probability of each answer.
    pub fn probability_of(&self, probs: &[f64], status: Option<Status>) -> f64 {
        self.answers
            .iter()
            .zip(probs)
            .filter(|((_, s), _)| *s == status)
            .map(|(_, p)| p)
            .sum()
    }

    /// The status the chosen answer gives; `None` for an answer that keeps it, or an unknown one.
    pub fn verdict(&self, answer: &str) -> Option<Status> {
        self.answers
            .iter()
            .find(|(a, _)| *a == answer)
            .and_then(|(_, s)| *s)
    }
}

/// The checks asked about a proposed change of this category; [`decide`] weighs their answers.
/// A small judge leans to the first answer and to "yes", so every question is asked in both
/// answer orders. Profile and policy parts are almost always ALIGNED to the end, so their rare
/// move is also asked the opposite way round ("is it consistent?", whose "yes" keeps the
/// status): a lean to "yes" then cancels out. A preference's move is the common one (a
/// preference the user has occasion to state is usually stated), so one question suffices.
/// An objective's or requirement's question asks what the turn did to it, so its answer sets the
/// status (a proposed COMPLETE may come back ATTEMPTED); a "done" is then asked "is it already
/// carried out, not only offered or asked about?" and stands unless that is denied on average
/// (the 1.5B says "done" to "I can help you cancel; what is your user id?"; requiring a clear
/// yes kept almost every real completion open, see `docs/tracking.md`). A done that fails it
/// stays open, and the closing pass still sees the request.
pub fn checks(category: Category) -> Vec<Check> {
    match category {
        Category::Preference => {
            let stated = Check::new(
                "In this turn, does the user state this preference or choose according to it?",
                vec![
                    ("no, the user does not state it or act on it", None),
                    (
                        "yes, the user states it or chooses by it",
                        Some(Status::Aligned),
                    ),
                ],
            );
            vec![stated.clone(), stated.reversed()]
        }
        Category::UserProfile | Category::UserPolicy => {
            let against = Check::new(
                "In this turn, does the user say or do something that goes against this part of their goal? Leaving it unmentioned does not go against it.",
                vec![
                    ("no, nothing the user says goes against it", None),
                    ("yes, the user goes against it", Some(Status::Misaligned)),
                ],
            );
            let consistent = Check::new(
                "In this turn, is what the user says consistent with this part of their goal, or unrelated to it?",
                vec![
                    ("yes, it is consistent with it or unrelated to it", None),
                    ("no, the user contradicts it or ignores it where it applies", Some(Status::Misaligned)),
                ],
            );
            vec![
                against.clone(),
                against.reversed(),
                consistent.clone(),
                consistent.reversed(),
            ]
        }
        Category::TaskObjective | Category::Requirement => {
            let done = Check::new(
                "Does the agent's reply say that this has already been carried out, or give the answer asked for? Offering to do it, asking for details, listing options or summarising what would be done is not carrying it out.",
                vec![
                    ("no, it is only offered, asked about or planned", None),
                    ("yes, the reply says it is already done", Some(Status::Complete)),
                ],
            )
            .only_after(Status::Complete);
            let what = Check::new(
                "What does this turn show about it?",
                vec![
                    ("not settled: nothing is decided yet (the agent only asks, looks it up, lists options or explains)", None),
                    ("blocked: the agent refuses it, says it cannot be done or is not available, or it fails", Some(Status::Attempted)),
                    ("done: the agent says this very thing has now been done, or answers exactly this question", Some(Status::Complete)),
                ],
            );
            vec![what.clone(), what.reversed(), done.clone(), done.reversed()]
        }
    }
}

/// `exp(x) / Σ exp` of log-probabilities, computed stably.
fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// The verdict of the checks asked about one change, each with the probability of each of its
/// answers. The answer orders of one question are averaged first, then the questions, each
/// question weighing the same: a judge that leans to the first answer is cancelled by the
/// reversed order, one that leans to "yes" by the opposite question. The outcome (no change,
/// or a status) with the highest probability wins; a tie keeps the status, and a tie between
/// two moves takes the smaller one. The verdict comes with its weight: the winning outcome's
/// mean probability over the questions.
pub fn decide(asked: &[(&Check, Vec<f64>)]) -> Option<(Status, f64)> {
    let mut questions: Vec<&str> = Vec::new();
    for (check, _) in asked {
        if !questions.contains(&check.question) {
            questions.push(check.question);
        }
    }
    let mut outcomes: Vec<Option<Status>> = vec![None];
    for (check, _) in asked {
        for (_, s) in &check.answers {
            if !outcomes.contains(s) {
                outcomes.push(*s);
            }
        }
    }
    let weight = |outcome: Option<Status>| -> f64 {
        let per_question: Vec<f64> = questions
            .iter()
            .map(|q| {
                let orders: Vec<f64> = asked
                    .iter()
                    .filter(|(c, _)| c.question == *q)
                    .map(|(c, p)| c.probability_of(p, outcome))
                    .collect();
                mean(&orders)
            })
            .collect();
        mean(&per_question)
    };
    let stay = weight(None);
    let mut best: Option<(Status, f64)> = None;
    for s in outcomes.into_iter().flatten() {
        let w = weight(Some(s));
        // Outcomes come in the answers' order, the smaller move first.
        if w > stay && best.is_none_or(|(_, b)| w > b + 1e-9) {
            best = Some((s, w));
        }
    }
    best
}

/// Whether no answers to the checks not yet asked (`rest`) could make any move the clear
/// verdict of [`decide`] and [`clear_enough`]. For each status a check can give, every remaining
/// check is filled with that answer for certain: that raises the status as far as it can go and
/// lowers every rival, so if even then it does not win clearly, no real answers make it win. A
/// status some remaining check cannot give is never ruled out this way. Asking only until this
/// holds leaves every verdict as asking all would: with the 1.5B, a profile or policy break that
/// the first question denies cannot reach [`BREAK_BAR`] any more.
pub fn out_of_reach(category: Category, asked: &[(&Check, Vec<f64>)], rest: &[&Check]) -> bool {
    let moves = asked
        .iter()
        .map(|(c, _)| *c)
        .chain(rest.iter().copied())
        .flat_map(|c| c.answers.iter().filter_map(|(_, s)| *s));
    let reachable = |s: Status| {
        let mut best = asked.to_vec();
        for check in rest {
            let Some(at) = check.answers.iter().position(|(_, a)| *a == Some(s)) else {
                return true;
            };
            let certain = (0..check.answers.len())
                .map(|i| if i == at { 1.0 } else { 0.0 })
                .collect();
            best.push((check, certain));
        }
        decide(&best).is_some_and(|(v, p)| v == s && clear_enough(category, v, p))
    };
    !moves.into_iter().any(reachable)
}

/// The weight a profile or policy break needs from the checks: a clear lean, not a coin flip.
/// On the dev set every break the 1.5B's ranked checks gave at 0.51–0.63 was false (7 of 7
/// policies, e.g. "I'm really insistent" read as breaking "insist persistently"), and no true
/// break is decided turn by turn there (the closing rules catch them). With written answers
/// (weights in quarters) a break still needs three of the four answers, as before.
pub const BREAK_BAR: f64 = 0.7;

/// How sure a ranking judge must be of one answer for the question's reversed answer order to
/// be left out (v8). Every question's first order offers the no-change answer first, so a judge
/// that leans to the first-offered answer settles, when it is this sure, on no change — the
/// outcome a near-tie over both orders gives most often — instead of paying a call for the
/// coin flip. On the dev set (docs/tracking.md) every order left out had been this sure of its
/// first answer; it left out 20% of the judge calls and 19% of the model time on `20#0`, and
/// changed one of 133 final states (a COMPLETE decided at p = 0.49 over both orders). A written
/// answer (a backend that does not rank) counts as certain but is one vote, so its reversed
/// order is still asked.
pub const SURE: f64 = 0.9;

/// Whether a verdict of the checks is clear enough to move the part: a profile or policy break
/// needs [`BREAK_BAR`]; any other move only has to beat staying (see [`decide`]).
pub fn clear_enough(category: Category, verdict: Status, p: f64) -> bool {
    let breaks = matches!(category, Category::UserProfile | Category::UserPolicy)
        && verdict == Status::Misaligned;
    !breaks || p >= BREAK_BAR
}

/// The request for one check of one proposed change: only the judged turn and the one part, so
/// a small judge answers a narrow question instead of weighing every part at once.
pub fn check_request(
    state: &GoalState,
    c: &SubComponent,
    last: &Exchange,
    turn: u32,
    check: &Check,
    sampling: &Sampling,
) -> ChatRequest {
    let answers: Vec<&str> = check.answers.iter().map(|(a, _)| *a).collect();
    let prompt = prompts::render(
        "track_check",
        context! {
            turn => turn,
            user => last.user,
            agent => last.agent.as_deref().unwrap_or("(no reply)"),
            category => category_label(c.category),
            text => c.text,
            objective => objective_text(state, c),
            question => check.question,
            answers => answers,
        },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::CHANGE_CHECK, schemas::change_check(&answers))
        .with_sampling(sampling.clone())
}

/// The open parts that the latest exchange speaks of but the judge did not propose, each with
/// the words it is checked on: a preference when the user's message shares two content words
/// with it; an objective when the exchange (either side) shares two with its text or one of its
/// requirements is proposed; a requirement when the exchange shares two with its text or its
/// objective is proposed or swept. Small judges almost never propose a preference or a refusal,
/// so without this sweep stated preferences stay MISALIGNED and blocked requests INCOMPLETE.
fn sweep<'s>(
    open: &[&'s SubComponent],
    proposed: &[Update],
    last: &Exchange,
) -> Vec<(&'s SubComponent, String)> {
    let agent = last.agent.as_deref().unwrap_or("");
    let exchange = format!("{}\n{agent}", last.user);
    let is_proposed = |id: &str| proposed.iter().any(|u| u.id == id);
    // A requirement proposed without its objective speaks of the objective too (the 1.5B
    // proposed "only the one-passenger reservations" on the turn that cancelled them, and
    // not the cancellation): the objective is checked as well.
    let requirement_proposed = |o: &str| {
        open.iter()
            .any(|r| r.objective.as_deref() == Some(o) && is_proposed(&r.id))
    };
    let objectives: Vec<&str> = open
        .iter()
        .filter(|c| c.category == Category::TaskObjective)
        .filter(|c| {
            is_proposed(&c.id)
                || requirement_proposed(&c.id)
                || shared_content_words(&c.text, &exchange) >= 2
        })
        .map(|c| c.id.as_str())
        .collect();
    let cut = |speaker: &str, s: &str| {
        let head: String = s.chars().take(160).collect();
        format!("{speaker}: \"{head}\"")
    };
    open.iter()
        .copied()
        .filter(|c| !is_proposed(&c.id))
        .filter_map(|c| match c.category {
            Category::Preference => (shared_content_words(&c.text, &last.user) >= 2)
                .then(|| (c, cut("user", &last.user))),
            Category::TaskObjective => objectives
                .contains(&c.id.as_str())
                .then(|| (c, cut("agent", agent))),
            Category::Requirement => (shared_content_words(&c.text, &exchange) >= 2
                || c.objective
                    .as_deref()
                    .is_some_and(|o| objectives.contains(&o)))
            .then(|| (c, cut("agent", agent))),
            Category::UserProfile | Category::UserPolicy => None,
        })
        .collect()
}

/// A judge answer, or `None` when it stayed unusable after the repair retry (the ledger counts
/// the failed call): delta mode then proposes or confirms nothing instead of failing the
/// conversation. Every other error stands.
fn usable<T>(answer: Result<T, LlmError>) -> Result<Option<T>, LlmError> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(LlmError::InvalidOutput { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the judge said about one turn: the updates to apply, and (delta mode) the changes the
/// tracker refused because their evidence is not in the conversation.
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

/// The tracker: a judge model with its sampling and the way it is asked ([`TrackingMode`]).
#[derive(Clone)]
pub struct Tracker {
    pub role: RoleModel,
    pub mode: TrackingMode,
}

impl Tracker {
    pub fn new(role: RoleModel, mode: TrackingMode) -> Tracker {
        Tracker { role, mode }
    }

    /// Judges turn `turn` (the last entry of `history`) for every open sub-component of
    /// `state`. Settled sub-components are never sent to the judge.
    pub async fn judge_turn(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        history: &[Exchange],
        turn: u32,
    ) -> Result<Judgement, LlmError> {
        let open: Vec<&SubComponent> = state.open_components().collect();
        if open.is_empty() {
            return Ok(Judgement::default());
        }
        let (llm, sampling) = (&self.role.llm, &self.role.sampling);
        match self.mode {
            TrackingMode::PerComponent => {
                let calls = open.iter().map(|c| async move {
                    let req = component_request(state, c, history, turn, sampling);
                    let v = llm.structured(CallRole::Tracker, ledger, &req).await?;
                    Ok::<_, LlmError>(parse_status(&v).map(|(status, reason)| Update {
                        id: c.id.clone(),
                        status,
                        reason,
                    }))
                });
                let updates: Vec<Update> =
                    try_join_all(calls).await?.into_iter().flatten().collect();
                Ok(updates.into())
            }
            TrackingMode::Batched => {
                let req = batched_request(state, &open, history, turn, sampling);
                let v = llm.structured(CallRole::Tracker, ledger, &req).await?;
                Ok(parse_batched(&v).into())
            }
            TrackingMode::Delta => self.judge_delta(ledger, state, &open, history, turn).await,
        }
    }

    /// Delta mode for one turn: the changes the judge names, kept when their evidence is in the
    /// turn and narrow checks confirm them, plus the parts the turn speaks of that the judge
    /// passed over (see the module's top and `docs/tracking.md`).
    async fn judge_delta(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        open: &[&SubComponent],
        history: &[Exchange],
        turn: u32,
    ) -> Result<Judgement, LlmError> {
        let (llm, sampling) = (&self.role.llm, &self.role.sampling);
        let Some(last) = history.last() else {
            return Ok(Judgement::default());
        };
        let req = delta_request(state, open, history, turn, sampling);
        // An answer that stays unusable after the repair retry proposes nothing (the ledger
        // counts the failed call); the sweep below still looks at the turn.
        let answer = usable(llm.structured(CallRole::Tracker, ledger, &req).await)?;
        let mut judged =
            answer.map_or_else(Judgement::default, |v| parse_changes(&v, state, history));
        // A profile part naming an identifier ("You are ana_lopez_1234") is decided by the
        // closing rule on the whole conversation (withheld though asked for), as the annotation
        // guide defines it; a judge reading one turn took "I don't remember my reservation id",
        // or even the turn giving the user id, for a contradiction.
        let (by_rule, proposed): (Vec<Update>, Vec<Update>) = std::mem::take(&mut judged.updates)
            .into_iter()
            .partition(|u| state.get(&u.id).is_some_and(close::decided_by_rule));
        judged.updates = proposed;
        judged
            .refused
            .extend(by_rule.into_iter().map(|u| (u, IgnoreCause::ByRule)));
        let swept = sweep(open, &judged.updates, last);
        let mut proposed = std::mem::take(&mut judged.updates);
        proposed.extend(swept.iter().map(|(c, quote)| Update {
            id: c.id.clone(),
            // A placeholder: the checks set the status.
            status: c.status,
            reason: quote.clone(),
        }));
        // Round one: everything but requirements. Round two: the requirements whose objective
        // is no longer INCOMPLETE after round one; a requirement moves with or after its
        // objective, never before it.
        let (reqs, first): (Vec<Update>, Vec<Update>) = proposed
            .into_iter()
            .partition(|u| state.get(&u.id).map(|c| c.category) == Some(Category::Requirement));
        let (mut kept, mut dropped) = self.confirm_all(ledger, state, first, last, turn).await?;
        let objective_moved = |c: &SubComponent| {
            c.objective.as_deref().is_some_and(|o| {
                kept.iter().any(|u| u.id == o)
                    || state.get(o).is_some_and(|o| o.status != Status::Incomplete)
            })
        };
        let (reqs, blocked): (Vec<Update>, Vec<Update>) = reqs
            .into_iter()
            .partition(|u| state.get(&u.id).is_some_and(objective_moved));
        dropped.extend(blocked);
        let (more, not) = self.confirm_all(ledger, state, reqs, last, turn).await?;
        kept.extend(more);
        dropped.extend(not);
        judged.updates = kept;
        for u in dropped {
            // A swept part the checks leave as it was is no refused proposal.
            if !swept.iter().any(|(c, _)| c.id == u.id) {
                judged.refused.push((u, IgnoreCause::NotConfirmed));
            }
        }
        Ok(judged)
    }

    /// Confirms proposed changes one after another: those the checks confirm, with the status
    /// they gave, and those they do not. Not concurrently: every check of a turn starts with the
    /// same instructions and exchange, and a model that keeps one prompt per sequence (the
    /// embedded engine's slots, most servers' prefix caches) decodes that start once only when
    /// the first check has finished before the next begins (measured in `docs/tracking.md`).
    async fn confirm_all(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        proposed: Vec<Update>,
        last: &Exchange,
        turn: u32,
    ) -> Result<(Vec<Update>, Vec<Update>), LlmError> {
        let (mut kept, mut dropped) = (Vec::new(), Vec::new());
        for mut u in proposed {
            match self.confirm(ledger, state, &u, last, turn).await? {
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
        state: &GoalState,
        u: &Update,
        last: &Exchange,
        turn: u32,
    ) -> Result<Option<(Status, f64)>, LlmError> {
        let sampling = &self.role.sampling;
        let Some(c) = state.get(&u.id) else {
            return Ok(None);
        };
        let ask = |check: &Check| {
            let req = check_request(state, c, last, turn, check, sampling);
            let answers = check.answer_texts();
            async move { self.ranked_answer_probs(ledger, req, &answers).await }
        };
        let all = checks(c.category);
        let first: Vec<&Check> = all.iter().filter(|k| k.only_after.is_none()).collect();
        let mut asked: Vec<(&Check, Vec<f64>)> = Vec::new();
        // Questions a ranking judge answered at least [`SURE`] in one order.
        let mut sure: Vec<&str> = Vec::new();
        for (i, check) in first.iter().enumerate() {
            // The answers so far may already rule every move out (a break's bar is high): the
            // rest would not change the verdict, so they are not asked.
            if !asked.is_empty() && out_of_reach(c.category, &asked, &first[i..]) {
                return Ok(None);
            }
            if sure.contains(&check.question) {
                continue;
            }
            match ask(check).await? {
                Some((p, ranked)) => {
                    if ranked && p.iter().any(|&x| x >= SURE) {
                        sure.push(check.question);
                    }
                    asked.push((check, p));
                }
                None => return Ok(None),
            }
        }
        let Some((verdict, p)) = decide(&asked).filter(|(s, p)| clear_enough(c.category, *s, *p))
        else {
            return Ok(None);
        };
        // Confirmations of that verdict, in both answer orders: it stands unless they deny it
        // on average (a lean to one answer cannot overturn it alone).
        let mut confirmed = Vec::new();
        for check in all.iter().filter(|k| k.only_after == Some(verdict)) {
            if let Some((p, _)) = ask(check).await? {
                confirmed.push(check.probability_of(&p, Some(verdict)));
            }
        }
        if !confirmed.is_empty() && mean(&confirmed) < 0.5 {
            return Ok(None);
        }
        Ok(Some((verdict, p)).filter(|(s, _)| c.category.rank(*s) > c.category.rank(c.status)))
    }

    /// The judge's probability of each answer (in the order given) to the closed question of
    /// `req`, whose schema is `{"answer": <one of answers>}`. A backend that ranks answers (the
    /// embedded model) gives each one's probability — the softmax of their log-probabilities —
    /// so a lean to "yes" or to the first answer shows as a shift that the other order or the
    /// opposite question cancels; any other backend's written answer counts as certain. `None`
    /// when the answer stays unusable after the repair retry (the ledger counts the call).
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

    /// Brings `state` up to date with `history`: judges exchanges `from..` in order, exchange i
    /// being turn i + 1, calling `on_turn(turn, state)` after each. A failure names the turn;
    /// `state` then holds the turns before it.
    pub async fn track<E>(
        &self,
        ledger: &Ledger,
        state: &mut GoalState,
        history: &[Exchange],
        from: usize,
        mut on_turn: impl FnMut(u32, &GoalState) -> Result<(), E>,
    ) -> Result<(), TrackError<E>> {
        for i in from..history.len() {
            let turn = i as u32 + 1;
            self.judge_turn(ledger, state, &history[..=i], turn)
                .await
                .map_err(|e| TrackError::Judge(turn, e))?
                .apply(state, turn);
            on_turn(turn, state).map_err(|e| TrackError::Commit(turn, e))?;
        }
        Ok(())
    }
}

/// Why [`Tracker::track`] stopped: the judge failed at a turn, or the caller's `on_turn` did.
#[derive(Debug)]
pub enum TrackError<E> {
    Judge(u32, LlmError),
    Commit(u32, E),
}

/// A batched judge answer `{"<id>": {"status", "reason"}, ...}`: the updates it proposes, leaving
/// out entries without a known status. Ids are not checked here; the state refuses unknown ones.
pub fn parse_batched(v: &Value) -> Vec<Update> {
    let mut out = Vec::new();
    if let Some(obj) = v.as_object() {
        for (id, ans) in obj {
            if let Some((status, reason)) = parse_status(ans) {
                out.push(Update {
                    id: id.clone(),
                    status,
                    reason,
                });
            }
        }
    }
    out
}

/// Steering data for the `goal-state` simulator mode: every sub-component with status and reason.
pub fn steering_components(state: &GoalState) -> Vec<Value> {
    state
        .components
        .iter()
        .map(|c| {
            json!({"category_label": category_label(c.category), "text": c.text,
                   "status": c.status.as_str(), "reason": c.reason})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ugst_state::{Decomposition, ObjectiveSpec};

    #[test]
    fn both_modes_give_the_judge_the_objective_of_a_requirement() {
        let d = Decomposition {
            user_profile: vec![],
            user_policy: vec![],
            task_objectives: vec![ObjectiveSpec {
                text: "Book a hotel in the centre.".into(),
                requirements: vec!["For three nights.".into()],
                preferences: vec![],
            }],
        };
        let state = GoalState::initial(&d);
        let req = state.get("req-1.1").unwrap();
        let h = [Exchange {
            user: "hi".into(),
            agent: Some("hello".into()),
        }];
        let s = Sampling::default();
        for r in [
            component_request(&state, req, &h, 1, &s),
            batched_request(&state, &[req], &h, 1, &s),
        ] {
            let prompt = r.messages[0].content_str();
            assert!(
                prompt.contains("It belongs to the task objective: Book a hotel in the centre."),
                "{prompt}"
            );
        }
    }

    fn one_objective_state() -> GoalState {
        GoalState::initial(&Decomposition {
            user_profile: vec!["You are Ana.".into()],
            user_policy: vec![],
            task_objectives: vec![ObjectiveSpec {
                text: "Cancel the booking.".into(),
                requirements: vec![],
                preferences: vec![],
            }],
        })
    }

    #[test]
    fn quotes_are_found_word_for_word_or_nearly() {
        let src = "I'm sorry, but the booking HX12 can't be cancelled under our rules.";
        assert!(quoted_in("the booking HX12 can't be cancelled", src));
        assert!(quoted_in("Agent: the booking HX12 can't be cancelled", src));
        assert!(quoted_in("THE BOOKING hx12, can't be cancelled!", src));
        // One word changed in a long quote is a copying slip, not a fabrication.
        assert!(quoted_in(
            "sorry but the booking HX12 can't be cancelled under the rules",
            src
        ));
        assert!(!quoted_in("the booking was cancelled", src));
        assert!(!quoted_in("booking", "rebooking"), "whole words only");
        assert!(!quoted_in("", src));
    }

    #[test]
    fn delta_changes_need_evidence_in_the_judged_turn_from_the_right_speaker() {
        let state = one_objective_state();
        let h = [
            Exchange {
                user: "Cancel HX12, I am Ana.".into(),
                agent: Some("Done, HX12 is cancelled.".into()),
            },
            Exchange {
                user: "I am not Ana, I am Bo.".into(),
                agent: Some("Noted.".into()),
            },
        ];
        let v = json!({"changes": [
            // In the judged turn, from the user: accepted.
            {"id": "prof-1", "evidence": "I am not Ana", "status": "MISALIGNED"},
            // True, but said in an earlier turn: refused.
            {"id": "obj-1", "evidence": "HX12 is cancelled", "status": "COMPLETE"},
        ]});
        let j = parse_changes(&v, &state, &h);
        assert_eq!(j.updates.len(), 1);
        assert_eq!(j.updates[0].id, "prof-1");
        assert_eq!(j.refused.len(), 1);
        assert_eq!(j.refused[0].1, IgnoreCause::NoEvidence);
        // The profile moves on the user's words only, not the agent's.
        let v = json!({"changes": [{"id": "prof-1", "evidence": "Noted", "status": "MISALIGNED"}]});
        assert!(parse_changes(&v, &state, &h).updates.is_empty());
        // Refused changes land in the state's record with their cause.
        let mut s = state.clone();
        parse_changes(&v, &state, &h).apply(&mut s, 2);
        assert_eq!(s.get("prof-1").unwrap().status, Status::Aligned);
        assert_eq!(s.ignored.len(), 1);
        assert_eq!(s.ignored[0].cause, IgnoreCause::NoEvidence);
    }

    #[test]
    fn a_preference_moves_only_on_a_message_that_names_some_of_it() {
        let state = state();
        let said = |user: &str| {
            let h = [Exchange {
                user: user.into(),
                agent: Some("Sure.".into()),
            }];
            let v = json!({"changes": [{"id": "pref-1.1", "evidence": user, "status": "ALIGNED"}]});
            parse_changes(&v, &state, &h).updates.len()
        };
        assert_eq!(said("A gift card is fine for the refund."), 1);
        assert_eq!(said("I need the passenger changed to my name."), 0);
    }

    #[test]
    fn a_delta_prompt_starts_with_the_previous_turns_up_to_its_transcript() {
        let mut state = one_objective_state();
        let first = Exchange {
            user: "Please cancel booking HX12.".into(),
            agent: Some("Which passenger is it for?".into()),
        };
        let second = Exchange {
            user: "For Ana.".into(),
            agent: Some("Done, HX12 is cancelled.".into()),
        };
        let prompt = |state: &GoalState, history: &[Exchange], turn: u32| {
            let open: Vec<&SubComponent> = state.open_components().collect();
            let r = delta_request(state, &open, history, turn, &Sampling::default());
            r.messages[0].content_str().to_string()
        };
        let one = prompt(&state, std::slice::from_ref(&first), 1);
        state.apply_turn(1, &[]);
        let two = prompt(&state, &[first.clone(), second], 2);
        // Everything of turn 1's prompt through the agent's last reply is turn 2's start.
        let through =
            one.find("Which passenger is it for?").unwrap() + "Which passenger is it for?".len();
        assert_eq!(two[..through], one[..through]);
        // The parts' texts come before the transcript; after it only ids and statuses.
        let tail = &two[two.find("Done, HX12 is cancelled.").unwrap()..];
        assert!(tail.contains("[obj-1] INCOMPLETE") && !tail.contains("Cancel the booking."));
        assert!(two[..through].contains("Cancel the booking."));
    }

    #[test]
    fn the_delta_schema_offers_only_forward_moves() {
        let mut state = one_objective_state();
        state.apply_turn(
            1,
            &[Update {
                id: "obj-1".into(),
                status: Status::Attempted,
                reason: String::new(),
            }],
        );
        let open: Vec<&SubComponent> = state.open_components().collect();
        let r = delta_request(
            &state,
            &open,
            &[Exchange {
                user: "hi".into(),
                agent: None,
            }],
            1,
            &Sampling::default(),
        );
        let schema = &r.schema.unwrap().schema;
        let variants = schema
            .pointer("/properties/changes/items/anyOf")
            .unwrap()
            .as_array()
            .unwrap();
        let of = |id: &str| {
            variants
                .iter()
                .find(|v| v.pointer("/properties/id/enum/0") == Some(&json!(id)))
                .map(|v| v["properties"]["status"]["enum"].clone())
        };
        assert_eq!(of("obj-1"), Some(json!(["COMPLETE"])));
        assert_eq!(of("prof-1"), Some(json!(["MISALIGNED"])));
        // A profile change is asked "goes against" with either answer first, then the
        // opposite question, whose answer that keeps the status is a "yes".
        let c = state.get("prof-1").unwrap();
        let last = Exchange {
            user: "hi".into(),
            agent: None,
        };
        let firsts: Vec<String> = checks(c.category)
            .iter()
            .map(|check| {
                let r = check_request(&state, c, &last, 1, check, &Sampling::default());
                r.schema.as_ref().unwrap().schema["properties"]["answer"]["enum"][0]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(firsts.len(), 4);
        assert!(firsts[0].starts_with("no") && firsts[1].starts_with("yes"));
        assert!(firsts[2].starts_with("yes") && firsts[3].starts_with("no"));
        let keeps = |check: &Check, answer: &str| check.verdict(answer).is_none();
        let opposite = &checks(c.category)[2];
        assert!(keeps(opposite, opposite.answers[0].0) && !keeps(opposite, opposite.answers[1].0));
    }

    /// [`decide`]'s status alone.
    fn verdict(asked: &[(&Check, Vec<f64>)]) -> Option<Status> {
        decide(asked).map(|(s, _)| s)
    }

    /// Every probability vector of two or three answers on a grid of tenths.
    fn simplex(n: usize) -> Vec<Vec<f64>> {
        let tenth = |i: u32| f64::from(i) / 10.0;
        match n {
            2 => (0..=10).map(|i| vec![tenth(i), 1.0 - tenth(i)]).collect(),
            _ => (0..=10)
                .flat_map(|i| {
                    (0..=10 - i).map(move |j| vec![tenth(i), tenth(j), tenth(10 - i - j)])
                })
                .collect(),
        }
    }

    #[test]
    fn stopping_when_no_move_is_in_reach_never_changes_a_verdict() {
        for category in [
            Category::UserPolicy,
            Category::Preference,
            Category::TaskObjective,
        ] {
            let all = checks(category);
            let first: Vec<&Check> = all.iter().filter(|k| k.only_after.is_none()).collect();
            let grid = simplex(first[0].answers.len());
            // Every combination of answers on the grid (two answers or three).
            let mut combos: Vec<Vec<&Vec<f64>>> = vec![vec![]];
            for _ in &first {
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        grid.iter().map(move |g| {
                            let mut c = c.clone();
                            c.push(g);
                            c
                        })
                    })
                    .collect();
            }
            let mut stopped = 0;
            for combo in &combos {
                let asked: Vec<(&Check, Vec<f64>)> = first
                    .iter()
                    .copied()
                    .zip(combo.iter().map(|p| (*p).clone()))
                    .collect();
                let moves = decide(&asked).is_some_and(|(s, p)| clear_enough(category, s, p));
                for k in 1..first.len() {
                    if out_of_reach(category, &asked[..k], &first[k..]) {
                        stopped += 1;
                        assert!(
                            !moves,
                            "{category:?}: stopped after {k} but {combo:?} moves"
                        );
                    }
                }
            }
            // The shortcut fires where it should: a break denied by the first question.
            if category == Category::UserPolicy {
                assert!(stopped > 0);
                let denied = [(first[0], vec![0.8, 0.2]), (first[1], vec![0.2, 0.8])];
                assert!(out_of_reach(category, &denied, &first[2..]));
                let leaning = [(first[0], vec![0.5, 0.5]), (first[1], vec![0.5, 0.5])];
                assert!(!out_of_reach(category, &leaning, &first[2..]));
            }
        }
    }

    #[test]
    fn a_break_needs_a_clear_lean_and_other_moves_only_to_beat_staying() {
        use Category::*;
        assert!(!clear_enough(UserPolicy, Status::Misaligned, 0.63));
        assert!(!clear_enough(UserProfile, Status::Misaligned, 0.51));
        assert!(clear_enough(UserPolicy, Status::Misaligned, 0.75));
        assert!(clear_enough(Preference, Status::Aligned, 0.52));
        assert!(clear_enough(TaskObjective, Status::Complete, 0.47));
        // Written answers weigh in quarters: three of four "breaks" still move, two do not.
        let against = &checks(UserPolicy)[0];
        let consistent = &checks(UserPolicy)[2];
        let (breaks, stays) = (vec![0.0, 1.0], vec![1.0, 0.0]);
        let asked = [
            (against, breaks.clone()),
            (against, breaks.clone()),
            (consistent, breaks.clone()),
            (consistent, stays.clone()),
        ];
        let (s, p) = decide(&asked).unwrap();
        assert_eq!((s, p), (Status::Misaligned, 0.75));
        assert!(clear_enough(UserPolicy, s, p));
        let two = [
            (against, breaks.clone()),
            (against, breaks),
            (consistent, stays.clone()),
            (consistent, stays),
        ];
        assert_eq!(decide(&two), None);
    }

    #[test]
    fn decide_weighs_answer_orders_then_questions_so_leans_cancel() {
        let policy = checks(Category::UserPolicy);
        let with = |p: [[f64; 2]; 4]| -> Vec<(&Check, Vec<f64>)> {
            policy.iter().zip(p).map(|(c, p)| (c, p.to_vec())).collect()
        };
        // Orders: "against" no-first, yes-first; "consistent" yes-first, no-first.
        // A judge that says "yes" to everything, more so when it comes first: "against" gives
        // P(break) 0.6 and 0.8, "consistent" 0.3 and 0.1 — it cancels, nothing moves.
        let yes_leaning = with([[0.4, 0.6], [0.8, 0.2], [0.7, 0.3], [0.1, 0.9]]);
        assert_eq!(verdict(&yes_leaning), None);
        // A judge that sees the break on both questions moves the policy.
        let sees_it = with([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.3, 0.7]]);
        assert_eq!(verdict(&sees_it), Some(Status::Misaligned));
        // An exact tie keeps the status.
        let torn = with([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]);
        assert_eq!(verdict(&torn), None);
        // Objectives: three outcomes; the likeliest wins, a tie of two moves takes the smaller.
        let objective = checks(Category::TaskObjective);
        let asked = |a: [f64; 3], b: [f64; 3]| {
            vec![(&objective[0], a.to_vec()), (&objective[1], b.to_vec())]
        };
        // Second order reversed: [done, blocked, not settled].
        assert_eq!(
            verdict(&asked([0.2, 0.5, 0.3], [0.3, 0.4, 0.3])),
            Some(Status::Attempted)
        );
        assert_eq!(
            verdict(&asked([0.1, 0.2, 0.7], [0.6, 0.3, 0.1])),
            Some(Status::Complete)
        );
        assert_eq!(verdict(&asked([0.6, 0.2, 0.2], [0.2, 0.2, 0.6])), None);
        assert_eq!(
            verdict(&asked([0.0, 0.5, 0.5], [0.5, 0.5, 0.0])),
            Some(Status::Attempted)
        );
        assert_eq!(softmax(&[0.0, 0.0]), vec![0.5, 0.5]);
        let p = softmax(&[-1.0, -3.0]);
        assert!((p[0] - 0.8808).abs() < 1e-3 && (p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[tokio::test]
    async fn a_backend_that_ranks_answers_gives_probabilities_and_one_that_writes_gives_certainty()
    {
        // A ranking backend (as the embedded model): the log-probability of each candidate.
        let ranking = ScriptedBackend::new("ranks", |req: &ChatRequest| {
            assert_eq!(req.score.len(), 2, "the candidates travel with the request");
            assert!(req.score[0].contains("\"answer\""), "{:?}", req.score);
            Ok(ChatResponse {
                scores: vec![-0.2, -1.8],
                ..ChatResponse::text(req.score[0].clone())
            })
        });
        let writing = ScriptedBackend::new("writes", |_: &ChatRequest| {
            Ok(ChatResponse::text(json!({"answer": "b"}).to_string()))
        });
        let ledger = Ledger::new();
        for (backend, expect) in [(ranking, [0.832, 0.168]), (writing, [0.0, 1.0])] {
            let mut t = yes_judge();
            t.role.llm = Llm::new(Arc::new(backend), Arc::new(Cache::disabled()));
            let req = ChatRequest::new(vec![ugst_llm::Message::user("a or b?")])
                .with_schema(schemas::CHANGE_CHECK, schemas::change_check(&["a", "b"]));
            let p = t
                .answer_probs(&ledger, req, &["a", "b"])
                .await
                .unwrap()
                .unwrap();
            assert!(
                (p[0] - expect[0]).abs() < 1e-3 && (p[1] - expect[1]).abs() < 1e-3,
                "{p:?}"
            );
        }
    }

    use std::sync::Arc;
    use ugst_llm::{Cache, ChatResponse, Llm, ScriptedBackend};

    fn state() -> GoalState {
        GoalState::initial(&Decomposition {
            user_profile: vec![
                "You are ana_lopez_1234.".into(),
                "You are in a hurry.".into(),
            ],
            user_policy: vec![],
            task_objectives: vec![ObjectiveSpec {
                text: "You want to cancel your flights from MCO to CLT.".into(),
                requirements: vec!["And get a refund.".into()],
                preferences: vec!["You prefer a gift card refund.".into()],
            }],
        })
    }

    /// A judge that proposes only a profile change and answers every check with its first
    /// "yes" answer, or else "blocked": a yes-leaning small model.
    fn yes_judge() -> Tracker {
        judge(|answers| {
            answers
                .iter()
                .find(|a| a.starts_with("yes") || a.starts_with("blocked"))
                .unwrap_or(&answers[0])
                .clone()
        })
    }

    /// A judge that proposes only a profile change and answers every check with `pick`.
    fn judge(pick: fn(&[String]) -> String) -> Tracker {
        let backend = ScriptedBackend::new("yes", move |req: &ChatRequest| {
            let schema = req.schema.as_ref().expect("tracker calls carry a schema");
            let answer = match schema.name.as_str() {
                schemas::TURN_CHANGES => json!({"changes": [
                    {"id": "prof-1", "evidence": "I need to cancel", "status": "MISALIGNED"},
                    {"id": "prof-2", "evidence": "I need to cancel", "status": "MISALIGNED"}]}),
                _ => {
                    let answers = schema.schema["properties"]["answer"]["enum"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string())
                        .collect::<Vec<_>>();
                    json!({"answer": pick(&answers)})
                }
            };
            Ok(ChatResponse::text(answer.to_string()))
        });
        let llm = Llm::new(Arc::new(backend), Arc::new(Cache::disabled()));
        Tracker::new(
            RoleModel {
                llm,
                sampling: Sampling::default(),
                model: "yes".into(),
                decompose: crate::model::DecomposeMethod::Free,
            },
            TrackingMode::Delta,
        )
    }

    #[tokio::test]
    async fn a_refusal_the_judge_passed_over_is_swept_and_a_yes_leaning_judge_flips_no_profile() {
        let mut st = state();
        let history = [Exchange {
            user: "Hi, I need to cancel my flights and get a refund, please.".into(),
            agent: Some(
                "I am sorry, but basic economy flights cannot be cancelled for a refund.".into(),
            ),
        }];
        let ledger = Ledger::new();
        let judged = yes_judge()
            .judge_turn(&ledger, &st, &history, 1)
            .await
            .unwrap();
        judged.apply(&mut st, 1);
        let status = |id: &str| st.get(id).unwrap().status;
        // The objective was never proposed; the sweep checked it and the check said blocked.
        assert_eq!(status("obj-1"), Status::Attempted);
        // Its requirement moves with it, in the second round.
        assert_eq!(status("req-1.1"), Status::Attempted);
        // "Goes against" said yes in both orders, but so did "is it consistent": no flip.
        assert_eq!(status("prof-2"), Status::Aligned);
        let cause = |id: &str| st.ignored.iter().find(|i| i.id == id).map(|i| i.cause);
        assert_eq!(cause("prof-2"), Some(IgnoreCause::NotConfirmed));
        // The user id is left to the closing rule: not even checked.
        assert_eq!(status("prof-1"), Status::Aligned);
        assert_eq!(cause("prof-1"), Some(IgnoreCause::ByRule));
        // A preference the user's message does not speak of is not even asked about.
        assert_eq!(status("pref-1.1"), Status::Misaligned);
    }

    /// How many times a judge that proposes obj-1 COMPLETE and leans to "done" by `gap` nats
    /// (ranking) or writes "done" (`gap` = None) is asked "What does this turn show?" (about
    /// obj-1, then about its requirement, which the objective's move brings up), and the
    /// objective's status after the turn.
    async fn what_asked(gap: Option<f64>) -> (usize, Status) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let asked = Arc::new(AtomicUsize::new(0));
        let count = asked.clone();
        let backend = ScriptedBackend::new("leans", move |req: &ChatRequest| {
            let schema = req.schema.as_ref().expect("tracker calls carry a schema");
            if schema.name == schemas::TURN_CHANGES {
                let ch = json!({"id": "obj-1", "evidence": "cancelled both flights", "status": "COMPLETE"});
                return Ok(ChatResponse::text(json!({"changes": [ch]}).to_string()));
            }
            let prompt: String = req.messages.iter().map(|m| m.content_str()).collect();
            if prompt.contains("What does this turn show") {
                count.fetch_add(1, Ordering::SeqCst);
            }
            let good = |c: &String| c.contains("\"done") || c.contains("\"yes");
            let pick = req.score.iter().find(|c| good(c)).unwrap_or(&req.score[0]);
            Ok(match gap {
                Some(g) => ChatResponse {
                    scores: req
                        .score
                        .iter()
                        .map(|c| if good(c) { 0.0 } else { -g })
                        .collect(),
                    ..ChatResponse::text(pick.clone())
                },
                None => ChatResponse::text(pick.clone()),
            })
        });
        let mut t = yes_judge();
        t.role.llm = Llm::new(Arc::new(backend), Arc::new(Cache::disabled()));
        let mut st = state();
        let history = [Exchange {
            user: "Please cancel my flights from MCO to CLT.".into(),
            agent: Some("I have cancelled both flights from MCO to CLT.".into()),
        }];
        let ledger = Ledger::new();
        t.judge_turn(&ledger, &st, &history, 1)
            .await
            .unwrap()
            .apply(&mut st, 1);
        (
            asked.load(Ordering::SeqCst),
            st.get("obj-1").unwrap().status,
        )
    }

    #[tokio::test]
    async fn a_reversed_answer_order_is_left_out_only_when_a_ranking_judge_is_sure() {
        // Sure (p ≈ 0.99 for "done"): each part's question is asked in one order only.
        assert_eq!(what_asked(Some(5.0)).await, (2, Status::Complete));
        // Leaning (p ≈ 0.73 with three answers): both orders, as before.
        assert_eq!(what_asked(Some(1.7)).await, (4, Status::Complete));
        // A written answer is one vote, however certain it reads: both orders.
        assert_eq!(what_asked(None).await, (4, Status::Complete));
    }

    #[tokio::test]
    async fn a_done_stands_unless_already_carried_out_is_denied_in_both_orders() {
        let history = [Exchange {
            user: "I need to cancel my flights from MCO to CLT.".into(),
            agent: Some("I can help you cancel the flights. What is your user ID?".into()),
        }];
        let ledger = Ledger::new();
        let after = |t: Tracker| {
            let (st, history, ledger) = (state(), history.clone(), &ledger);
            async move {
                let mut st2 = st.clone();
                t.judge_turn(ledger, &st, &history, 1)
                    .await
                    .unwrap()
                    .apply(&mut st2, 1);
                st2.get("obj-1").unwrap().status
            }
        };
        // Says "done", then "only offered" whatever the order: the offer stays open.
        let denied = judge(|a| {
            a.iter()
                .find(|x| x.starts_with("done") || x.starts_with("no, it is only"))
                .unwrap_or(&a[0])
                .clone()
        });
        assert_eq!(after(denied).await, Status::Incomplete);
        // Says "done", then takes whichever answer comes first: one order agrees, COMPLETE.
        let leaning = judge(|a| {
            a.iter()
                .find(|x| x.starts_with("done"))
                .unwrap_or(&a[0])
                .clone()
        });
        assert_eq!(after(leaning).await, Status::Complete);
        // Says "done" and "already done" whatever the order: COMPLETE.
        let sure = judge(|a| {
            a.iter()
                .find(|x| x.starts_with("done") || x.starts_with("yes"))
                .unwrap_or(&a[0])
                .clone()
        });
        assert_eq!(after(sure).await, Status::Complete);
    }

    #[tokio::test]
    async fn the_closing_pass_moves_what_both_answer_orders_confirm_and_applies_its_rules() {
        let st = state();
        let history = [
            Exchange {
                user: "I want to cancel my flights from MCO to CLT and get a refund.".into(),
                agent: Some("Could you give me your user ID?".into()),
            },
            Exchange {
                user: "I don't have it. Gift card is fine.".into(),
                agent: Some("Without your user ID I cannot look up the booking.".into()),
            },
        ];
        let ledger = Ledger::new();
        let closed = yes_judge().close(&ledger, &st, &history).await.unwrap();
        let moved: Vec<(&str, Status)> = closed
            .updates
            .iter()
            .map(|u| (u.id.as_str(), u.status))
            .collect();
        assert_eq!(
            moved,
            [
                ("prof-1", Status::Misaligned),
                ("obj-1", Status::Attempted),
                ("pref-1.1", Status::Aligned),
                ("req-1.1", Status::Attempted),
            ]
        );
        // Two calls per asked part (both answer orders), none for the rule.
        assert_eq!(ledger.drain().len(), 6);
        // A judge that always takes the first answer offered moves nothing it is asked about.
        let first = judge(|answers| answers[0].clone());
        let closed = first.close(&ledger, &st, &history).await.unwrap();
        let ids: Vec<&str> = closed.updates.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["prof-1"]);
        // A requirement asked for under an objective carried out shares its outcome.
        let mut done = st.clone();
        done.apply_turn(
            1,
            &[Update {
                id: "obj-1".into(),
                status: Status::Complete,
                reason: String::new(),
            }],
        );
        let closed = yes_judge().close(&ledger, &done, &history).await.unwrap();
        let req = closed.updates.iter().find(|u| u.id == "req-1.1").unwrap();
        assert_eq!(req.status, Status::Complete, "{}", req.reason);
        // Other modes have no closing pass.
        let mut batched = yes_judge();
        batched.mode = TrackingMode::Batched;
        assert!(batched
            .close(&ledger, &st, &history)
            .await
            .unwrap()
            .updates
            .is_empty());
    }

    #[test]
    fn a_requirement_is_swept_with_its_objective_and_profiles_never_are() {
        let st = state();
        let open: Vec<&SubComponent> = st.open_components().collect();
        let quiet = Exchange {
            user: "Hello there.".into(),
            agent: Some("How can I help you today?".into()),
        };
        assert!(sweep(&open, &[], &quiet).is_empty());
        let on_topic = Exchange {
            user: "Can I cancel the flights?".into(),
            agent: Some("Let me look at the flights.".into()),
        };
        let ids: Vec<&str> = sweep(&open, &[], &on_topic)
            .iter()
            .map(|(c, _)| c.id.as_str())
            .collect();
        assert_eq!(ids, ["obj-1", "req-1.1"]);
        // A proposed requirement brings its objective along, even on a turn that does not
        // share its words.
        let done = Exchange {
            user: "Yes, go ahead with both.".into(),
            agent: Some("Both reservations are cancelled.".into()),
        };
        let proposed = [Update {
            id: "req-1.1".into(),
            status: Status::Complete,
            reason: String::new(),
        }];
        let ids: Vec<&str> = sweep(&open, &proposed, &done)
            .iter()
            .map(|(c, _)| c.id.as_str())
            .collect();
        assert_eq!(ids, ["obj-1"]);
    }
}
