//! A run killed with SIGKILL at random moments, several times over, and then resumed ends with
//! exactly one conversation per goal, and the same conversations an uninterrupted run produces.

mod common;

use common::*;
use std::time::{Duration, Instant};
use ugst_mock::Faults;

fn finished(db: &std::path::Path) -> i64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row(
        "SELECT count(*) FROM conversations WHERE status = 'finished'",
        [],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

/// Milliseconds to wait before each kill: seeded from the clock unless `UGST_KILL_SEED` is set;
/// the seed is printed so a failure can be replayed.
fn kill_delays(n: usize) -> Vec<u64> {
    let seed = std::env::var("UGST_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
        });
    eprintln!("kill points from UGST_KILL_SEED={seed}");
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            100 + (x >> 33) % 1100
        })
        .collect()
}

#[test]
fn sigkill_then_resume_has_one_conversation_per_goal() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults {
        latency_ms: 40,
        ..Faults::default()
    });
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("runs/killed");
    let db = run.join("run.sqlite");
    let bin = assert_cmd::cargo::cargo_bin("ugst");
    // Start, then kill and resume several times, each kill at a random moment.
    let mut kills = 0;
    for (attempt, delay) in kill_delays(5).into_iter().enumerate() {
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["run", "--quiet", "--config"]).arg(&cfg);
        if attempt == 0 {
            cmd.args(["--mode", "goal", "--concurrency", "4", "--goals"])
                .arg(&goals);
        } else {
            cmd.arg("--resume");
        }
        let mut child = cmd
            .arg("--out")
            .arg(&run)
            .env("UGST_HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(delay) && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_some() {
            break; // it finished before this kill point
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let done = finished(&db);
        eprintln!("killed after {delay} ms with {done} conversation(s) finished");
        if done < 20 {
            kills += 1;
        }
    }
    assert!(
        kills >= 2,
        "the run was not killed mid-way at least twice (the test's timing is off)"
    );

    run_cmd(&["--quiet", "--resume"], &cfg, None, &run)
        .assert()
        .success();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(String, String, i64)> = conn
        .prepare("SELECT goal_id, status, turns FROM conversations")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 20);
    for (id, status, turns) in &rows {
        assert_eq!(status, "finished", "{id}");
        let idx: Vec<i64> = conn
            .prepare("SELECT idx FROM turns WHERE goal_id = ?1 ORDER BY idx")
            .unwrap()
            .query_map([id], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            idx,
            (1..=*turns).collect::<Vec<_>>(),
            "{id}: turns are contiguous and not duplicated"
        );
        let max_ledger_turn: i64 = conn
            .query_row(
                "SELECT coalesce(max(turn), 0) FROM ledger WHERE goal_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            max_ledger_turn <= *turns,
            "{id}: ledger rows from a killed attempt survived"
        );
    }

    // The same goals without interruption give the same conversations and states.
    let clean = dir.path().join("runs/clean");
    ugst()
        .args([
            "run",
            "--quiet",
            "--mode",
            "goal",
            "--concurrency",
            "4",
            "--config",
        ])
        .arg(&cfg)
        .arg("--goals")
        .arg(&goals)
        .arg("--out")
        .arg(&clean)
        .assert()
        .success();
    let a = export(&run, &[], &dir.path().join("a.jsonl"));
    let b = export(&clean, &[], &dir.path().join("b.jsonl"));
    assert_eq!(a, b);

    // Resuming a complete run does nothing and changes nothing.
    run_cmd(&["--quiet", "--resume"], &cfg, None, &run)
        .assert()
        .success();
    assert_eq!(export(&run, &[], &dir.path().join("c.jsonl")), a);
}

#[test]
fn resume_refuses_changed_settings() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("runs/r");
    run_cmd(&["--quiet", "--max-turns", "2"], &cfg, Some(&goals), &run)
        .assert()
        .success();
    let out = run_cmd(&["--resume", "--mode", "goal-state"], &cfg, None, &run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--mode goal-state differs from the run's prompt"));
}

#[test]
fn resume_keeps_the_run_s_models_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("runs/r");
    run_cmd(&["--quiet", "--max-turns", "2"], &cfg, Some(&goals), &run)
        .assert()
        .success();
    let err = |out: std::process::Output| {
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Without --config the resume would run on the embedded default model: refused.
    let out = ugst()
        .args(["run", "--resume", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(err(out).contains("pass --config with the run's config"));
    // Another config: refused, naming the flag.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_cfg = write_config(&other, &url, "");
    let text = std::fs::read_to_string(&other_cfg).unwrap();
    std::fs::write(
        &other_cfg,
        text.replace("model = \"mock\"", "model = \"m2\""),
    )
    .unwrap();
    let out = run_cmd(&["--resume"], &other_cfg, None, &run)
        .output()
        .unwrap();
    assert!(err(out).contains("--config names other models"));
    // Other data: refused.
    let out = run_cmd(&["--resume", "--data", "/tmp"], &cfg, None, &run)
        .output()
        .unwrap();
    assert!(err(out).contains("--data /tmp differs"));
    // The run's own config resumes.
    run_cmd(&["--resume", "--quiet"], &cfg, None, &run)
        .assert()
        .success();
}

#[test]
fn a_second_writer_of_one_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("runs/r");
    run_cmd(
        &["--quiet", "--max-turns", "2", "--retry-failed"],
        &cfg,
        Some(&goals),
        &run,
    )
    .assert()
    .success();
    // This process holds the run as a resuming `ugst` would …
    let held = ugst::store::RunStore::open_for_writing(&run).unwrap();
    let out = run_cmd(&["--resume", "--retry-failed"], &cfg, None, &run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is being written by another ugst process")
    );
    // … reading it needs no lock …
    ugst().arg("eval").arg(&run).assert().success();
    // … and once it lets go, the resume goes ahead.
    drop(held);
    run_cmd(&["--resume", "--quiet"], &cfg, None, &run)
        .assert()
        .success();
}
