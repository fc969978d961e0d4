//! End-to-end runs of the `ugst` binary against a real local OpenAI-compatible server.

mod common;

use common::*;
use serde_json::Value;
use ugst_mock::Faults;

#[test]
fn twenty_goals_run_eval_export_and_track() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("runs/a");
    ugst()
        .args([
            "run",
            "--quiet",
            "--mode",
            "goal-state",
            "--concurrency",
            "8",
            "--config",
        ])
        .arg(&cfg)
        .arg("--goals")
        .arg(&goals)
        .arg("--out")
        .arg(&run)
        .assert()
        .success();

    let out = ugst().arg("eval").arg(&run).arg("--json").output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["conversations"], 20);
    for cat in [
        "user_profile",
        "user_policy",
        "task_objective",
        "requirement",
        "preference",
    ] {
        let c = &v["categories"][cat];
        let (s, t) = (c["success"].as_u64().unwrap(), c["total"].as_u64().unwrap());
        assert!(s <= t && t > 0, "{cat}: {c}");
        assert!((c["rate"].as_f64().unwrap() - s as f64 / t as f64).abs() < 1e-12);
    }
    assert!(v["average"].as_f64().unwrap() > 0.0);

    let lines = export(&run, &[], &dir.path().join("a.jsonl"));
    assert_eq!(lines.len(), 20);
    for l in &lines {
        let turns = l["turns"].as_array().unwrap();
        assert!(!turns.is_empty());
        for (i, t) in turns.iter().enumerate() {
            assert_eq!(t["index"], i as u64 + 1);
            assert_eq!(
                t["state"]["turn"],
                i as u64 + 1,
                "every turn carries the state after it"
            );
            assert!(t["user"].as_str().is_some());
        }
        assert_eq!(l["final_state"], turns.last().unwrap()["state"]);
        // The goal-state simulator saw a steering note before each turn.
        assert!(turns[0]["steering"]
            .as_str()
            .unwrap()
            .contains("progress notes"));
    }

    // Re-track with the batched judge into a new run without re-simulating.
    let run_b = dir.path().join("runs/b");
    ugst()
        .args(["track", "--quiet", "--tracking", "batched"])
        .arg(&run)
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&run_b)
        .assert()
        .success();
    let b = export(&run_b, &[], &dir.path().join("b.jsonl"));
    for (x, y) in lines.iter().zip(&b) {
        let users = |v: &Value| {
            v["turns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["user"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(users(x), users(y), "re-tracking keeps the conversation");
    }
}

#[test]
fn injected_errors_lose_no_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults {
        error_rate: 0.2,
        seed: 7,
        ..Faults::default()
    });
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("runs/flaky");
    run_cmd(&["--quiet", "--concurrency", "8"], &cfg, Some(&goals), &run)
        .assert()
        .success();
    let v: Value = serde_json::from_slice(
        &ugst()
            .arg("eval")
            .arg(&run)
            .arg("--json")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let (done, failed, unfinished) = (
        v["conversations"].as_u64().unwrap(),
        v["failed"].as_u64().unwrap(),
        v["unfinished"].as_u64().unwrap(),
    );
    assert_eq!(done + failed, 20, "{v}");
    assert_eq!(unfinished, 0);
    // Retries are recorded in the ledger shown by eval.
    let table = String::from_utf8(ugst().arg("eval").arg(&run).output().unwrap().stdout).unwrap();
    assert!(table.contains("retries"));
}

#[test]
fn every_failure_is_recorded_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Every request fails: nothing can finish, but nothing is lost either.
    let url = start_mock(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let cfg = write_config(dir.path(), &url, "max_retries = 1");
    let cfg_text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_retries = 8\n", "");
    std::fs::write(&cfg, cfg_text).unwrap();
    let goals = dir.path().join("g.jsonl");
    std::fs::write(&goals, "{\"id\":\"a\",\"goal\":\"You want to book a room.\"}\n{\"id\":\"b\",\"goal\":\"You want a taxi.\"}\n").unwrap();
    let run = dir.path().join("runs/dead");
    run_cmd(&["--quiet"], &cfg, Some(&goals), &run)
        .assert()
        .success();
    let export = dir.path().join("x.jsonl");
    ugst()
        .arg("export")
        .arg(&run)
        .arg("--out")
        .arg(&export)
        .assert()
        .success();
    let text = std::fs::read_to_string(&export).unwrap();
    assert_eq!(text.lines().count(), 2);
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["status"], "failed");
        let err = v["error"].as_str().unwrap();
        assert!(
            err.starts_with("decomposer:") && err.contains("HTTP"),
            "{err}"
        );
    }
}
