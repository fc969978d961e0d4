//! The servers' request readers on arbitrary bodies: the simulator's chat-completion reader
//! (`serve::wire::read`) and the reward server's item parser (`serve::reward::parse_items`)
//! return a request or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = ugst::serve::wire::read(&v);
    if let Ok(items) = ugst::serve::reward::parse_items(&v) {
        assert!(!items.is_empty(), "an accepted batch has items");
    }
});
