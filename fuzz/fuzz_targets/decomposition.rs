//! A decomposer's raw answer, as a model may write it (prose, fences, broken JSON): JSON
//! extraction, the typed decomposition, validation and the initial goal state must never panic,
//! and a validated decomposition always gives a state with at least one objective.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ugst_state::{Category, Decomposition, GoalState};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(v) = ugst_llm::extract_json(text) else {
        return;
    };
    let Ok(d) = serde_json::from_value::<Decomposition>(v) else {
        return;
    };
    if d.validate().is_ok() {
        let s = GoalState::initial(&d);
        assert!(s
            .components
            .iter()
            .any(|c| c.category == Category::TaskObjective));
        let _ = ugst::simulate::steer::steering_components(&s);
        let back: GoalState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back.components.len(), s.components.len());
    }
    // The simulator's answer parser reads the same kind of raw text.
    let turn = ugst::simulate::user::parse(text);
    assert!(!turn.text.contains(ugst::prompts::STOP));
});
