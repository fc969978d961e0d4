//! Decomposer: goal text -> decomposition (and so S0) through one structured model call.
//!
//! Two methods ([`Method`]): `free`, where the model writes the whole decomposition, and
//! `clauses`, for small models: ugst splits the goal into clauses itself ([`clauses`]; every
//! clause lands in exactly one sub-component, in the goal's own words), the model only names each
//! clause's category, and requirements and preferences join the objective they follow.

use crate::prompts::{self, schemas};
use crate::roles::RoleModel;
use minijinja::context;
use ugst_llm::{CallRole, ChatRequest, Ledger, LlmError, Message, Sampling};
use ugst_state::Decomposition;

#[derive(Debug, thiserror::Error)]
pub enum DecomposeError {
    #[error("decomposer model failed: {0}")]
    Llm(#[from] LlmError),
    #[error("the decomposer's answer is not a usable decomposition: {0}")]
    Invalid(String),
}

pub use crate::model::DecomposeMethod as Method;

/// Words that open a new clause after ", ", " and " or " but " (an action or a new subject).
const CLAUSE_OPENERS: &[&str] = &[
    "you",
    "your",
    "add",
    "upgrade",
    "change",
    "have",
    "get",
    "cancel",
    "book",
    "move",
    "remove",
    "want",
    "use",
    "ask",
    "mention",
    "tell",
    "insist",
    "be",
    "make",
    "pay",
    "keep",
    "request",
    "know",
    "find",
    "return",
    "give",
    "don't",
    "do",
    "then",
    "also",
    "try",
    "provide",
    "say",
    "preferably",
    "ideally",
];

/// Conditions and frames: a sentence that opens with one of these keeps its comma part whole
/// ("If the agent says X, do Y" is one policy).
const FRAMES: &[&str] = &[
    "if", "for", "since", "when", "because", "as", "even", "unless", "once", "after", "before",
];

/// Splits a goal into clauses: sentences (keeping "i.e." and "e.g." inside), each cut before
/// ", ", " and " or " but " where an action or a new subject follows and both sides have three
/// words or more — unless the sentence opens with a condition or frame. Text is kept as written.
pub fn clauses(goal: &str) -> Vec<String> {
    let mut sentences: Vec<String> = Vec::new();
    for s in crate::text::sentences(goal) {
        match sentences.last_mut() {
            Some(prev) if prev.ends_with("i.e.") || prev.ends_with("e.g.") => {
                prev.push(' ');
                prev.push_str(&s);
            }
            _ => sentences.push(s),
        }
    }
    let mut out = Vec::new();
    for s in sentences {
        let first = crate::text::words(&s)
            .into_iter()
            .next()
            .unwrap_or_default();
        if FRAMES.contains(&first.as_str()) {
            out.push(s);
            continue;
        }
        let mut start = 0;
        let mut i = 0;
        while i < s.len() {
            let cut = [", and ", ", but ", ", ", " and ", " but "]
                .iter()
                .find(|sep| s[i..].starts_with(**sep))
                .copied();
            let Some(sep) = cut else {
                i += s[i..].chars().next().map_or(1, char::len_utf8);
                continue;
            };
            // The separator's conjunction (if any) stays with the clause it opens.
            let conj = sep.trim_start_matches(',').trim_start();
            let next_start = i + (sep.len() - conj.len());
            let after = &s[i + sep.len()..];
            let next_word = crate::text::words(after)
                .into_iter()
                .next()
                .unwrap_or_default();
            let left = &s[start..i];
            let opens = CLAUSE_OPENERS.contains(&next_word.as_str());
            let long_enough =
                crate::text::words(left).len() >= 3 && crate::text::words(after).len() >= 3;
            if opens && long_enough {
                out.push(left.trim().to_string());
                start = next_start;
            }
            i += sep.len();
        }
        out.push(s[start..].trim().to_string());
    }
    out.into_iter()
        .map(|c| {
            let c = c.trim_end_matches([',', ';']).trim().to_string();
            let mut ch = c.chars();
            match ch.next() {
                Some(f) => f.to_uppercase().collect::<String>() + ch.as_str(),
                None => c,
            }
        })
        .filter(|c| c.chars().any(char::is_alphanumeric))
        .collect()
}

/// The category names the clause classifier answers with, in the decomposition's own terms.
const KINDS: [&str; 5] = [
    "user_profile",
    "user_policy",
    "task_objective",
    "requirement",
    "preference",
];

/// The kind a clause has by the labelling conventions alone, when its wording settles it: soft
/// wishes ("prefer", "ideally", "ok with", "happy with", "willing to accept") are preferences;
/// caps, conditions and conduct (a clause opening with "if", "willing to pay", "insist",
/// "persistent", "mention", "do not care", "never") are policies and win over soft wording;
/// facts opening with "You are", "Your" or "You have a" are the profile. The model decides every
/// other clause.
pub fn cue(clause: &str) -> Option<&'static str> {
    let t = clause.to_lowercase();
    let has = |ws: &[&str]| ws.iter().any(|w| t.contains(w));
    let policy = t.starts_with("if ")
        || has(&[
            "willing to pay",
            "budget",
            "if the agent",
            "insist",
            "persistent",
            "mention",
            "tell the agent",
            "don't care",
            "do not care",
            "transferred",
            "under no circumstances",
            "not provide",
            "don't provide",
            "do not provide",
            "never ",
            "not prefer",
        ]);
    if policy {
        return Some("user_policy");
    }
    let soft = has(&[
        "prefer",
        "ideally",
        "ok with",
        "okay with",
        "happy with",
        "fine with",
        "willing to accept",
    ]);
    if soft && !has(&["not happy", "not ok", "unhappy"]) {
        return Some("preference");
    }
    let w = crate::text::words(clause);
    let opening = w
        .iter()
        .take(3)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let fact = ["you are", "you're", "your"]
        .iter()
        .any(|p| opening.starts_with(p))
        || opening.starts_with("you have a")
        || opening.starts_with("you have an");
    fact.then_some("user_profile")
}

/// The request that asks for each clause's category (`clauses` method).
pub fn classify_request(clauses: &[String], sampling: Sampling) -> ChatRequest {
    let keyed: Vec<(String, &String)> = clauses
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("c{:02}", i + 1), c))
        .collect();
    let prompt = prompts::render("decompose_clauses", context! { clauses => keyed });
    let schema = schemas::clause_kinds(keyed.iter().map(|(k, _)| k.as_str()), &KINDS);
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::CLAUSE_KINDS, schema)
        .with_sampling(sampling)
}

/// Builds the decomposition from the clauses and their categories: requirements and preferences
/// join the nearest objective before them (the first one after them when none comes before). A
/// goal without an objective clause gets its first clause that is not about the user's profile
/// (or else its last) as the objective.
pub fn assemble(clauses: &[String], kinds: &[&str]) -> Decomposition {
    let mut kinds: Vec<&str> = kinds.to_vec();
    if !kinds.contains(&"task_objective") && !kinds.is_empty() {
        let i = kinds
            .iter()
            .position(|k| *k != "user_profile")
            .unwrap_or(kinds.len() - 1);
        kinds[i] = "task_objective";
    }
    let mut d = Decomposition {
        user_profile: vec![],
        user_policy: vec![],
        task_objectives: vec![],
    };
    let mut waiting: Vec<(&str, String)> = Vec::new();
    for (c, k) in clauses.iter().zip(&kinds) {
        match *k {
            "user_profile" => d.user_profile.push(c.clone()),
            "user_policy" => d.user_policy.push(c.clone()),
            "task_objective" => {
                d.task_objectives.push(ugst_state::ObjectiveSpec {
                    text: c.clone(),
                    requirements: vec![],
                    preferences: vec![],
                });
                let o = d.task_objectives.last_mut().expect("just pushed");
                for (wk, wc) in waiting.drain(..) {
                    match wk {
                        "preference" => o.preferences.push(wc),
                        _ => o.requirements.push(wc),
                    }
                }
            }
            other => match d.task_objectives.last_mut() {
                Some(o) if other == "preference" => o.preferences.push(c.clone()),
                Some(o) => o.requirements.push(c.clone()),
                None => waiting.push((other, c.clone())),
            },
        }
    }
    d
}

/// The request sent to decompose `goal`.
pub fn request(goal: &str, sampling: Sampling) -> ChatRequest {
    ChatRequest::new(vec![Message::user(prompts::render(
        "decompose",
        context! { goal => goal },
    ))])
    .with_schema(schemas::DECOMPOSITION, schemas::decomposition())
    .with_sampling(sampling)
}

/// The goal's decomposition: the one its goal line carries (`state`), else the decomposer's.
pub async fn decompose_goal(
    role: &RoleModel,
    ledger: &Ledger,
    goal: &crate::model::Goal,
) -> Result<Decomposition, DecomposeError> {
    match &goal.decomposition {
        Some(d) => Ok(d.clone()),
        None => decompose(role, ledger, &goal.goal).await,
    }
}

/// Decomposes one goal text and validates the result.
pub async fn decompose(
    role: &RoleModel,
    ledger: &Ledger,
    goal: &str,
) -> Result<Decomposition, DecomposeError> {
    let d = match role.decompose {
        Method::Free => {
            let req = request(goal, role.sampling.clone());
            let v = role
                .llm
                .structured(CallRole::Decomposer, ledger, &req)
                .await?;
            serde_json::from_value(v).map_err(|e| DecomposeError::Invalid(e.to_string()))?
        }
        Method::Clauses => {
            let parts = clauses(goal);
            if parts.is_empty() {
                return Err(DecomposeError::Invalid("the goal has no words".into()));
            }
            let req = classify_request(&parts, role.sampling.clone());
            let v = role
                .llm
                .structured(CallRole::Decomposer, ledger, &req)
                .await?;
            let kinds: Vec<&str> = (1..=parts.len())
                .map(|i| {
                    if let Some(k) = cue(&parts[i - 1]) {
                        return Ok(k);
                    }
                    v.get(format!("c{i:02}"))
                        .and_then(serde_json::Value::as_str)
                        .and_then(|k| KINDS.iter().find(|x| **x == k).copied())
                        .ok_or_else(|| {
                            DecomposeError::Invalid(format!("no category for clause c{i:02}"))
                        })
                })
                .collect::<Result<_, _>>()?;
            assemble(&parts, &kinds)
        }
    };
    d.validate()
        .map_err(|e| DecomposeError::Invalid(e.to_string()))?;
    Ok(d)
}

/// Decomposes every goal with at most `concurrency` calls in flight. Returns, per goal in order,
/// its decomposition or what went wrong, and the ledger of every call.
pub async fn decompose_all(
    role: &RoleModel,
    goals: &[crate::model::Goal],
    concurrency: usize,
    progress: &dyn crate::progress::Progress,
) -> (
    Vec<Result<Decomposition, DecomposeError>>,
    Vec<ugst_llm::LedgerEntry>,
) {
    use futures::StreamExt;
    progress.start(goals.len(), "goals");
    let tasks = goals.iter().map(|g| async move {
        let ledger = Ledger::new();
        let r = decompose_goal(role, &ledger, g).await;
        progress.advance(1);
        (r, ledger.drain())
    });
    let results: Vec<_> = futures::stream::iter(tasks)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    progress.finish();
    let mut ledger = Vec::new();
    let out = results
        .into_iter()
        .map(|(r, l)| {
            ledger.extend(l);
            r
        })
        .collect();
    (out, ledger)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_cut_at_new_actions_and_keep_conditions_whole() {
        assert_eq!(
            clauses("You are Ana and you want to cancel two bookings (A1 and B2) and upgrade a third to business. You prefer a window seat."),
            [
                "You are Ana",
                "And you want to cancel two bookings (A1 and B2)",
                "And upgrade a third to business.",
                "You prefer a window seat."
            ]
        );
        assert_eq!(
            clauses("If the agent says no, mention that you were approved. Delay it by one day (i.e. move it to Tuesday)."),
            [
                "If the agent says no, mention that you were approved.",
                "Delay it by one day (i.e. move it to Tuesday)."
            ]
        );
        // Lists of actions split; short fragments and non-actions do not.
        assert_eq!(
            clauses("You want to change the passenger to yourself, upgrade it to economy class, and have 3 checked bags."),
            [
                "You want to change the passenger to yourself",
                "Upgrade it to economy class",
                "And have 3 checked bags."
            ]
        );
        assert_eq!(
            clauses("Fly from Boston and back."),
            ["Fly from Boston and back."]
        );
    }

    #[test]
    fn assembled_parts_join_their_objective() {
        let parts: Vec<String> = [
            "You are Ana.",
            "For Friday.",
            "Book a room.",
            "Ideally cheap.",
            "Never share the phone.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = assemble(
            &parts,
            &[
                "user_profile",
                "requirement",
                "task_objective",
                "preference",
                "user_policy",
            ],
        );
        d.validate().unwrap();
        assert_eq!(d.user_profile, ["You are Ana."]);
        assert_eq!(d.user_policy, ["Never share the phone."]);
        assert_eq!(d.task_objectives.len(), 1);
        assert_eq!(d.task_objectives[0].requirements, ["For Friday."]);
        assert_eq!(d.task_objectives[0].preferences, ["Ideally cheap."]);
        // No objective named: the first clause not about the profile becomes one.
        let d = assemble(&parts[..2], &["user_profile", "requirement"]);
        assert_eq!(d.task_objectives[0].text, "For Friday.");
    }
}
