//! The corpus of malformed inputs in `tests/bad_input/` (goal files and configs), plus a huge
//! line and broken τ/τ²/MultiWOZ data folders built here from `shared/data`: every one must stop
//! `ugst run` with exit code 2 and one clear message that names the place and the fix — no panic,
//! no run folder left behind.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn corpus(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bad_input")
        .join(rel)
}

/// Runs `ugst run ARGS --out <fresh dir>`; checks exit 2, no panic, no output, and that stderr
/// holds every `expect` fragment. Returns stderr.
fn refuses(args: &[&std::ffi::OsStr], expect: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = ugst()
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let shown = format!("ugst run {args:?}\n{err}");
    assert_eq!(o.status.code(), Some(2), "{shown}");
    assert!(!err.contains("panicked"), "{shown}");
    assert!(err.starts_with("error: "), "{shown}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "one message: {shown}"
    );
    for e in expect {
        assert!(err.contains(e), "expected {e:?} in: {shown}");
    }
    assert!(!out.exists(), "a run folder was left behind: {shown}");
    err
}

fn goals_case(file: &Path, expect: &[&str]) {
    let cfg = corpus("config/mock.toml");
    refuses(
        &[
            "--config".as_ref(),
            cfg.as_os_str(),
            "--goals".as_ref(),
            file.as_os_str(),
        ],
        expect,
    );
}

#[test]
fn malformed_goal_files() {
    let cases: &[(&str, &[&str])] = &[
        (
            "bad_json.jsonl",
            &["bad_json.jsonl:2:", "one complete JSON object"],
        ),
        (
            "missing_goal.jsonl",
            &["missing_goal.jsonl:1:", "missing field `goal`"],
        ),
        (
            "id_not_string.jsonl",
            &["id_not_string.jsonl:1:", "expected a string"],
        ),
        (
            "max_turns_not_number.jsonl",
            &["max_turns_not_number.jsonl:1:", "\"ten\""],
        ),
        (
            "duplicate_id.jsonl",
            &["duplicate_id.jsonl:2:", "duplicate id \"a\"", "line 1"],
        ),
        ("empty.jsonl", &["empty.jsonl:", "no goals found"]),
        (
            "blank_lines.jsonl",
            &["blank_lines.jsonl:", "no goals found"],
        ),
        (
            "invalid_utf8.jsonl",
            &[
                "invalid_utf8.jsonl:1:",
                "not valid UTF-8",
                "save the file as UTF-8",
            ],
        ),
        (
            "not_an_object.jsonl",
            &["not_an_object.jsonl:1:", "not a JSON object"],
        ),
    ];
    for (file, expect) in cases {
        goals_case(&corpus(&format!("goals/{file}")), expect);
    }
    // A 3 MB line (not kept in the repository).
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.jsonl");
    let goal = "x".repeat(3_000_000);
    std::fs::write(&huge, format!("{{\"id\": \"a\", \"goal\": \"{goal}\"}}\n")).unwrap();
    goals_case(&huge, &["huge.jsonl:1:", "bytes long", "one goal per line"]);
    // A goal file that does not exist.
    goals_case(&dir.path().join("nope.jsonl"), &["nope.jsonl"]);
}

#[test]
fn malformed_configs() {
    let goals = corpus("goals/ok.jsonl");
    let cases: &[(&str, &[&str])] = &[
        (
            "unknown_key.toml",
            &[
                "unknown_key.toml",
                "line 4",
                "unknown field `temprature`",
                "`temperature`",
            ],
        ),
        (
            "missing_model.toml",
            &["missing_model.toml", "[models.m] needs model ="],
        ),
        (
            "bad_url.toml",
            &[
                "bad_url.toml",
                "[models.m]",
                "not a URL",
                "http://127.0.0.1:8000/v1",
            ],
        ),
        (
            "unknown_role_model.toml",
            &[
                "unknown_role_model.toml",
                "tracker = \"big\"",
                "defined models: m",
            ],
        ),
        ("broken_toml.toml", &["broken_toml.toml", "line 1"]),
        (
            "unknown_provider.toml",
            &["unknown_provider.toml", "telepathy", "`openai`"],
        ),
        (
            "no_models.toml",
            &["no_models.toml", "no model is defined", "[models.NAME]"],
        ),
        (
            "dead_endpoint.toml",
            &[
                "dead_endpoint.toml",
                "[models.m]",
                "does not answer",
                "Is the server running",
            ],
        ),
    ];
    for (file, expect) in cases {
        let cfg = corpus(&format!("config/{file}"));
        refuses(
            &[
                "--config".as_ref(),
                cfg.as_os_str(),
                "--goals".as_ref(),
                goals.as_os_str(),
            ],
            expect,
        );
    }
}

/// Links every file of `from` into `to` except `skip`.
fn link_all(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if !skip.iter().any(|s| name == *s) {
            std::os::unix::fs::symlink(e.path(), to.join(&name)).unwrap();
        }
    }
}

fn env_case(env: &str, data: &Path, expect: &[&str]) {
    let cfg = corpus("config/mock.toml");
    refuses(
        &[
            "--config".as_ref(),
            cfg.as_os_str(),
            "--env".as_ref(),
            env.as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
            "--limit".as_ref(),
            "2".as_ref(),
        ],
        expect,
    );
}

#[test]
fn broken_benchmark_data() {
    let dir = tempfile::tempdir().unwrap();
    let tau = shared_data().join("tau_bench/retail");
    // τ-bench: a database file missing, a task without its instruction, a truncated JSON file.
    let no_orders = dir.path().join("no_orders/retail");
    link_all(&tau, &no_orders, &["orders.json"]);
    env_case(
        "tau-retail",
        no_orders.parent().unwrap(),
        &["orders.json: missing", "needs orders.json"],
    );
    let bad_task = dir.path().join("bad_task/retail");
    link_all(&tau, &bad_task, &["tasks_test.json"]);
    let mut tasks: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(tau.join("tasks_test.json")).unwrap())
            .unwrap();
    tasks[1].as_object_mut().unwrap().remove("instruction");
    std::fs::write(
        bad_task.join("tasks_test.json"),
        serde_json::to_string(&tasks).unwrap(),
    )
    .unwrap();
    env_case(
        "tau-retail",
        bad_task.parent().unwrap(),
        &["tasks_test.json: task 1", "'instruction'"],
    );
    let cut = dir.path().join("cut/retail");
    link_all(&tau, &cut, &["users.json"]);
    let users = std::fs::read_to_string(tau.join("users.json")).unwrap();
    std::fs::write(cut.join("users.json"), &users[..1000]).unwrap();
    env_case(
        "tau-retail",
        cut.parent().unwrap(),
        &["users.json: line", "invalid JSON"],
    );
    env_case(
        "tau-retail",
        &dir.path().join("nowhere"),
        &["does not exist", "pass --data"],
    );
    // τ²-bench: no tasks.json; tasks.json without its db.json.
    let tau2 = shared_data().join("tau2_bench/retail");
    let no_tasks = dir.path().join("no_tasks/retail");
    link_all(&tau2, &no_tasks, &["tasks.json"]);
    env_case(
        "tau2-retail",
        &no_tasks,
        &["no tasks.json found", "policy.md"],
    );
    let no_db = dir.path().join("no_db/retail");
    link_all(&tau2, &no_db, &[]);
    env_case("tau2-retail", &no_db, &["db.json: missing"]);
    // MultiWOZ: a folder without the databases.
    let mw = dir.path().join("multiwoz");
    std::fs::create_dir_all(&mw).unwrap();
    env_case(
        "multiwoz",
        &mw,
        &["no hotel_db.json found", "MultiWOZ db folder"],
    );
}
