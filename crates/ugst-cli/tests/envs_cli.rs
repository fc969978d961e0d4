//! `ugst run --env …` against a local OpenAI-compatible endpoint: the agent's tool calls reach the
//! Rust environments, change their data, and the task reward is computed and reported; `ugst
//! replay` checks the tools against the reference fixtures.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use ugst_mock::Faults;

fn eval_json(run: &Path) -> Value {
    let out = ugst().arg("eval").arg(run).arg("--json").output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Tool observations of a conversation, in order.
fn observations(conv: &Value) -> Vec<String> {
    conv["turns"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["agent_messages"].as_array().unwrap().clone())
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn tau_retail_tool_calls_change_the_database_and_are_scored() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = dir.path().join("goals.jsonl");
    // The first goal is retail dev task 0 (gold: cancel #W5442520, "no longer needed"); the
    // second has no task, so it is not scored.
    std::fs::write(
        &goals,
        concat!(
            r##"{"id": "tau-retail/dev/0", "goal": "You want to cancel your order #W5442520 because you no longer need it. You are Olivia Ito.", "max_turns": 3}"##,
            "\n",
            r##"{"id": "custom-1", "goal": "You want to know the status of order #W2378156. You are Yusuf Rossi.", "max_turns": 2}"##,
            "\n"
        ),
    )
    .unwrap();
    let run = dir.path().join("runs/retail");
    let data = shared_data().join("tau_bench");
    let flags = [
        "--quiet",
        "--env",
        "tau-retail",
        "--data",
        data.to_str().unwrap(),
    ];
    run_cmd(&flags, &cfg, Some(&goals), &run).assert().success();
    let convs = export(&run, &[], &run.join("export.jsonl"));
    let obs = observations(&convs[0]);
    let cancelled = obs
        .iter()
        .find(|o| o.starts_with(r##"{"order_id": "#W5442520""##))
        .unwrap_or_else(|| panic!("no cancel observation in {obs:?}"));
    assert!(
        cancelled.contains(r#""status": "cancelled""#),
        "{cancelled}"
    );
    assert!(
        cancelled.ends_with(r#""cancel_reason": "no longer needed"}"#),
        "{cancelled}"
    );
    let reward = &convs[0]["task_reward"];
    assert_eq!(reward["reward"], 1.0, "{reward}");
    assert_eq!(reward["details"]["db_match"], true);
    assert!(reward["details"]["changed"]["orders"]["#W5442520"].is_object());
    // The look-up goal reached a read-only tool and is not scored.
    assert!(observations(&convs[1])
        .iter()
        .any(|o| o.contains(r##""order_id": "#W2378156""##)));
    assert!(convs[1]["task_reward"].is_null());

    let v = eval_json(&run);
    assert_eq!(v["env"], "tau-retail");
    assert_eq!(v["task_reward"]["scored"], 1);
    assert_eq!(v["task_reward"]["mean"], 1.0);
    let table = ugst().arg("eval").arg(&run).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("task reward (tau-retail): 1.000 mean over 1 scored"),
        "{text}"
    );
}

#[test]
fn tau_tasks_supply_the_goals_and_resume_reopens_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let run = dir.path().join("runs/airline");
    ugst()
        .args([
            "run",
            "--quiet",
            "--env",
            "tau-airline",
            "--split",
            "test",
            "--limit",
            "3",
            "--max-turns",
            "2",
            "--data",
        ])
        .arg(shared_data().join("tau_bench"))
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let convs = export(&run, &[], &run.join("export.jsonl"));
    let ids: Vec<&str> = convs.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "tau-airline/test/0",
            "tau-airline/test/1",
            "tau-airline/test/2"
        ]
    );
    for c in &convs {
        assert!(
            c["goal"]["goal"].as_str().unwrap().len() > 40,
            "the instruction is the goal"
        );
        assert_eq!(c["status"], "finished", "{c}");
        let r = &c["task_reward"];
        assert!(r["reward"] == 0.0 || r["reward"] == 1.0, "{r}");
    }
    assert_eq!(eval_json(&run)["task_reward"]["scored"], 3);
    // The stored run remembers its environment: resuming needs no --env/--data.
    ugst()
        .args(["run", "--quiet", "--resume", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let out = ugst()
        .args(["run", "--resume", "--env", "multiwoz", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--env multiwoz differs from the run's tau-airline"));
}

#[test]
fn multiwoz_searches_reach_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = dir.path().join("goals.jsonl");
    std::fs::write(
        &goals,
        concat!(
            r#"{"id": "mw-1", "goal": "You want a cheap restaurant in the centre. You need a table for 2 on friday at 19:00.", "max_turns": 2, "domain": "restaurant"}"#,
            "\n",
            r#"{"id": "mw-2", "goal": "You need a train from cambridge to ely. You travel on friday.", "max_turns": 2, "domain": "train"}"#,
            "\n"
        ),
    )
    .unwrap();
    let run = dir.path().join("runs/mw");
    let data = shared_data().join("multiwoz");
    let flags = [
        "--quiet",
        "--env",
        "multiwoz",
        "--data",
        data.to_str().unwrap(),
    ];
    run_cmd(&flags, &cfg, Some(&goals), &run).assert().success();
    let convs = export(&run, &[], &run.join("export.jsonl"));
    let obs = observations(&convs[0]);
    let search: Value = obs
        .iter()
        .find_map(|o| {
            serde_json::from_str::<Value>(o)
                .ok()
                .filter(|v| v["domain"] == "restaurant")
        })
        .unwrap_or_else(|| panic!("no restaurant search in {obs:?}"));
    assert_eq!(search["constraints"]["area"], "centre");
    assert_eq!(search["constraints"]["pricerange"], "cheap");
    assert!(search["count"].as_u64().unwrap() > 0);
    for r in search["results"].as_array().unwrap() {
        assert_eq!(r["pricerange"], "cheap");
    }
    let obs = observations(&convs[1]);
    assert!(
        obs.iter()
            .any(|o| o.contains(r#""departure":"cambridge""#)
                && o.contains(r#""destination":"ely""#)),
        "{obs:?}"
    );
    // MultiWOZ goals have no benchmark task: nothing is scored.
    assert!(eval_json(&run)["task_reward"].is_null());
}

#[test]
fn bad_environment_flags_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "http://127.0.0.1:9/v1", "");
    for (args, want) in [
        (
            vec!["--env", "tau-retail"],
            "--env tau-retail needs --data PATH",
        ),
        (vec!["--env", "bogus"], "unknown environment \"bogus\""),
        (
            vec!["--env", "tau-retail", "--data", "/nonexistent"],
            "does not exist",
        ),
        (
            vec!["--env", "multiwoz", "--data", "/tmp"],
            "no hotel_db.json found",
        ),
    ] {
        let out = ugst()
            .arg("run")
            .args(&args)
            .arg("--config")
            .arg(&cfg)
            .arg("--out")
            .arg(dir.path().join("never"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(
            !dir.path().join("never").exists(),
            "no run directory left behind"
        );
    }
}

#[test]
fn replay_reports_matches_and_mismatches() {
    let data = shared_data().join("tau_bench");
    let out = ugst()
        .args(["replay", "--env", "tau-retail", "--split", "dev", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("tau-retail dev: 20/20 tasks match the reference"));

    // A fixture with one altered observation is caught and named.
    let dir = tempfile::tempdir().unwrap();
    let mut fx: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("gold_replay/retail_dev_gold_replay.json")).unwrap(),
    )
    .unwrap();
    let obs = fx["tasks"][3]["steps"][0]["observation"]
        .as_str()
        .unwrap()
        .replace("return requested", "returned");
    fx["tasks"][3]["steps"][0]["observation"] = Value::String(obs);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, fx.to_string()).unwrap();
    let out = ugst()
        .args(["replay", "--env", "tau-retail", "--split", "dev", "--data"])
        .arg(&data)
        .arg("--fixtures")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("MISMATCH tau-retail/dev/3: step 0 (return_delivered_order_items)"),
        "{text}"
    );
    assert!(text.contains("19/20 tasks match"), "{text}");
}
