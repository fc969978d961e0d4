//! Structured output the way each kind of server takes it: every schema checked against
//! OpenAI's strict-mode rules, whole runs in strict and tools mode over HTTP (the mock holds
//! strict schemas to those rules, as OpenAI does), a server that refuses structured output
//! stopping the run with the setting to change, and `--no-cache`.

mod common;
use common::*;
use serde_json::Value;
use ugst::model::ConvStatus;
use ugst_mock::Faults;

#[test]
fn every_schema_passes_the_strict_checker_as_sent() {
    let out = ugst().args(["schemas", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), ugst::prompts::schemas::ALL.len());
    for r in &rows {
        assert_eq!(r["as_sent_strict"], serde_json::json!([]), "{r}");
    }
    // As written, the decomposition carries limits strict mode refuses: the checker sees them.
    let dec = rows
        .iter()
        .find(|r| r["schema"] == "goal_decomposition")
        .unwrap();
    assert!(dec["as_written"].to_string().contains("maxLength"), "{dec}");
    let table = ugst().arg("schemas").output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("0 break strict mode as sent"), "{text}");
}

/// A whole run (decompose, simulate, track, judge) in `mode` over HTTP against the mock.
fn run_in(mode: &str) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, &format!("structured = \"{mode}\""));
    let out = run_demo(dir.path(), &cfg, &[]);
    (dir, out)
}

#[test]
fn strict_and_tools_modes_run_whole_conversations() {
    for mode in ["strict", "tools"] {
        let (dir, out) = run_in(mode);
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let st = statuses(&dir.path().join("run"));
        assert_eq!(st.len(), 20);
        assert!(
            st.iter().all(|s| *s == ConvStatus::Finished),
            "{mode}: {st:?}"
        );
    }
}

#[test]
fn a_server_that_refuses_structured_output_stops_the_run_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults {
        refuse_response_format: true,
        ..Faults::default()
    });
    let cfg = write_config(dir.path(), &url, "structured = \"json_schema\"");
    let goals = demo_goals(dir.path());
    let out = ugst()
        .args([
            "run",
            "--quiet",
            "--max-turns",
            "2",
            "--concurrency",
            "1",
            "--config",
        ])
        .arg(&cfg)
        .arg("--goals")
        .arg(&goals)
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("structured = \"json_schema\"") && err.contains("\"mock\""),
        "{err}"
    );
    assert!(err.contains("--resume"), "{err}");
    // No conversation is marked failed: nothing is lost, --resume redoes them all.
    let st = statuses(&dir.path().join("run"));
    assert!(!st.contains(&ConvStatus::Failed), "{st:?}");
}

#[test]
fn no_cache_neither_reads_nor_writes_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = |out: &str, extra: &[&str]| {
        ugst()
            .args(extra)
            .args(["decompose", "--config"])
            .arg(&cfg)
            .arg("--goals")
            .arg(&goals)
            .arg("--out")
            .arg(dir.path().join(out))
            .output()
            .unwrap()
    };
    let out = run("a.jsonl", &["--no-cache"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("cache.sqlite").exists());
    let out = run("b.jsonl", &[]);
    assert!(out.status.success());
    assert!(dir.path().join("cache.sqlite").exists());
}

#[test]
fn structured_is_refused_where_it_does_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ugst.toml");
    std::fs::write(
        &cfg,
        "[models.m]\nprovider = \"mock\"\nstructured = \"strict\"\n",
    )
    .unwrap();
    let goals = demo_goals(dir.path());
    let out = ugst()
        .args(["decompose", "--config"])
        .arg(&cfg)
        .arg("--goals")
        .arg(&goals)
        .arg("--out")
        .arg(dir.path().join("d.jsonl"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("[models.m] structured"), "{err}");
}
