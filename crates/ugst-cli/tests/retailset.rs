//! The held-out τ-retail labelled set (`data/tracking-retail/`): ugst's own conversations (the
//! embedded simulator and agent), labelled by hand before any tracker read them. The files agree
//! with each other and the set is what the issue asked for: at least 20 conversations, every
//! category present, at least 8 MISALIGNED and 8 INCOMPLETE labels. The counterfactual lines name
//! ALIGNED profile and policy parts of the sets they belong to.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use ugst_state::{Category, Decomposition, GoalState, Status};

fn data(rel: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(rel)
}

fn decompositions(set: &str) -> HashMap<String, GoalState> {
    read_jsonl(&data(set).join("decompositions.jsonl"))
        .into_iter()
        .map(|v| {
            let d: Decomposition = serde_json::from_value(v["state"].clone()).unwrap();
            d.validate().unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                GoalState::initial(&d),
            )
        })
        .collect()
}

#[test]
fn the_retail_labels_fit_their_decompositions_and_conversations() {
    let states = decompositions("tracking-retail");
    let finals = read_jsonl(&data("tracking-retail/final_states.jsonl"));
    let convs: HashMap<String, serde_json::Value> =
        read_jsonl(&data("tracking-retail/conversations.jsonl"))
            .into_iter()
            .map(|v| (v["id"].as_str().unwrap().to_string(), v))
            .collect();
    assert!(finals.len() >= 20, "at least 20 labelled conversations");
    let mut per_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut categories = BTreeSet::new();
    for f in &finals {
        let id = f["id"].as_str().unwrap();
        let users = convs[id]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .count();
        // The final turn is the last user message, or the one before a bare stop.
        let turn = f["turn"].as_u64().unwrap() as usize;
        assert!(
            turn == users || turn + 1 == users,
            "{id}: turn {turn}, {users} user messages"
        );
        let state = &states[id];
        let statuses = f["statuses"].as_object().unwrap();
        let got: BTreeSet<&str> = statuses.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = state.components.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(got, want, "{id}");
        for c in &state.components {
            let s = Status::parse(statuses[&c.id].as_str().unwrap()).unwrap();
            assert!(c.category.rank(s).is_some(), "{id} {}: {s}", c.id);
            assert!(!f["reasons"][&c.id].as_str().unwrap_or("").is_empty());
            categories.insert(c.category);
            *per_status.entry(s.as_str().to_string()).or_default() += 1;
        }
    }
    assert_eq!(
        categories.len(),
        5,
        "every category present: {categories:?}"
    );
    assert!(per_status["MISALIGNED"] >= 8, "{per_status:?}");
    assert!(per_status["INCOMPLETE"] >= 8, "{per_status:?}");
}

#[test]
fn every_counterfactual_line_breaks_an_aligned_profile_or_policy_part() {
    let mut sets: HashMap<String, (HashMap<String, GoalState>, Vec<serde_json::Value>)> =
        HashMap::new();
    for set in ["tracking-devset", "tracking-retail"] {
        let finals = read_jsonl(&data(set).join("final_states.jsonl"));
        sets.insert(set.to_string(), (decompositions(set), finals));
    }
    let lines = read_jsonl(&data("counterfactual/lines.jsonl"));
    assert!(lines.len() >= 60, "{} lines", lines.len());
    for l in &lines {
        let (set, id, part) = (
            l["set"].as_str().unwrap(),
            l["id"].as_str().unwrap(),
            l["part"].as_str().unwrap(),
        );
        let (states, finals) = &sets[set];
        let c = states[id]
            .get(part)
            .unwrap_or_else(|| panic!("{set} {id} {part}"));
        assert!(
            matches!(c.category, Category::UserProfile | Category::UserPolicy),
            "{set} {id} {part}"
        );
        let gold = finals.iter().find(|f| f["id"] == id).unwrap();
        assert_eq!(gold["statuses"][part], "ALIGNED", "{set} {id} {part}");
        assert!(!l["line"].as_str().unwrap().trim().is_empty());
    }
}
