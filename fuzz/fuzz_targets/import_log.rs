//! The three importers (τ-bench v1 results, τ²-bench results, chat JSONL) on arbitrary file
//! contents: each returns conversations or an error naming the place, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("ugst-fuzz-import-{}.json", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = ugst::import::tau_bench(&path);
    let _ = ugst::import::tau2::read(&path);
    let _ = ugst::import::chat_jsonl(&path);
    let _ = std::fs::remove_file(&path);
});
