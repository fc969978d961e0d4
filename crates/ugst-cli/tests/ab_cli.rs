//! `ugst ab` and the realism/termination parts of `ugst eval` through the binary, against the
//! local mock endpoint.

mod common;

use common::*;
use serde_json::Value;
use ugst_mock::Faults;

#[test]
fn ab_compares_modes_with_intervals_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let out = dir.path().join("ab");
    let ab_with = |turns: &str, goals: &std::path::Path| {
        ugst()
            .args([
                "ab",
                "--quiet",
                "--modes",
                "prompt,goal-state+verify=1",
                "--repeats",
                "2",
                "--seed",
                "9",
                "--max-turns",
                turns,
                "--tracking",
                "batched",
                "--config",
            ])
            .arg(&cfg)
            .arg("--goals")
            .arg(goals)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let ab = || ab_with("4", &goals);
    let o = ab();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        table.contains("goal-state+verify=1") && table.contains("95% bootstrap"),
        "{table}"
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ab.json")).unwrap()).unwrap();
    assert_eq!(v["arms"].as_array().unwrap().len(), 2);
    let avg = &v["arms"][0]["estimate"]["average"];
    let (lo, val, hi) = (
        avg["low"].as_f64().unwrap(),
        avg["value"].as_f64().unwrap(),
        avg["high"].as_f64().unwrap(),
    );
    assert!(lo <= val && val <= hi, "{avg}");
    assert_eq!(
        v["arms"][0]["estimate"]["conversations"], 40,
        "20 goals × 2 repeats"
    );
    assert_eq!(
        v["arms"][1]["paired_vs_first"][0], 20,
        "paired over the 20 goals"
    );
    // The verifier arm's runs record the setting and its calls.
    let run = out.join("goal-state_verify=1/r0");
    let meta = ugst::store::RunStore::open(&run).unwrap().meta().unwrap();
    assert_eq!(meta.settings.verify, 1);
    let ledger = ugst::store::RunStore::open(&run).unwrap().ledger().unwrap();
    assert!(ledger
        .iter()
        .any(|(_, e)| e.role == ugst_llm::CallRole::Verifier));
    // A second call finds the runs done and reports the same table.
    let again = ab();
    assert!(again.status.success());
    assert_eq!(String::from_utf8_lossy(&again.stdout), table);
    // Other flags over the same --out: refused, naming the flag, instead of old conversations
    // reported under the new settings.
    let changed = ab_with("6", &goals);
    assert_eq!(changed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&changed.stderr).contains("another --max-turns"));
    let fewer = dir.path().join("fewer.jsonl");
    let text = std::fs::read_to_string(&goals).unwrap();
    std::fs::write(&fewer, text.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
    let changed = ab_with("4", &fewer);
    assert_eq!(changed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&changed.stderr).contains("another --goals"));
    let bad = ugst()
        .args(["ab", "--modes", "prompt,chaos", "--goals"])
        .arg(&goals)
        .arg("--out")
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown mode 'chaos'"));
}

#[test]
fn eval_reports_termination_and_realism() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("run");
    run_cmd(
        &["--quiet", "--max-turns", "4", "--verify"],
        &cfg,
        Some(&goals),
        &run,
    )
    .assert()
    .success();
    let out = ugst()
        .args(["eval", "--json", "--config"])
        .arg(&cfg)
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &v["termination"];
    assert_eq!(t["finished"], 20);
    let total: u64 = t["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(total, 20);
    let sum: f64 = t["rates"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r.as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-9);
    let r = &v["realism"];
    assert!(r["first_turn_diversity"].as_f64().unwrap() > 0.0);
    assert!(r["mean_user_words"].as_f64().unwrap() > 1.0);
    assert_eq!(
        r["role_adherence"], 1.0,
        "the mock judge reads every user message as the customer's"
    );
    // The taxonomy: rule kinds agree with the termination classes; the judge ran on all 20.
    let f = &v["failures"];
    assert_eq!(
        (f["conversations"].as_u64(), f["judged"].as_bool()),
        (Some(20), Some(true))
    );
    let counts = |k: &str| f["counts"][k].as_u64().unwrap();
    let classes = |k: &str| t["counts"][k].as_u64().unwrap_or(0);
    assert_eq!(
        counts("poor_length_management"),
        classes("length_exhaustion")
    );
    assert_eq!(
        counts("wrongful_termination") + counts("misprioritization")
            - judged(f, "misprioritization"),
        classes("premature_stop") + classes("missed_stop")
    );
    let freq: f64 = f["frequency"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_f64().unwrap())
        .sum();
    let all: u64 = f["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert!(
        all > 0,
        "20 short conversations with 4 turns show some failure"
    );
    assert!((freq - 1.0).abs() < 1e-9);
    // Resuming with another verifier setting is refused.
    let o = ugst()
        .args(["run", "--resume", "--verify=3", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--verify 3 differs from the run's 2"));
}

/// How many failures of `kind` the judge (not a rule) found.
fn judged(f: &Value, kind: &str) -> u64 {
    f["per_conversation"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["failures"].as_array().unwrap())
        .filter(|x| x["kind"] == kind && x["source"] == "judge")
        .count() as u64
}

#[test]
fn eval_compares_several_runs_with_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run_cmd(&["--quiet", "--max-turns", "2"], &cfg, Some(&goals), &a)
        .assert()
        .success();
    run_cmd(
        &["--quiet", "--max-turns", "4", "--mode", "goal-state"],
        &cfg,
        Some(&goals),
        &b,
    )
    .assert()
    .success();
    let out = ugst()
        .args(["eval", "--json", "--label", "short", "--label", "long"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["label"], "short");
    for r in rows {
        let avg = &r["average"];
        assert!(avg["low"].as_f64().unwrap() <= avg["value"].as_f64().unwrap());
        assert!(avg["value"].as_f64().unwrap() <= avg["high"].as_f64().unwrap());
    }
    let md = ugst()
        .args(["eval", "--markdown"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&md.stderr).is_empty());
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.starts_with("| run | conv | Prof."), "{md}");
    // Flags the comparison does not use are named, not silently dropped.
    let w = ugst()
        .args(["eval", "--idf"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(w.status.success());
    assert!(String::from_utf8_lossy(&w.stderr).contains("warning: --idf not used"));
    assert!(md.contains("**"), "the best value per column is bold: {md}");
    let csv = ugst()
        .args(["eval", "--csv"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert_eq!(csv.lines().count(), 1 + 2 * 6, "{csv}");
    let bad = ugst()
        .args(["eval", "--label", "one"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// The arms advance a round of goals at a time: a comparison stopped part-way (here by a token
/// budget) has run no arm beyond the round the others reached, `--report-only` reports the
/// finished goals without running anything, and a resume completes every arm.
#[test]
fn ab_arms_advance_together_and_report_part_way() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let out = dir.path().join("ab");
    let ab = |extra: &[&str]| {
        ugst()
            .args([
                "ab",
                "--quiet",
                "--modes",
                "prompt,goal-state",
                "--max-turns",
                "3",
            ])
            .args([
                "--tracking",
                "batched",
                "--concurrency",
                "1",
                "--round",
                "2",
            ])
            .args(extra)
            .arg("--config")
            .arg(&cfg)
            .arg("--goals")
            .arg(&goals)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let early = ugst()
        .args(["ab", "--report-only", "--goals"])
        .arg(&goals)
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(early.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&early.stderr).contains("holds no run yet"));

    let stopped = ab(&["--budget-tokens", "40000"]);
    assert_eq!(
        stopped.status.code(),
        Some(2),
        "the budget should stop it part-way: {}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    let finished = |arm: &str| -> Vec<String> {
        ugst::store::RunStore::open(&out.join(arm).join("r0"))
            .unwrap()
            .conversations()
            .unwrap()
            .into_iter()
            .filter(|c| c.status == ugst::model::ConvStatus::Finished)
            .map(|c| c.goal.id)
            .collect()
    };
    let (p, g) = (finished("prompt"), finished("goal-state"));
    assert!(!p.is_empty() && p.len() < 20, "prompt arm: {p:?}");
    // No arm runs ahead of the other by more than the round in flight.
    assert!(p.len() <= g.len() + 2, "prompt {p:?} vs goal-state {g:?}");

    let part = ab(&["--report-only", "--budget-tokens", "1"]);
    assert!(
        part.status.success(),
        "{}",
        String::from_utf8_lossy(&part.stderr)
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ab.json")).unwrap()).unwrap();
    assert_eq!(v["arms"][0]["estimate"]["conversations"], p.len());
    if !g.is_empty() {
        let both = p.iter().filter(|id| g.contains(id)).count();
        assert_eq!(v["arms"][1]["paired_vs_first"][0], both);
    }
    assert_eq!(finished("prompt"), p, "--report-only ran something");

    let rest = ab(&[]);
    assert!(
        rest.status.success(),
        "{}",
        String::from_utf8_lossy(&rest.stderr)
    );
    assert_eq!(finished("prompt").len(), 20);
    assert_eq!(finished("goal-state").len(), 20);
}
