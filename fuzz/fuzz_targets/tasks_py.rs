//! The `tasks_*.py` literal parser on arbitrary text (depth-limited): a value or an error with
//! its line and column, never a panic or a stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ugst_envs::tau::pyliteral::parse_assignment(text, "TASKS_TEST");
    let _ = ugst_envs::tau::pyliteral::assigned_names(text);
});
