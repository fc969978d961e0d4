//! The Python training recipes on CPU, end to end: a reasoning-mode run (mock model) → `sft` and
//! `grpo` exports → a tiny randomly initialised model and tokenizer built locally → 2 SFT steps →
//! 2 GRPO steps scored by an in-process `ugst serve reward`. Losses must be finite and the reward
//! server must have been called. Needs the recipes' Python environment: `scripts/test.sh` sets
//! `UGST_PYTHON` (made by `scripts/python-env.sh`).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use ugst_mock::Faults;

fn python() -> PathBuf {
    match std::env::var_os("UGST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "this test runs the TRL recipes and needs their Python environment: run \
             `bash scripts/test.sh`, or `export UGST_PYTHON=$(bash scripts/python-env.sh)` first"
        ),
    }
}

fn recipe(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../python")
        .join(script)
}

/// Runs a recipe; returns the JSON object it prints last.
fn run_py(args: &[&std::ffi::OsStr], dir: &Path) -> Value {
    let t = Instant::now();
    let o = Command::new(python())
        .args(args)
        .current_dir(dir)
        .env("TOKENIZERS_PARALLELISM", "false")
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{args:?} failed:\n{out}\n{err}");
    eprintln!("{:?} took {:.1} s", args[0], t.elapsed().as_secs_f64());
    let last = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn losses_finite(v: &Value) {
    let l = v["losses"].as_array().unwrap();
    assert!(!l.is_empty(), "{v}");
    assert!(
        l.iter().all(|x| x.as_f64().is_some_and(f64::is_finite)),
        "{v}"
    );
    assert_eq!(v["steps"], 2, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sft_and_grpo_run_on_cpu_against_the_reward_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let url = start_mock(Faults::default());
    let cfg = write_config(&d, &url, "");
    let goals = demo_goals(&d);
    let (run, sft, grpo, model) = (
        d.join("run"),
        d.join("sft.jsonl"),
        d.join("grpo.jsonl"),
        d.join("model"),
    );
    {
        let (cfg, run, sft) = (cfg.clone(), run.clone(), sft.clone());
        tokio::task::spawn_blocking(move || {
            run_cmd(
                &["--quiet", "--mode", "reasoning", "--max-turns", "4"],
                &cfg,
                Some(&goals),
                &run,
            )
            .assert()
            .success();
            export(&run, &["--format", "sft"], &sft);
        })
        .await
        .unwrap();
    }
    let py = |args: Vec<std::ffi::OsString>| {
        let d = d.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            run_py(&refs, &d)
        })
    };
    let built = py(vec![
        recipe("tiny_model.py").into(),
        "--data".into(),
        sft.clone().into(),
        "--out".into(),
        model.clone().into(),
    ])
    .await
    .unwrap();
    assert_eq!(built["shape"], "tiny");
    {
        let (run, grpo, tok) = (run.clone(), grpo.clone(), model.join("tokenizer.json"));
        tokio::task::spawn_blocking(move || {
            export(
                &run,
                &["--format", "grpo", "--tokenizer", tok.to_str().unwrap()],
                &grpo,
            );
        })
        .await
        .unwrap();
    }

    let s = py(vec![
        recipe("sft.py").into(),
        "--data".into(),
        sft.into(),
        "--model".into(),
        model.clone().into(),
        "--out".into(),
        d.join("sft-out").into(),
        "--batch-size".into(),
        "2".into(),
        "--per-device-batch".into(),
        "2".into(),
        "--max-steps".into(),
        "2".into(),
    ])
    .await
    .unwrap();
    losses_finite(&s);

    // The reward server, in-process, judging with the same mock endpoint.
    let models = ugst_cli::backends::build(&ugst::config::Config::load(&cfg).unwrap()).unwrap();
    let opts = ugst::serve::reward::Options {
        reward: Default::default(),
        tracking: ugst::model::TrackingMode::Batched,
        tracker: Default::default(),
        concurrency: 8,
        max_queue: 1024,
        limits: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let reward_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, ugst::serve::reward::router(models, opts))
            .await
            .unwrap()
    });
    let g = py(vec![
        recipe("grpo.py").into(),
        "--data".into(),
        grpo.into(),
        "--model".into(),
        d.join("sft-out").into(),
        "--out".into(),
        d.join("grpo-out").into(),
        "--reward-url".into(),
        reward_url.clone().into(),
        "--prompts-per-step".into(),
        "2".into(),
        "--generations".into(),
        "2".into(),
        "--max-steps".into(),
        "2".into(),
        "--max-completion-length".into(),
        "16".into(),
    ])
    .await
    .unwrap();
    losses_finite(&g);
    let health: Value = reqwest::get(format!("{reward_url}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        health["scored"].as_u64().unwrap() >= 8,
        "2 steps x 2 prompts x 2 generations: {health}"
    );
    // A random model cannot write the layout: every completion got the format penalty.
    assert!(g["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r.as_f64() == Some(-0.5)));
}
