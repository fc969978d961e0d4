//! Runs against a local endpoint that injects every kind of fault at once: HTTP 500, 429 with
//! Retry-After, dropped connections, answers slower than the client's timeout, empty content,
//! content that is not the requested JSON, and tool calls naming unknown tools or with broken
//! arguments. Each run must complete with every goal either finished or failed with a reason, the
//! ledger must count the retries, and `ugst eval` must say how many were excluded and why.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use ugst_mock::Faults;

/// A config whose client gives up on an answer after 1 s (the slow faults take 1.5 s).
fn config(dir: &Path, url: &str) -> std::path::PathBuf {
    let p = dir.join("ugst.toml");
    std::fs::write(
        &p,
        format!(
            "[models.local]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmodel = \"mock\"\n\
             timeout_s = 1\nmax_retries = 6\n[cache]\nenabled = false\n"
        ),
    )
    .unwrap();
    p
}

/// The endpoint's `/stats` (plain HTTP/1.0 over a socket).
fn stats(url: &str) -> Value {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://").trim_end_matches("/v1");
    let mut sock = std::net::TcpStream::connect(host).unwrap();
    write!(sock, "GET /stats HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut text = String::new();
    sock.read_to_string(&mut text).unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("/stats: {e}: {text}"))
}

fn eval_json(run: &Path) -> Value {
    let o = ugst().arg("eval").arg(run).arg("--json").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Every goal once, each finished or failed with `stage: …` as its reason; eval's exclusions
/// match the store; returns (finished, failed, retries in the ledger).
fn check_bookkeeping(run: &Path, goals: usize) -> (u64, u64, u64) {
    let store = ugst::store::RunStore::open(run).unwrap();
    let convs = store.conversations().unwrap();
    assert_eq!(convs.len(), goals, "every goal is in the store once");
    let mut ids: Vec<_> = convs.iter().map(|c| c.goal.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), goals);
    let (mut finished, mut failed) = (0, 0);
    for c in &convs {
        match c.status {
            ugst::store::ConvStatus::Finished => finished += 1,
            ugst::store::ConvStatus::Failed => {
                failed += 1;
                let e = c.error.as_deref().unwrap_or("");
                eprintln!("{}: {e}", c.goal.id);
                assert!(
                    e.contains(':') && e.len() > 10,
                    "{}: a failed conversation needs its reason, got {e:?}",
                    c.goal.id
                );
            }
            ref s => panic!("{} ended as {s:?}", c.goal.id),
        }
    }
    let v = eval_json(run);
    assert_eq!(v["conversations"], finished, "{v}");
    assert_eq!(v["failed"], failed);
    assert_eq!(v["unfinished"], 0);
    let reasons: u64 = v["failure_reasons"]
        .as_object()
        .map(|m| m.values().map(|n| n.as_u64().unwrap()).sum())
        .unwrap_or(0);
    assert_eq!(reasons, failed, "every exclusion has a reason: {v}");
    let retries: u64 = v["costs"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["retries"].as_u64().unwrap())
        .sum();
    (finished, failed, retries)
}

#[test]
fn every_fault_at_once_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults {
        error_rate: 0.06,
        retry_after_s: 1,
        drop_rate: 0.04,
        slow_rate: 0.02,
        slow_ms: 1_500,
        empty_rate: 0.04,
        garbage_rate: 0.06,
        seed: 3,
        ..Faults::default()
    });
    let cfg = config(dir.path(), &url);
    let goals = demo_goals(dir.path());
    let run = dir.path().join("runs/faulty");
    run_cmd(
        &["--quiet", "--concurrency", "8", "--max-turns", "4"],
        &cfg,
        Some(&goals),
        &run,
    )
    .assert()
    .success();
    let (finished, failed, retries) = check_bookkeeping(&run, 20);
    assert!(
        finished > 0,
        "faults at these rates still let conversations finish"
    );
    let s = stats(&url);
    eprintln!("{finished} finished, {failed} failed, {retries} retries; endpoint: {s}");
    for kind in [
        "server_error",
        "rate_limited",
        "dropped",
        "slow",
        "empty",
        "garbage",
    ] {
        assert!(
            s["by_kind"][kind].as_u64().unwrap_or(0) > 0,
            "no {kind} fault was injected: {s}"
        );
    }
    let transport: u64 = ["server_error", "rate_limited", "dropped", "slow"]
        .iter()
        .map(|k| s["by_kind"][k].as_u64().unwrap())
        .sum();
    // Every transport fault costs a retry, unless it was the last allowed attempt of a call that
    // then failed (one per failed conversation at most).
    assert!(
        retries + failed >= transport,
        "{retries} retries + {failed} failures for {transport} transport faults"
    );
    // Bad content is repaired, not retried: the ledger marks repaired calls.
    let store = ugst::store::RunStore::open(&run).unwrap();
    let ledger = store.ledger().unwrap();
    assert!(ledger.iter().any(|(_, e)| e.repaired), "no repaired call");
}

#[test]
fn broken_tool_calls_reach_the_agent_as_errors() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults {
        error_rate: 0.05,
        bad_tool_rate: 0.3,
        seed: 5,
        ..Faults::default()
    });
    let cfg = config(dir.path(), &url);
    let run = dir.path().join("runs/retail");
    ugst()
        .args([
            "run",
            "--quiet",
            "--env",
            "tau-retail",
            "--split",
            "test",
            "--limit",
            "8",
            "--max-turns",
            "4",
            "--concurrency",
            "4",
            "--data",
        ])
        .arg(shared_data().join("tau_bench"))
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let (finished, _, _) = check_bookkeeping(&run, 8);
    assert!(finished > 0);
    assert!(stats(&url)["by_kind"]["bad_tool"].as_u64().unwrap() > 0);
    // The environment answered the broken calls with errors the agent could read.
    let convs = ugst::store::RunStore::open(&run)
        .unwrap()
        .conversations()
        .unwrap();
    let observations: Vec<String> = convs
        .iter()
        .flat_map(|c| c.turns.iter())
        .flat_map(|t| t.agent_messages.iter())
        .filter(|m| m.role == ugst_llm::Role::Tool)
        .map(|m| m.content_str().to_string())
        .collect();
    assert!(
        observations
            .iter()
            .any(|o| o.contains("unknown tool 'launch_rocket'")),
        "{observations:#?}"
    );
    assert!(
        observations
            .iter()
            .any(|o| o.starts_with("Error") && !o.contains("launch_rocket")),
        "broken arguments get an error too: {observations:#?}"
    );
}
