//! Every JSON Schema the project sends to a model, with the name it is sent under. One leaf
//! module (it depends on nothing else of the crate but the state's categories), so anything that
//! needs to recognise a request — the mock model, a strict-mode checker, a test — reads the
//! names here instead of importing the stage that sends it.

use serde_json::{json, Map, Value};
use ugst_state::Category;

/// Goal → decomposition (`decompose`).
pub const DECOMPOSITION: &str = "goal_decomposition";
/// The category of every clause of a goal (the `clauses` decomposition method).
pub const CLAUSE_KINDS: &str = "clause_kinds";
/// One sub-component's status (per-component tracking).
pub const COMPONENT_STATUS: &str = "component_status";
/// Every open sub-component's status (batched tracking).
pub const TURN_STATUS: &str = "turn_status";
/// The sub-components whose status changes in one turn, with evidence (delta tracking).
pub const TURN_CHANGES: &str = "turn_changes";
/// A yes/no check of one proposed change (delta tracking).
pub const CHANGE_CHECK: &str = "change_check";
/// A simulator draft checked before it is sent (`--verify`).
pub const VERIFY_TURN: &str = "verify_turn";
/// Who wrote a message (role adherence in the realism metrics).
pub const MESSAGE_ROLE: &str = "message_role";
/// Naturalness and coherence of a conversation.
pub const CONVERSATION_QUALITY: &str = "conversation_quality";
/// Confusion and being stuck (failure taxonomy).
pub const FAILURE_JUDGEMENT: &str = "failure_judgement";
/// New user profiles or policies (`goals personas`).
pub const PERSONA_ITEMS: &str = "persona_items";

/// Every schema name, for checks that must cover them all.
pub const ALL: [&str; 11] = [
    CLAUSE_KINDS,
    CHANGE_CHECK,
    DECOMPOSITION,
    COMPONENT_STATUS,
    TURN_STATUS,
    TURN_CHANGES,
    VERIFY_TURN,
    MESSAGE_ROLE,
    CONVERSATION_QUALITY,
    FAILURE_JUDGEMENT,
    PERSONA_ITEMS,
];

/// A decomposition (strict-mode compatible: every key required, no extras).
pub fn decomposition() -> Value {
    // Bounds keep a small local model from looping: a grammar built from this schema must close.
    let text = json!({"type": "string", "minLength": 1, "maxLength": 400});
    let list = json!({"type": "array", "items": text, "maxItems": 12});
    json!({
        "type": "object",
        "properties": {
            "user_profile": list,
            "user_policy": list,
            "task_objectives": {
                "type": "array",
                "minItems": 1,
                "maxItems": 8,
                "items": {
                    "type": "object",
                    "properties": {"text": text, "requirements": list, "preferences": list},
                    "required": ["text", "requirements", "preferences"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["user_profile", "user_policy", "task_objectives"],
        "additionalProperties": false
    })
}

/// `{"c01": kind, "c02": kind, ...}`: one category per clause key.
pub fn clause_kinds<'a>(keys: impl IntoIterator<Item = &'a str>, kinds: &[&str]) -> Value {
    let mut props = Map::new();
    let mut req = Vec::new();
    for k in keys {
        props.insert(k.to_string(), json!({"type": "string", "enum": kinds}));
        req.push(k.to_string());
    }
    json!({"type": "object", "properties": props, "required": req, "additionalProperties": false})
}

/// One status answer `{"reason", "status"}` for a sub-component of `cat`. The description names
/// the category, so a reader of the schema alone knows which statuses apply.
pub fn component_status(cat: Category) -> Value {
    let names: Vec<&str> = cat.statuses().iter().map(|s| s.as_str()).collect();
    json!({
        "type": "object",
        "description": format!("category: {}", cat.as_str()),
        "properties": {
            "reason": {"type": "string", "maxLength": 200},
            "status": {"type": "string", "enum": names}
        },
        "required": ["reason", "status"],
        "additionalProperties": false
    })
}

/// One status answer per open sub-component, keyed by id.
pub fn turn_status<'a>(open: impl IntoIterator<Item = (&'a str, Category)>) -> Value {
    let mut props = Map::new();
    let mut ids = Vec::new();
    for (id, cat) in open {
        props.insert(id.to_string(), component_status(cat));
        ids.push(id);
    }
    json!({"type": "object", "properties": props, "required": ids, "additionalProperties": false})
}

/// The changes one turn makes (delta tracking): a list of `{"id", "evidence", "status"}`, one
/// alternative per open sub-component whose status list holds only the statuses it can still
/// move to, so neither an unknown id nor a backward move can be written. Each alternative's
/// description names the category. The evidence is at most 300 characters and the list at most
/// one change per open part: without bounds a small model can loop inside a quote until its
/// token budget runs out (2 048 tokens, minutes on a CPU, and JSON cut short).
pub fn turn_changes<'a>(
    open: impl IntoIterator<Item = (&'a str, Category, ugst_state::Status)>,
) -> Value {
    let variants: Vec<Value> = open
        .into_iter()
        .filter_map(|(id, cat, now)| {
            let rank = cat.rank(now)?;
            let next: Vec<&str> = cat.statuses()[rank + 1..]
                .iter()
                .map(|s| s.as_str())
                .collect();
            (!next.is_empty()).then(|| {
                json!({
                    "type": "object",
                    "description": format!("category: {}", cat.as_str()),
                    "properties": {
                        "id": {"type": "string", "enum": [id]},
                        "evidence": {"type": "string", "maxLength": 300},
                        "status": {"type": "string", "enum": next}
                    },
                    "required": ["id", "evidence", "status"],
                    "additionalProperties": false
                })
            })
        })
        .collect();
    let most = variants.len();
    json!({
        "type": "object",
        "properties": {"changes": {"type": "array", "items": {"anyOf": variants}, "maxItems": most}},
        "required": ["changes"],
        "additionalProperties": false
    })
}

/// `{"answer": one of answers}` (each starts with "yes" or "no").
pub fn change_check(answers: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": answers}},
        "required": ["answer"],
        "additionalProperties": false
    })
}

/// The verifier's answer; violation ids are limited to `ids` (the checked sub-components).
pub fn verify_turn(ids: &[String]) -> Value {
    let id = if ids.is_empty() {
        json!({"type": "string", "maxLength": 20})
    } else {
        json!({"type": "string", "enum": ids})
    };
    json!({
        "type": "object",
        "properties": {
            "violations": {"type": "array", "maxItems": 6, "items": {
                "type": "object",
                "properties": {"id": id, "reason": {"type": "string", "maxLength": 200}},
                "required": ["id", "reason"], "additionalProperties": false}},
            "ends_conversation": {"type": "boolean"},
            "agent_blocked": {"type": "boolean"}
        },
        "required": ["violations", "ends_conversation", "agent_blocked"],
        "additionalProperties": false
    })
}

/// Who wrote a message: `customer` or `agent`.
pub fn message_role() -> Value {
    json!({
        "type": "object",
        "properties": {
            "reason": {"type": "string", "maxLength": 200},
            "writer": {"type": "string", "enum": ["customer", "agent"]}
        },
        "required": ["reason", "writer"],
        "additionalProperties": false
    })
}

/// Naturalness and coherence, 1–5 each, with reasons.
pub fn conversation_quality() -> Value {
    let score = json!({"type": "integer", "minimum": 1, "maximum": 5});
    let reason = json!({"type": "string", "maxLength": 200});
    json!({
        "type": "object",
        "properties": {
            "naturalness_reason": reason, "naturalness": score,
            "coherence_reason": reason, "coherence": score
        },
        "required": ["naturalness_reason", "naturalness", "coherence_reason", "coherence"],
        "additionalProperties": false
    })
}

/// Whether the conversation shows confusion and a stuck objective, with evidence.
pub fn failure_judgement() -> Value {
    let finding = json!({
        "type": "object",
        "properties": {
            "evidence": {"type": "string", "maxLength": 300},
            "found": {"type": "boolean"},
            "turn": {"type": "integer", "minimum": 0}
        },
        "required": ["evidence", "found", "turn"],
        "additionalProperties": false
    });
    json!({
        "type": "object",
        "properties": {"confusion": finding, "stuck": finding},
        "required": ["confusion", "stuck"],
        "additionalProperties": false
    })
}

/// Up to ten new persona entries.
pub fn persona_items() -> Value {
    json!({
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "string", "minLength": 10, "maxLength": 200}, "minItems": 1, "maxItems": 10}},
        "required": ["items"],
        "additionalProperties": false
    })
}

/// One instance of every schema in [`ALL`], built with typical arguments (a goal state with a
/// sub-component of each category), for checks that must see every schema the project sends.
pub fn examples() -> Vec<(&'static str, Value)> {
    use ugst_state::Status;
    let open = [
        ("p1", Category::UserProfile),
        ("u1", Category::UserPolicy),
        ("o1", Category::TaskObjective),
        ("r1", Category::Requirement),
        ("f1", Category::Preference),
    ];
    let changes: Vec<(&str, Category, Status)> = open
        .iter()
        .map(|&(id, c)| (id, c, c.statuses()[0]))
        .collect();
    let out = vec![
        (
            CLAUSE_KINDS,
            clause_kinds(["c01", "c02"], &["profile", "objective"]),
        ),
        (CHANGE_CHECK, change_check(&["yes", "no"])),
        (DECOMPOSITION, decomposition()),
        (COMPONENT_STATUS, component_status(Category::TaskObjective)),
        (TURN_STATUS, turn_status(open)),
        (TURN_CHANGES, turn_changes(changes)),
        (VERIFY_TURN, verify_turn(&["u1".to_string()])),
        (MESSAGE_ROLE, message_role()),
        (CONVERSATION_QUALITY, conversation_quality()),
        (FAILURE_JUDGEMENT, failure_judgement()),
        (PERSONA_ITEMS, persona_items()),
    ];
    debug_assert_eq!(out.len(), ALL.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ugst_llm::{strict_schema, strict_violations};

    /// Every schema the project sends passes OpenAI's strict-mode rules once rewritten.
    #[test]
    fn every_schema_is_strict_after_the_rewrite() {
        let names: Vec<&str> = examples().iter().map(|(n, _)| *n).collect();
        for n in ALL {
            assert!(names.contains(&n), "{n} has no example");
        }
        for (name, schema) in examples() {
            let v = strict_violations(&strict_schema(&schema));
            assert!(v.is_empty(), "{name}: {v:?}");
        }
    }

    /// The checker is not a rubber stamp: the schemas as written carry limits strict mode rejects.
    #[test]
    fn the_checker_catches_our_own_length_limits() {
        let v = strict_violations(&decomposition());
        assert!(
            v.iter().any(|e| e.contains("\"maxLength\"")),
            "decomposition: {v:?}"
        );
        assert!(strict_violations(&change_check(&["yes"])).is_empty());
    }
}
