//! The benchmark commands run, write JSON and print a table. Only counts are checked, never
//! timings: batched tracking makes one judge call per turn, per-component one per open
//! sub-component, on the very same conversations.

mod common;

use common::*;
use serde_json::Value;

fn bench(args: &[&str], out: &std::path::Path) -> (Value, String) {
    let o = ugst()
        .arg("bench")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    (v, String::from_utf8_lossy(&o.stdout).to_string())
}

#[test]
fn tracker_bench_compares_modes_on_the_same_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let (v, table) = bench(
        &["tracker", "--n", "12", "--max-turns", "4"],
        &dir.path().join("tracker.json"),
    );
    assert!(table.contains("batched / per-component"), "{table}");
    let rows = v["rows"].as_array().unwrap();
    let (pc, b) = (&rows[0], &rows[1]);
    assert_eq!(
        (pc["tracking"].as_str(), b["tracking"].as_str()),
        (Some("per-component"), Some("batched"))
    );
    assert_eq!(pc["conversations"], 12);
    assert_eq!(pc["turns"], b["turns"], "the same conversations");
    assert_eq!(b["judge_calls"], b["turns"], "one batched call per turn");
    assert!(pc["judge_calls"].as_u64() > b["judge_calls"].as_u64());
    let frac = v["batched_token_fraction"].as_f64().unwrap();
    assert!(frac > 0.0 && frac < 1.0, "{frac}");
    let agree = v["final_status_agreement"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&agree));
}

#[test]
fn memory_and_harness_benches_report() {
    let dir = tempfile::tempdir().unwrap();
    let (m, table) = bench(
        &["memory", "--n", "30", "--concurrency", "8"],
        &dir.path().join("memory.json"),
    );
    assert!(table.contains("peak MB"), "{table}");
    assert_eq!(m["conversations"], 30);
    assert!(m["peak_rss_mb"].as_f64().unwrap() >= m["baseline_rss_mb"].as_f64().unwrap());
    let (h, _) = bench(
        &["harness", "--n", "10", "--concurrency", "1,4"],
        &dir.path().join("harness.json"),
    );
    let rows = h.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0]["llm_calls"], rows[1]["llm_calls"],
        "same work at any concurrency"
    );
}

#[test]
fn the_ugst_workload_needs_the_tau_data_and_says_so() {
    let o = ugst()
        .args(["bench", "embedded", "--workload", "ugst"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pass --data"), "{err}");
}
