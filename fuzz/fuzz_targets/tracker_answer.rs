//! A tracker's raw answer (batched or per component) applied to a fixed goal state: parsing and
//! applying never panic, and the state machine only ever moves statuses forward.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use ugst_state::{Decomposition, GoalState};

fn state() -> &'static GoalState {
    static S: OnceLock<GoalState> = OnceLock::new();
    S.get_or_init(|| {
        let d: Decomposition = serde_json::from_str(
            r#"{"user_profile": ["You are Maya"], "user_policy": ["Never share a phone number"],
                "task_objectives": [{"text": "Book a hotel", "requirements": ["free wifi"],
                                     "preferences": ["a guesthouse"]},
                                    {"text": "Book a train", "requirements": [], "preferences": []}]}"#,
        )
        .unwrap();
        GoalState::initial(&d)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(v) = ugst_llm::extract_json(text) else {
        return;
    };
    let mut updates = ugst::track::parse_batched(&v);
    if let Some((status, reason)) = ugst::track::parse_status(&v) {
        updates.push(ugst_state::Update {
            id: "obj-1".into(),
            status,
            reason,
        });
    }
    let mut s = state().clone();
    for turn in 1..=2 {
        let before: Vec<_> = s.components.iter().map(|c| c.status).collect();
        s.apply_turn(turn, &updates);
        for (c, old) in s.components.iter().zip(before) {
            let (Some(was), Some(now)) = (c.category.rank(old), c.category.rank(c.status)) else {
                panic!("{} holds {:?}, not a status of its category", c.id, c.status);
            };
            assert!(now >= was, "{}: {old:?} → {:?} moved backwards", c.id, c.status);
        }
    }
});
