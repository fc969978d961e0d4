//! An API key never leaves the request header: a run made with a sentinel key (through a flaky
//! endpoint, debug logging on, one run where every call fails) is searched byte by byte — logs,
//! the run store, the cache, exports, eval output and the HTML report.

mod common;

use common::*;
use std::path::Path;
use ugst_mock::Faults;

const KEY_VAR: &str = "UGST_TEST_SECRET_KEY";
const SENTINEL: &str = "sk-ugst-sentinel-7d1c9a";

fn config(dir: &Path, url: &str, retries: u32) -> std::path::PathBuf {
    let p = dir.join(format!("ugst-{retries}.toml"));
    std::fs::write(
        &p,
        format!(
            "[models.local]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmodel = \"mock\"\n\
             api_key_env = \"{KEY_VAR}\"\ntimeout_s = 5\nmax_retries = {retries}\n\
             [cache]\npath = \"{}\"\n",
            dir.join("cache.sqlite").display()
        ),
    )
    .unwrap();
    p
}

/// Runs a command with the key in its environment and debug logs on; returns stdout + stderr.
fn run(cmd: &mut assert_cmd::Command) -> Vec<u8> {
    run_expecting(cmd, 0)
}

/// As [`run`], for a command that must exit with `code`.
fn run_expecting(cmd: &mut assert_cmd::Command, code: i32) -> Vec<u8> {
    let o = cmd
        .env(KEY_VAR, SENTINEL)
        .env("UGST_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    [o.stdout, o.stderr].concat()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn the_key_appears_in_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = start_mock(Faults {
        error_rate: 0.2,
        seed: 4,
        ..Faults::default()
    });
    let dead = start_mock(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let cfg = config(dir.path(), &flaky, 8);
    let goals = demo_goals(dir.path());
    let (a, b) = (dir.path().join("runs/a"), dir.path().join("runs/b"));
    let mut outputs = vec![run(&mut run_cmd(
        &["--max-turns", "3", "--mode", "goal-state"],
        &cfg,
        Some(&goals),
        &a,
    ))];
    // Every call fails here: the failure reasons are stored and printed (exit 1: nothing
    // finished).
    outputs.push(run_expecting(
        &mut run_cmd(
            &["--max-turns", "2"],
            &config(dir.path(), &dead, 1),
            Some(&goals),
            &b,
        ),
        1,
    ));
    outputs.push(run(ugst().arg("eval").arg(&a).arg(&b)));
    outputs.push(run(ugst()
        .args(["eval", "--json", "--config"])
        .arg(&cfg)
        .arg(&a)));
    for (fmt, file) in [("jsonl", "a.jsonl"), ("statuses", "a.statuses.jsonl")] {
        outputs.push(run(ugst()
            .arg("export")
            .arg(&a)
            .args(["--format", fmt, "--out"])
            .arg(dir.path().join(file))));
    }
    outputs.push(run(ugst()
        .args(["export", "--out"])
        .arg(dir.path().join("b.jsonl"))
        .arg(&b)));
    outputs.push(run(ugst()
        .arg("report")
        .arg(&a)
        .arg(&b)
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("report.html"))));
    outputs.push(run(ugst()
        .args(["track", "--tracking", "batched", "--config"])
        .arg(&cfg)
        .arg(&a)
        .arg("--out")
        .arg(dir.path().join("runs/a-batched"))));

    // The failing run did fail, so its error paths were exercised.
    let failed = ugst::store::RunStore::open(&b)
        .unwrap()
        .conversations()
        .unwrap();
    assert!(failed.iter().all(|c| c.error.is_some()));

    for (i, out) in outputs.iter().enumerate() {
        assert!(!out.is_empty(), "command {i} printed nothing");
        assert!(
            !contains(out, SENTINEL),
            "command {i} printed the key:\n{}",
            String::from_utf8_lossy(out)
        );
    }
    let mut files = 0;
    for entry in walkdir(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        assert!(
            !contains(&bytes, SENTINEL),
            "{} holds the key",
            entry.display()
        );
    }
    assert!(files >= 10, "only {files} files were written");
}

/// Every file under `root` (the config files name the variable, never the key).
fn walkdir(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Credentials written into `base_url` (user info) are never stored or printed:
/// the run's settings and every ledger row keep the URL without them (review finding 14: the
/// token was in `run.sqlite` ten times).
#[test]
fn credentials_in_the_base_url_are_never_stored() {
    const TOKEN: &str = "s3cret-url-token-91b2";
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let with_creds = url.replacen("http://", &format!("http://ugst:{TOKEN}@"), 1);
    let cfg = dir.path().join("url.toml");
    std::fs::write(
        &cfg,
        format!(
            "[models.local]\nprovider = \"openai\"\nbase_url = \"{with_creds}\"\nmodel = \"mock\"\n\
             [cache]\npath = \"{}\"\n",
            dir.path().join("cache.sqlite").display()
        ),
    )
    .unwrap();
    let goals = demo_goals(dir.path());
    let run_dir = dir.path().join("runs/u");
    let mut outputs = vec![run(&mut run_cmd(
        &["--max-turns", "2"],
        &cfg,
        Some(&goals),
        &run_dir,
    ))];
    outputs.push(run(ugst()
        .args(["export", "--out"])
        .arg(dir.path().join("u.jsonl"))
        .arg(&run_dir)));
    for (i, out) in outputs.iter().enumerate() {
        assert!(!contains(out, TOKEN), "command {i} printed the token");
    }
    for entry in walkdir(dir.path()) {
        if entry == cfg {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !contains(&bytes, TOKEN),
            "{} holds the token",
            entry.display()
        );
    }
}
