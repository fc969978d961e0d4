//! An agent model's raw text with tool calls (the embedded model's `<tool_call>` layout), run
//! against the real τ-bench retail and airline tools on a copy of their databases: parsing,
//! argument decoding and every tool must answer with a result or an error message, never panic.
//! Needs the τ-bench data: `$UGST_SHARED_DATA/tau_bench` (default `../../shared/data/tau_bench`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use ugst_envs::tau::{Domain, Flavor, TauEnv};

fn envs() -> &'static [TauEnv; 2] {
    static E: OnceLock<[TauEnv; 2]> = OnceLock::new();
    E.get_or_init(|| {
        let data = std::env::var_os("UGST_SHARED_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
            .join("tau_bench");
        let load = |d| TauEnv::load(Flavor::Tau, d, &data).expect("τ-bench data (set UGST_SHARED_DATA)");
        [load(Domain::Retail), load(Domain::Airline)]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let env = &envs()[(pick % 2) as usize];
    let (_, calls) = ugst_embedded::chat::parse_tool_calls(text);
    let mut db = None;
    for call in calls {
        let Ok(args) = serde_json::from_str::<serde_json::Value>(&call.function.arguments) else {
            continue;
        };
        let name = &call.function.name;
        let out = if env.writes(name) {
            let db = db.get_or_insert_with(|| (*env.db).clone());
            env.call(db, name, &args)
        } else {
            env.read(db.as_ref().unwrap_or(&env.db), name, &args)
        };
        match out {
            Ok(s) | Err(s) => assert!(!s.is_empty(), "{name} answered nothing"),
        }
    }
});
