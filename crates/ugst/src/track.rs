//! Tracker: after each turn, asks an LLM judge for the status of every sub-component that can still
//! change, and turns the answers into [`Update`]s for the state machine.
//!
//! Three modes: `per-component` (one judge call per open sub-component per turn, as in the paper),
//! `batched` (one call per turn that answers every open sub-component) and `delta` (one call per
//! turn that names only the sub-components whose status changes, each with words quoted from the
//! conversation; a change whose quote is not in the conversation is refused).

pub use crate::model::transcript::transcript;
use crate::model::{Exchange, TrackingMode};
use crate::prompts::{self, schemas};
use crate::roles::RoleModel;
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
    let schema = schemas::turn_status(open.iter().map(|c| (c.id.as_str(), c.category)));
    ChatRequest::new(vec![Message::user(turn_prompt(
        "track_batched",
        state,
        open,
        history,
        turn,
    ))])
    .with_schema(schemas::TURN_STATUS, schema)
    .with_sampling(sampling.clone())
}

/// The one-call-per-turn prompt of `template`: instructions, the transcript, then every open
/// sub-component with its id, category, status before the turn and, for requirements and
/// preferences, the objective's own text.
fn turn_prompt(
    template: &str,
    state: &GoalState,
    open: &[&SubComponent],
    history: &[Exchange],
    turn: u32,
) -> String {
    let comps: Vec<Value> = open
        .iter()
        .map(|c| {
            json!({"id": c.id, "category": category_label(c.category),
                   "objective": objective_text(state, c),
                   "status": c.status.as_str(), "text": c.text})
        })
        .collect();
    prompts::render(
        template,
        context! { transcript => transcript(history, 1), components => comps, turn => turn },
    )
}

/// The single judge request of delta mode: the open sub-components with their current status,
/// laid out like [`batched_request`] (instructions, then the growing transcript, then the parts),
/// answered with only the changes this turn makes.
pub fn delta_request(
    state: &GoalState,
    open: &[&SubComponent],
    history: &[Exchange],
    turn: u32,
    sampling: &Sampling,
) -> ChatRequest {
    let prompt = turn_prompt("track_delta", state, open, history, turn);
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

/// A delta answer `{"changes": [{"id", "evidence", "status"}]}` checked against the turn it is
/// about (the last of `history`): returns the updates whose evidence is there and the changes
/// refused because it is not.
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
        let found = state
            .get(id)
            .is_some_and(|c| quoted_in(evidence, &evidence_source(c.category, last)));
        match found {
            true => out.updates.push(update),
            false => out.refused.push((update, IgnoreCause::NoEvidence)),
        }
    }
    out
}

/// The narrow question that confirms a proposed change of delta mode, and its answers, each
/// with the status it gives (`None`: no change). The answer that keeps the status comes first
/// (a small model leans to the first and to "yes"). Profile, policy and preference questions are
/// yes/no; an objective's or requirement's asks what the turn did to it, so the answer sets the
/// status (a proposed COMPLETE may come back ATTEMPTED).
pub fn check_options(category: Category) -> (&'static str, Vec<(&'static str, Option<Status>)>) {
    match category {
        Category::Preference => (
            "In this turn, does the user state this preference or choose according to it?",
            vec![
                ("no, the user does not state it or act on it", None),
                ("yes, the user states it or chooses by it", Some(Status::Aligned)),
            ],
        ),
        Category::UserProfile | Category::UserPolicy => (
            "In this turn, does the user say or do something that goes against this part of their goal? Leaving it unmentioned does not go against it.",
            vec![
                ("no, nothing the user says goes against it", None),
                ("yes, the user goes against it", Some(Status::Misaligned)),
            ],
        ),
        Category::TaskObjective | Category::Requirement => (
            "What does this turn show about it?",
            vec![
                ("not settled: it is only asked about, discussed or still being worked on", None),
                ("blocked: the agent refuses it, says it is not possible or not available, or it fails", Some(Status::Attempted)),
                ("done: the agent confirms it is done or gives the answer asked for", Some(Status::Complete)),
            ],
        ),
    }
}

/// The check request for one proposed change: only the judged turn and the one part, so a small
/// judge answers a narrow question instead of weighing every part at once; `yes_first` reverses
/// the answers (the one that keeps the status last).
pub fn check_request(
    state: &GoalState,
    c: &SubComponent,
    last: &Exchange,
    turn: u32,
    yes_first: bool,
    sampling: &Sampling,
) -> ChatRequest {
    let (question, options) = check_options(c.category);
    let mut answers: Vec<&str> = options.iter().map(|(a, _)| *a).collect();
    if yes_first {
        answers.reverse();
    }
    let prompt = prompts::render(
        "track_check",
        context! {
            turn => turn,
            user => last.user,
            agent => last.agent.as_deref().unwrap_or("(no reply)"),
            category => category_label(c.category),
            text => c.text,
            objective => objective_text(state, c),
            question => question,
            answers => answers,
        },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::CHANGE_CHECK, schemas::change_check(&answers))
        .with_sampling(sampling.clone())
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
    /// turn and a narrow check confirms them (see the module's top and `docs/tracking.md`).
    async fn judge_delta(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        open: &[&SubComponent],
        history: &[Exchange],
        turn: u32,
    ) -> Result<Judgement, LlmError> {
        let (llm, sampling) = (&self.role.llm, &self.role.sampling);
        let req = delta_request(state, open, history, turn, sampling);
        let v = llm.structured(CallRole::Tracker, ledger, &req).await?;
        let mut judged = parse_changes(&v, state, history);
        let Some(last) = history.last() else {
            return Ok(judged);
        };
        // A preference the judge passed over is checked too when the user's message
        // shares two content words with it (small judges rarely propose one).
        for c in open {
            let proposed = judged
                .updates
                .iter()
                .chain(judged.refused.iter().map(|r| &r.0));
            if c.category == Category::Preference
                && !proposed.into_iter().any(|u| u.id == c.id)
                && shared_content_words(&c.text, &last.user) >= 2
            {
                let quote: String = last.user.chars().take(200).collect();
                judged.updates.push(Update {
                    id: c.id.clone(),
                    status: Status::Aligned,
                    reason: format!("\"{quote}\""),
                });
            }
        }
        // Every change that has its evidence is confirmed by a narrow question. Profile
        // and policy changes must be confirmed with the answers in both orders (the prior
        // is strong and a judge that only picks a position confirms nothing); an
        // objective's answer sets its status.
        let checks = judged.updates.iter().map(|u| async move {
            let Some(c) = state.get(&u.id) else {
                return Ok::<_, LlmError>(None);
            };
            let orders: &[bool] = match c.category {
                Category::UserProfile | Category::UserPolicy => &[false, true],
                _ => &[false],
            };
            let (_, options) = check_options(c.category);
            let mut verdict = None;
            for &flip in orders {
                let req = check_request(state, c, last, turn, flip, sampling);
                let v = llm.structured(CallRole::Tracker, ledger, &req).await?;
                let answer = v.get("answer").and_then(Value::as_str).unwrap_or("");
                verdict = options
                    .iter()
                    .find(|(a, _)| *a == answer)
                    .and_then(|(_, s)| *s);
                if verdict.is_none() {
                    return Ok(None);
                }
            }
            Ok(verdict.filter(|s| c.category.rank(*s) > c.category.rank(c.status)))
        });
        let verdicts = try_join_all(checks).await?;
        let proposed = std::mem::take(&mut judged.updates);
        for (mut u, verdict) in proposed.into_iter().zip(verdicts) {
            match verdict {
                Some(status) => {
                    u.status = status;
                    judged.updates.push(u);
                }
                None => judged.refused.push((u, IgnoreCause::NotConfirmed)),
            }
        }
        Ok(judged)
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
        // The check question can be asked with either answer first.
        let c = state.get("prof-1").unwrap();
        let last = Exchange {
            user: "hi".into(),
            agent: None,
        };
        let no_first = check_request(&state, c, &last, 1, false, &Sampling::default());
        let yes_first = check_request(&state, c, &last, 1, true, &Sampling::default());
        let first = |r: &ChatRequest| {
            r.schema.as_ref().unwrap().schema["properties"]["answer"]["enum"][0]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(first(&no_first).starts_with("no") && first(&yes_first).starts_with("yes"));
    }
}
