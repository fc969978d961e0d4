//! `ugst agree` on small hand-labelled fixtures whose figures were computed by hand
//! (tests/fixtures/agree/*.jsonl; the arithmetic is in the comments).

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agree")
        .join(name)
}

/// `ugst agree FLAGS --gold G --pred P` on two fixtures.
fn agree(flags: &[&str], gold: &str, pred: &str) -> std::process::Output {
    ugst()
        .arg("agree")
        .args(flags)
        .arg("--gold")
        .arg(fixture(gold))
        .arg("--pred")
        .arg(fixture(pred))
        .output()
        .unwrap()
}

fn agree_json(gold: &str, pred: &str) -> Value {
    let out = agree(&["--json"], gold, pred);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(v: &Value, want: f64) {
    assert!((v.as_f64().unwrap() - want).abs() < 1e-9, "{v} != {want}");
}

#[test]
fn tracking_agreement_kappa_and_confusion() {
    let v = agree_json("tracking_gold.jsonl", "tracking_pred.jsonl");
    // 15 gold labels, one without a prediction: 14 pairs, 10 agree.
    assert_eq!(v["missing"], 1);
    assert_eq!(v["unlabelled"], 1);
    assert_eq!(v["overall"]["n"], 14);
    close(&v["overall"]["agreement"], 10.0 / 14.0);
    // p_e = (6·6 + 2·2 + 3·2 + 2·4 + 1·0) / 14² = 54/196 → κ = (140 − 54) / (196 − 54) = 86/142.
    close(&v["overall"]["kappa"], 86.0 / 142.0);
    let c = &v["categories"];
    // Profile: gold A A A, pred A A M → p_o = 2/3 = p_e → κ = 0.
    close(&c["user_profile"]["agreement"], 2.0 / 3.0);
    close(&c["user_profile"]["kappa"], 0.0);
    // Objective: (I,I) (C,C) (At,C) → p_e = 1/9 + 2/9 → κ = (2/3 − 1/3) / (2/3) = 0.5.
    close(&c["task_objective"]["kappa"], 0.5);
    // Requirement: (I,C) (C,C) (I,I) → p_e = 4/9 → κ = (2/9) / (5/9) = 0.4.
    close(&c["requirement"]["kappa"], 0.4);
    // Preference: two pairs, both agree → κ = 1.
    close(&c["preference"]["kappa"], 1.0);
    assert_eq!(c["task_objective"]["confusion"]["ATTEMPTED"]["COMPLETE"], 1);
    assert_eq!(c["user_policy"]["confusion"]["MISALIGNED"]["ALIGNED"], 1);
    // The 4 pairs that disagree are listed one by one, and `--items` prints them.
    let d = v["disagreements"].as_array().unwrap();
    assert_eq!(d.len(), 14 - 10);
    assert!(d
        .iter()
        .any(|x| x["gold"] == "ATTEMPTED" && x["predicted"] == "COMPLETE"));
    let out = agree(&["--items"], "tracking_gold.jsonl", "tracking_pred.jsonl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("4 disagreement(s)"), "{text}");
    assert!(text.contains("ATTEMPTED → COMPLETE"), "{text}");
}

#[test]
fn decomposition_precision_recall_and_category_accuracy() {
    let v = agree_json("decomposition_gold.jsonl", "decomposition_pred.jsonl");
    // Gold 6 + 3 + 2 = 11 items; predicted 5 + 2 = 7; matched 5 (g1) + 1 (g2: "You need a
    // train" ~ "You need a train to Ely", F1 0.8; the requirement pair has F1 1/3 < 0.5).
    assert_eq!(v["gold_items"], 11);
    assert_eq!(v["pred_items"], 7);
    assert_eq!(v["matched"], 6);
    close(&v["precision"], 6.0 / 7.0);
    close(&v["recall"], 6.0 / 11.0);
    close(&v["f1"], 12.0 / 18.0);
    // Matched with the same category: profile, objective, centre requirement, train objective.
    close(&v["category_accuracy"], 4.0 / 6.0);
    assert_eq!(v["missing_goals"], serde_json::json!(["g3"]));
    assert_eq!(
        v["by_category"]["user_policy"],
        serde_json::json!([1, 1, 0])
    );
    assert_eq!(v["by_category"]["preference"], serde_json::json!([1, 1, 0]));
}

#[test]
fn mixed_or_broken_files_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    for (body, want) in [
        (
            "{\"id\": \"c1\", \"turn\": 1, \"statuses\": {\"obj-1\": \"ALIGNED\"}}\n",
            "task_objective, which cannot be ALIGNED",
        ),
        (
            "{\"id\": \"c1\", \"turn\": 1, \"statuses\": {\"zz-1\": \"ALIGNED\"}}\n",
            "does not name a category",
        ),
        ("{\"id\": \"c1\"}\n", "neither a tracking label line"),
        ("not json\n", "bad.jsonl:1: invalid JSON"),
    ] {
        std::fs::write(&bad, body).unwrap();
        let out = ugst()
            .args(["agree", "--gold"])
            .arg(fixture("tracking_gold.jsonl"))
            .arg("--pred")
            .arg(&bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{body}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{body}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = ugst()
        .args(["agree", "--gold"])
        .arg(fixture("tracking_gold.jsonl"))
        .arg("--pred")
        .arg(fixture("decomposition_pred.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("compare files of one kind"));
    // The text tables print too.
    let out = agree(&[], "tracking_gold.jsonl", "tracking_pred.jsonl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("overall") && text.contains("confusion, requirement"),
        "{text}"
    );
}

#[test]
fn exported_statuses_are_agree_input() {
    use ugst_mock::Faults;
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("run");
    run_cmd(&["--quiet", "--max-turns", "3"], &cfg, Some(&goals), &run)
        .assert()
        .success();
    let labels = dir.path().join("labels.jsonl");
    ugst()
        .args(["export", "--format", "statuses"])
        .arg(&run)
        .arg("--out")
        .arg(&labels)
        .assert()
        .success();
    let out = ugst()
        .args(["agree", "--json", "--gold"])
        .arg(&labels)
        .arg("--pred")
        .arg(&labels)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["overall"]["n"].as_u64().unwrap() > 20);
    close(&v["overall"]["agreement"], 1.0);
    close(&v["overall"]["kappa"], 1.0);
}
