//! The goal-file reader on arbitrary bytes: it returns goals or an error, never panics, and every
//! goal it accepts has a non-empty id and goal text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(goals) = ugst::goals::parse_goals("fuzz.jsonl", data) {
        assert!(!goals.is_empty());
        for g in &goals {
            assert!(!g.id.trim().is_empty() && !g.goal.trim().is_empty());
        }
    }
});
