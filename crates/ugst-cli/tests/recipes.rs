//! The Python training recipes on CPU. `scripts/train-loop.sh --tiny` end to end: a reasoning-mode
//! teacher run on τ-retail train goals (mock model) → `sft` and `grpo` exports → a tiny randomly
//! initialised model and tokenizer built locally → 1 SFT step → 2 GRPO steps scored by a real
//! `ugst serve reward` process → the base, SFT and GRPO checkpoints served by `transformers serve`
//! and run back through ugst as simulators on held-out test goals → `ugst eval`. And the recipes'
//! own unit tests (GRPO's loss settings, verl's keyword call, the parquet round trip, the reward
//! curve). Needs the recipes' Python environment: `scripts/test.sh` sets `UGST_PYTHON` (made by
//! `scripts/python-env.sh`).

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    match std::env::var_os("UGST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "this test runs the TRL recipes and needs their Python environment: run \
             `bash scripts/test.sh`, or `export UGST_PYTHON=$(bash scripts/python-env.sh)` first"
        ),
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_recipes_unit_tests_pass() {
    let o = Command::new(python())
        .args(["-m", "unittest", "discover", "-s", "python/tests", "-v"])
        .current_dir(repo())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // The suite must have run, not found nothing.
    assert!(
        err.contains("Ran ") && !err.contains("Ran 0 tests"),
        "{err}"
    );
    for name in [
        "test_defaults_are_grpo_not_trl_defaults",
        "test_compute_score_takes_verls_keywords",
        "test_round_trip",
        "test_trl_reward_excludes_and_counts_judge_failures",
    ] {
        assert!(err.contains(name), "{name} did not run:\n{err}");
    }
}

#[test]
fn the_train_loop_runs_tiny_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("loop");
    let o = Command::new("bash")
        .arg(repo().join("scripts/train-loop.sh"))
        .args(["--tiny", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(shared_data().join("tau_bench"))
        .env("UGST_BIN", assert_cmd::cargo::cargo_bin("ugst"))
        .env("UGST_PYTHON", python())
        .env("UGST_HOME", std::env::temp_dir().join("ugst-test-home"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "train-loop failed:\n{err}");
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["tiny"], true);
    assert_eq!(s["data"]["sft_chats"], 2, "{s}");
    assert!(s["data"]["grpo_prompts"].as_u64().unwrap() >= 2, "{s}");
    assert!(s["sft"]["finite"].as_bool().unwrap(), "{s}");
    // The curve: one point per GRPO step, every completion (2 prompts x 2 rollouts) scored by the
    // reward server; a random model cannot write the layout, so every reward is the format
    // penalty.
    let curve = s["grpo"]["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 2, "{s}");
    for p in curve {
        assert_eq!(p["scored"], 4, "{p}");
        assert_eq!(p["judge_failures"], 0, "{p}");
        assert_eq!(p["mean"].as_f64(), Some(-0.5), "{p}");
    }
    let png = std::fs::read(out.join("grpo/curve.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "curve.png is not a PNG");
    // Every checkpoint went back through ugst as the simulator on the held-out goals.
    let rows = s["eval"].as_array().unwrap();
    let labels: Vec<&str> = rows.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["base", "sft", "grpo"], "{s}");
    for r in rows {
        assert_eq!(r["conversations"], 2, "{r}");
        assert!(r["average"]["low"].is_number(), "{r}");
    }
    for ck in ["base", "sft", "grpo"] {
        let run = out.join("eval").join(ck);
        let o = ugst()
            .args(["export"])
            .arg(&run)
            .args(["--format", "jsonl", "--out"])
            .arg(dir.path().join(format!("{ck}.jsonl")))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(dir.path().join(format!("{ck}.jsonl"))).unwrap();
        assert_eq!(text.lines().count(), 2, "{ck}: {text}");
        let cfg = std::fs::read_to_string(out.join(format!("eval-{ck}.toml"))).unwrap();
        assert!(cfg.contains(&format!("loop/{ck}\"")), "{cfg}");
    }
    let stages: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stages.json")).unwrap()).unwrap();
    for k in [
        "teacher",
        "sft",
        "grpo",
        "eval-base",
        "eval-sft",
        "eval-grpo",
    ] {
        assert!(stages[k].is_number(), "{k} missing: {stages}");
    }
}
