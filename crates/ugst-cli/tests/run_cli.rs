//! End-to-end runs of the `ugst` binary against a real local OpenAI-compatible server.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
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
    // Nothing finished: the run is kept, and the exit code says so (it was 0 before).
    run_cmd(&["--quiet"], &cfg, Some(&goals), &run)
        .assert()
        .code(1);
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

#[test]
fn a_run_in_which_nothing_finished_fails_with_the_reasons() {
    let dir = tempfile::tempdir().unwrap();
    // Every structured answer is garbage: the decomposer gives up on every goal.
    let url = start_mock(Faults {
        garbage_rate: 1.0,
        ..Faults::default()
    });
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = |out: &str, extra: &[&str]| {
        ugst()
            .args(["run", "--quiet", "--max-turns", "2", "--config"])
            .arg(&cfg)
            .arg("--goals")
            .arg(&goals)
            .arg("--out")
            .arg(dir.path().join(out))
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run("dead", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no conversation finished: 20 of 20 failed"),
        "{err}"
    );
    assert!(err.contains("failures by stage: decomposer: 20"), "{err}");
    // The run itself is kept: its failures are data.
    assert!(dir.path().join("dead/run.sqlite").exists());

    // A share outside 0–1 is refused before anything runs.
    let out = run("bad-share", &["--max-failed-share", "1.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("bad-share").exists());
}

#[test]
fn max_failed_share_is_a_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    ugst()
        .args([
            "run",
            "--quiet",
            "--max-turns",
            "2",
            "--max-failed-share",
            "0",
            "--config",
        ])
        .arg(&cfg)
        .arg("--goals")
        .arg(&goals)
        .arg("--out")
        .arg(dir.path().join("ok"))
        .assert()
        .success();
}

/// The settings a run's store records.
fn stored_meta(run: &std::path::Path) -> Value {
    let conn = rusqlite::Connection::open(run.join("run.sqlite")).unwrap();
    let text: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'settings'", [], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn track_records_only_the_models_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let judge_dir = dir.path().join("judge");
    std::fs::create_dir_all(&judge_dir).unwrap();
    let judge_cfg = write_config(&judge_dir, &url, "");
    let text = std::fs::read_to_string(&judge_cfg).unwrap();
    std::fs::write(
        &judge_cfg,
        text.replace("model = \"mock\"", "model = \"judge-2\""),
    )
    .unwrap();
    let goals = demo_goals(dir.path());
    let (run, tracked) = (dir.path().join("a"), dir.path().join("b"));
    run_cmd(&["--quiet", "--max-turns", "2"], &cfg, Some(&goals), &run)
        .assert()
        .success();
    ugst()
        .args(["track", "--quiet", "--tracking", "batched", "--config"])
        .arg(&judge_cfg)
        .arg(&run)
        .arg("--out")
        .arg(&tracked)
        .assert()
        .success();
    let (before, after) = (stored_meta(&run), stored_meta(&tracked));
    // What made the conversations is what the source run recorded …
    assert_eq!(after["models"], before["models"]);
    assert_eq!(after["models"]["models"]["local"]["model"], "mock");
    // … and the re-tracking models are recorded apart.
    assert_eq!(after["retracked_with"]["tracker"]["model"], "judge-2");
    assert_eq!(after["retracked_with"]["judge"]["model"], "judge-2");
    assert_eq!(after["tracking"], "batched");
    assert!(before.get("retracked_with").is_none());
}

#[test]
fn no_command_replaces_a_users_file_or_run_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("run");
    run_cmd(&["--quiet", "--max-turns", "2"], &cfg, Some(&goals), &run)
        .assert()
        .success();
    let export = dir.path().join("x.jsonl");
    let export_cmd = |extra: &[&str]| {
        ugst()
            .arg("export")
            .arg(&run)
            .arg("--out")
            .arg(&export)
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(export_cmd(&[]).status.success());
    std::fs::write(&export, "mine").unwrap();
    let out = export_cmd(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --force to replace it"));
    assert_eq!(std::fs::read_to_string(&export).unwrap(), "mine");
    assert!(export_cmd(&["--force"]).status.success());
    assert_ne!(std::fs::read_to_string(&export).unwrap(), "mine");
    // The goal file, and a run folder named as the demo's output, are kept.
    let out = ugst()
        .args(["goals", "demo", "--out"])
        .arg(&goals)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = ugst().args(["demo", "--out"]).arg(&run).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds a run"));
    assert!(run.join("run.sqlite").exists());
    // A report over an existing file is refused before any work.
    let report = dir.path().join("r.html");
    std::fs::write(&report, "mine").unwrap();
    let out = ugst()
        .arg("report")
        .arg(&run)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "mine");
}

/// `--trials K`: each τ task K times under seeds SEED..SEED+K-1, and pass^k with its bootstrap
/// interval in eval.
#[test]
fn trials_run_each_task_k_times_and_eval_shows_pass_k() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let run = dir.path().join("run");
    let data = shared_data().join("tau_bench/retail");
    let out = ugst()
        .args([
            "run",
            "--quiet",
            "--env",
            "tau-retail",
            "--limit",
            "2",
            "--trials",
            "3",
        ])
        .args([
            "--seed",
            "40",
            "--max-turns",
            "3",
            "--tracking",
            "batched",
            "--config",
        ])
        .arg(&cfg)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let convs = ugst::store::RunStore::open(&run)
        .unwrap()
        .conversations()
        .unwrap();
    assert_eq!(convs.len(), 6);
    let mut seen: Vec<(String, Option<u32>, Option<u64>)> = convs
        .iter()
        .map(|c| (c.goal.id.clone(), c.goal.trial, c.goal.seed))
        .collect();
    seen.sort();
    assert_eq!(seen[0].0, "tau-retail/test/0#0");
    assert_eq!(
        seen.iter().map(|s| s.2).collect::<Vec<_>>(),
        [Some(40), Some(41), Some(42), Some(40), Some(41), Some(42)]
    );
    // Every trial of a task is scored against that task.
    assert!(convs.iter().all(|c| c.task_reward.is_some()));
    let out = ugst().arg("eval").arg(&run).arg("--json").output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &v["pass_k"];
    assert_eq!(p["max_k"], 3, "{v}");
    assert_eq!(p["pass_hat_ci"].as_array().unwrap().len(), 3, "{p}");
    let text = ugst().arg("eval").arg(&run).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("95% bootstrap interval over tasks"), "{text}");
    let bad = ugst()
        .args(["run", "--trials", "0", "--config"])
        .arg(&cfg)
        .args(["--goals", "x", "--out"])
        .arg(dir.path().join("z"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// `--rerun-misaligned N`: trials whose simulated user ended misaligned run again (new seed, up
/// to N times); every attempt stays in the run, pass^k counts each trial's last attempt.
#[test]
fn misaligned_trials_are_rerun_and_every_attempt_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let run = dir.path().join("run");
    let out = ugst()
        .args([
            "run",
            "--quiet",
            "--env",
            "tau-retail",
            "--limit",
            "20",
            "--trials",
            "2",
        ])
        .args(["--max-turns", "4", "--rerun-misaligned", "2", "--config"])
        .arg(&cfg)
        .arg("--data")
        .arg(shared_data().join("tau_bench/retail"))
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let convs = ugst::store::RunStore::open(&run)
        .unwrap()
        .conversations()
        .unwrap();
    let reruns: Vec<_> = convs.iter().filter(|c| c.goal.attempt.is_some()).collect();
    // The mock judge marks some profiles misaligned, the same way on every attempt (it ignores
    // seeds): such a trial is rerun the full 2 times.
    assert!(!reruns.is_empty(), "no trial was rerun: {err}");
    assert!(
        err.contains(&format!("reran {} trial attempt(s)", reruns.len())),
        "{err}"
    );
    for r in &reruns {
        assert!(r.goal.id.contains("@rerun"), "{}", r.goal.id);
        let first = convs
            .iter()
            .find(|c| c.goal.id == r.goal.trial_id())
            .unwrap();
        assert_ne!(r.goal.seed, first.goal.seed);
        assert!(!ugst::evaluate::simulator_aligned(
            first.final_state.as_ref().unwrap()
        ));
    }
    assert_eq!(convs.len(), 40 + reruns.len());
    let out = ugst().arg("eval").arg(&run).arg("--json").output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pass_k"]["reruns"], reruns.len(), "{}", v["pass_k"]);
    assert_eq!(v["pass_k"]["tasks"], 20);
}

/// `demo --out DIR --force` removes only a run's own files, under the run's lock, and refuses a
/// folder that holds anything else (review finding 2: it used to delete the whole folder).
#[test]
fn demo_force_removes_only_the_run_s_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let demo = |out: &Path| {
        ugst()
            .env("UGST_HOME", &home)
            .env("UGST_PYTHON", "/bin/false")
            .args(["demo", "--force", "--out"])
            .arg(out)
            .output()
            .unwrap()
    };
    // A run folder with the user's notes in it: refused, nothing removed.
    let kept = dir.path().join("kept");
    std::fs::create_dir_all(kept.join("notes")).unwrap();
    for f in [
        "run.sqlite",
        "run.lock",
        "report.html",
        "notes/important.txt",
    ] {
        std::fs::write(kept.join(f), "x").unwrap();
    }
    let out = demo(&kept);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("besides a run"), "{err}");
    for f in [
        "run.sqlite",
        "run.lock",
        "report.html",
        "notes/important.txt",
    ] {
        assert!(kept.join(f).exists(), "{f} was removed");
    }
    // A run another process is writing: refused under its lock.
    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("run.sqlite"), "x").unwrap();
    let held = std::fs::File::create(busy.join("run.lock")).unwrap();
    held.try_lock().unwrap();
    let out = demo(&busy);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("being written by another"));
    assert!(busy.join("run.sqlite").exists());
    drop(held);
    // A folder holding only a run: its files go, the folder stays.
    let only = dir.path().join("only");
    std::fs::create_dir_all(&only).unwrap();
    for f in ["run.sqlite", "run.sqlite-wal", "run.lock", "report.html"] {
        std::fs::write(only.join(f), "x").unwrap();
    }
    let _ = demo(&only);
    assert!(only.is_dir());
    assert!(!only.join("run.sqlite").exists());
    assert!(!only.join("report.html").exists());
}

/// A run in a folder the user cannot write is still read: `eval` and `export` open it
/// read-only, write nothing beside it, and a resume is refused with the reason (review finding
/// 10: reading needed write access and migrated the schema in place). As root the commands run
/// as `nobody` (root writes anywhere); otherwise the folder is made read-only.
#[test]
fn a_run_that_cannot_be_written_is_still_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("ro");
    let out = run_cmd(
        &["--quiet", "--max-turns", "2", "--limit", "2"],
        &cfg,
        Some(&goals),
        &run,
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
    if !root {
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let bin = assert_cmd::cargo::cargo_bin("ugst");
    let as_reader = |args: &[&str]| {
        let mut c = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(&bin);
            c
        } else {
            std::process::Command::new(&bin)
        };
        c.args(args).env("UGST_HOME", &home).output().unwrap()
    };
    let run_s = run.to_str().unwrap();
    let eval = as_reader(&["eval", run_s]);
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    assert!(String::from_utf8_lossy(&eval.stdout).contains("success/total"));
    let export = home.join("ro.jsonl");
    let ex = as_reader(&["export", run_s, "--out", export.to_str().unwrap()]);
    assert!(
        ex.status.success(),
        "{}",
        String::from_utf8_lossy(&ex.stderr)
    );
    let after: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "nothing was written beside the run");
    let resume = as_reader(&[
        "run",
        "--resume",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        run_s,
    ]);
    assert_eq!(
        resume.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&resume.stderr)
    );
    if !root {
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
