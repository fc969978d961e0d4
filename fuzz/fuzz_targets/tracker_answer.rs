//! A tracker's raw answer (batched, per component or delta: `parse_changes` with its evidence
//! gate against a fixed turn) applied to a fixed goal state: parsing and
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
    // A delta answer, checked against one exchange (evidence in the user's or the agent's words).
    let history = [ugst::model::Exchange {
        user: "I want a guesthouse with free wifi, I am Maya.".into(),
        agent: Some("Booked: the guesthouse has free wifi.".into()),
    }];
    let judged = ugst::track::parse_changes(
        &v,
        state(),
        &history,
        &ugst::track::TrackingConfig::default(),
    );
    updates.extend(judged.updates);
    let mut s = state().clone();
    for (u, cause) in &judged.refused {
        s.refuse(1, u, *cause);
    }
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
