//! A model server's `Retry-After` header, which is network input: parsing never panics, and a
//! value it accepts is a duration the client can sleep for once capped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(wait) = ugst_llm::parse_retry_after(text) {
        let capped = wait.min(Duration::from_secs(120));
        assert!(capped <= Duration::from_secs(120));
    }
});
