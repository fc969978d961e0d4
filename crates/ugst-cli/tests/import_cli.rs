//! `ugst import` on the shipped τ-bench log (200 conversations of a gpt-4o agent and a gpt-4o
//! user, 50 airline tasks × 4 trials): τ-bench's own pass^k figures come out, the log is tracked
//! through the mock endpoint like any run, and a malformed log is refused whole.

mod common;

use common::*;
use serde_json::Value;
use ugst_mock::Faults;

fn log() -> std::path::PathBuf {
    shared_data().join("tau_bench/historical_trajectories/gpt-4o-airline.json")
}

fn eval_json(run: &std::path::Path) -> Value {
    let out = ugst().arg("eval").arg(run).arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_tau_bench_log_imports_with_its_pass_k_and_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("imported");
    let out = ugst()
        .args(["import", "--format", "tau-bench", "--env", "tau-airline"])
        .arg(log())
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("imported 200 conversation(s) of 50 task(s)"),
        "{err}"
    );
    let v = eval_json(&run);
    // τ-bench's leaderboard figures for this log.
    let p = &v["pass_k"];
    assert_eq!(p["tasks"], 50);
    assert_eq!(p["max_k"], 4);
    for (k, want) in [0.420, 0.273, 0.220, 0.200].iter().enumerate() {
        let got = p["pass_hat"][k].as_f64().unwrap();
        assert!((got - want).abs() < 5e-4, "pass^{}: {got} vs {want}", k + 1);
    }
    assert!(p["pass_at"][3].as_f64().unwrap() >= p["pass_at"][0].as_f64().unwrap());
    assert!(
        p.get("alignment_pass_hat").is_none(),
        "not tracked yet: {p}"
    );
    assert_eq!(v["task_reward"]["scored"], 200);
    let ends = &v["task_reward"]["ends"];
    assert!(ends["simulator_stop"].as_u64().unwrap() > 100, "{ends}");
    assert!(ends["agent_transfer"].as_u64().unwrap() > 0, "{ends}");

    // Tracked through the mock endpoint: decomposed, every turn judged, end and reward kept.
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let tracked = dir.path().join("tracked");
    let started = std::time::Instant::now();
    ugst()
        .args(["track", "--quiet", "--tracking", "batched", "--config"])
        .arg(&cfg)
        .arg(&run)
        .arg("--out")
        .arg(&tracked)
        .assert()
        .success();
    eprintln!(
        "tracked 200 imported conversations through the mock in {:?}",
        started.elapsed()
    );
    let t = eval_json(&tracked);
    assert_eq!(t["conversations"], 200, "{t}");
    assert_eq!(
        t["pass_k"]["pass_hat"], p["pass_hat"],
        "re-tracking keeps the task rewards"
    );
    let a = t["pass_k"]["alignment_pass_hat"].as_array().unwrap();
    assert_eq!(a.len(), 4);
    assert!(
        a.windows(2).all(|w| w[0].as_f64() >= w[1].as_f64()),
        "{a:?}"
    );
    assert_eq!(t["pass_k"]["gated_pass_hat"].as_array().unwrap().len(), 4);
    // The text report names the figures.
    let text = ugst().arg("eval").arg(&tracked).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("pass^k over 50 task(s) (up to 4 trials each): k=1 0.420"),
        "{text}"
    );
    assert!(text.contains("gated pass^k"), "{text}");
    // So does the HTML report.
    let html = dir.path().join("report.html");
    ugst()
        .arg("report")
        .arg(&tracked)
        .arg("--out")
        .arg(&html)
        .assert()
        .success();
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(html.contains("pass^k over trials"));
    // pass^1 with its interval over tasks, then pass@1.
    let row = html
        .split("<tr><td>1</td><td>0.420 <span class=\"ci\">[")
        .nth(1)
        .expect("pass^k table: k=1 row with pass^1 0.420 and its interval");
    assert!(
        row.split("</tr>")
            .next()
            .unwrap()
            .contains("]</span></td><td>0.420</td>"),
        "pass^k table: {row:.200}"
    );
}

#[test]
fn a_malformed_log_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"task_id": 1, "reward": 1.0, "trial": 0, "info": {"task": {"instruction": "Fly."}}, "traj": []},
            {"task_id": 2, "reward": 0.0, "info": {"task": {}}, "traj": []},
            {"task_id": 3, "reward": "yes", "info": {"task": {"instruction": "x"}}, "traj": [{"role": "robot"}]}]"#,
    )
    .unwrap();
    let run = dir.path().join("run");
    let out = ugst()
        .args(["import"])
        .arg(&bad)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.json:record 1: info.task.instruction"),
        "{err}"
    );
    assert!(
        err.contains("bad.json:record 2: reward is missing or not a number"),
        "{err}"
    );
    assert!(!run.exists(), "nothing half-written");
}

#[test]
fn a_generic_chat_log_imports_and_tracks_with_its_own_decomposition() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("chats.jsonl");
    let with_d = serde_json::json!({
    "id": "c1", "goal": "You are Ana. You want a table for two tonight.", "reward": 1.0,
    "decomposition": {"user_profile": ["You are Ana."], "user_policy": [],
        "task_objectives": [{"text": "Book a table for two tonight.", "requirements": [], "preferences": []}]},
    "messages": [
        {"role": "system", "content": "You are a booking agent."},
        {"role": "user", "content": "Hi, a table for two tonight please."},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function",
            "function": {"name": "book", "arguments": "{\"people\": 2}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "booked"},
        {"role": "assistant", "content": "Booked for 8 pm."},
        {"role": "user", "content": "Great, thanks! END_CONVERSATION"}
    ]});
    let plain = serde_json::json!({"id": "c2", "goal": "You want a taxi.", "messages": [
        {"role": "user", "content": "I need a taxi."}, {"role": "assistant", "content": "Where to?"}]});
    std::fs::write(&log, format!("{with_d}\n{plain}\n")).unwrap();
    let run = dir.path().join("run");
    let out = ugst()
        .args(["import", "--format", "chat-jsonl"])
        .arg(&log)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let tracked = dir.path().join("tracked");
    ugst()
        .args(["track", "--quiet", "--tracking", "batched", "--config"])
        .arg(&cfg)
        .arg(&run)
        .arg("--out")
        .arg(&tracked)
        .assert()
        .success();
    let export = dir.path().join("x.jsonl");
    ugst()
        .arg("export")
        .arg(&tracked)
        .arg("--out")
        .arg(&export)
        .assert()
        .success();
    let lines = read_jsonl(&export);
    assert_eq!(lines.len(), 2);
    let c1 = &lines[0];
    assert_eq!(c1["end_reason"], "simulator_stop");
    assert_eq!(c1["task_reward"]["reward"], 1.0);
    assert_eq!(c1["turns"][0]["agent"], "Booked for 8 pm.");
    assert_eq!(
        c1["turns"][0]["agent_messages"].as_array().unwrap().len(),
        3
    );
    assert_eq!(c1["turns"][1]["user"], "Great, thanks!");
    // The log's decomposition was used as it is: exactly its two sub-components.
    let ids: Vec<&str> = c1["initial_state"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["prof-1", "obj-1"]);
    assert!(!lines[1]["initial_state"]["components"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(lines[1]["end_reason"], "max_turns");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"id\": \"a\", \"goal\": \"x\", \"messages\": [], \"reward\": 2}\nnot json\n",
    )
    .unwrap();
    let out = ugst()
        .args(["import", "--format", "chat-jsonl"])
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("b"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.jsonl:line 1: \"reward\" must be a number from 0 to 1"),
        "{err}"
    );
    assert!(err.contains("bad.jsonl:line 2: not JSON"), "{err}");
}

/// τ²-bench results in its directory layout (results.json + simulations/), built from τ²'s data
/// model: the agent greets first, tool calls are `{id, name, arguments: {}}`, a user calls a tool
/// of its own, one user is transferred, one run failed in the harness (excluded), two trials of
/// one task give pass^k.
#[test]
fn tau2_results_import_in_the_directory_layout() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("res");
    std::fs::create_dir_all(res.join("simulations")).unwrap();
    let scenario = |reason: &str| {
        serde_json::json!({"persona": "Busy and direct.", "instructions": {
            "domain": "retail", "reason_for_call": reason, "known_info": "You are Yusuf Rossi, zip 19122.",
            "unknown_info": "", "task_instructions": "Ask for a refund to the original card."}})
    };
    let meta = serde_json::json!({"info": {"num_trials": 2}, "tasks": [
        {"id": "0", "user_scenario": scenario("Cancel order #W2378156.")},
        {"id": "1", "user_scenario": scenario("Return the keyboard of order #W1.")}]});
    std::fs::write(res.join("results.json"), meta.to_string()).unwrap();
    let greet =
        serde_json::json!({"role": "assistant", "content": "Hi! How can I help you today?"});
    let sim = |id: &str, task: &str, trial: u32, reason: &str, reward: f64, msgs: Value| {
        let mut m = vec![greet.clone()];
        m.extend(msgs.as_array().unwrap().iter().cloned());
        serde_json::json!({"id": id, "task_id": task, "trial": trial, "termination_reason": reason,
            "reward_info": {"reward": reward, "db_check": {"db_match": reward == 1.0}},
            "messages": m})
    };
    let sims = [
        sim(
            "a",
            "0",
            0,
            "user_stop",
            1.0,
            serde_json::json!([
            {"role": "user", "content": "Cancel order #W2378156 please."},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "name": "get_order_details",
                "arguments": {"order_id": "#W2378156"}, "requestor": "assistant"}]},
            {"role": "tool", "id": "c1", "content": "{\"status\": \"pending\"}", "requestor": "assistant"},
            {"role": "assistant", "content": "Done, it is cancelled."},
            {"role": "user", "content": null, "tool_calls": [{"id": "u1", "name": "check_email",
                "arguments": {}, "requestor": "user"}]},
            {"role": "tool", "id": "u1", "content": "1 new message", "requestor": "user"},
            {"role": "user", "content": "Thanks! ###STOP###"}]),
        ),
        sim(
            "b",
            "0",
            1,
            "user_stop",
            0.0,
            serde_json::json!([
            {"role": "user", "content": "Cancel my order."},
            {"role": "assistant", "content": "YOU ARE BEING TRANSFERRED TO A HUMAN AGENT. PLEASE HOLD ON."},
            {"role": "user", "content": "###TRANSFER###"}]),
        ),
        sim(
            "c",
            "1",
            0,
            "max_steps",
            0.0,
            serde_json::json!([
            {"role": "user", "content": "I want to return a keyboard."},
            {"role": "assistant", "content": "Which order?"}]),
        ),
        sim(
            "d",
            "1",
            1,
            "infrastructure_error",
            0.0,
            serde_json::json!([]),
        ),
    ];
    for s in &sims {
        std::fs::write(
            res.join("simulations")
                .join(format!("{}.json", s["id"].as_str().unwrap())),
            s.to_string(),
        )
        .unwrap();
    }
    let run = dir.path().join("run");
    let out = ugst()
        .args(["import", "--format", "tau2"])
        .arg(&res)
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
    let by = |id: &str| convs.iter().find(|c| c.goal.id == id).unwrap();
    let a = by("0#0");
    assert!(
        a.goal
            .goal
            .contains("Reason for call: Cancel order #W2378156."),
        "{}",
        a.goal.goal
    );
    // The greeting is no turn; the user's own tool call stays with the turn it happened in.
    assert_eq!(a.turns.len(), 2);
    assert_eq!(a.turns[0].user, "Cancel order #W2378156 please.");
    assert!(a.turns[0].agent_messages.iter().any(|m| m
        .tool_calls
        .iter()
        .any(|c| c.function.name == "check_email")));
    assert_eq!(a.turns[1].user, "Thanks!");
    assert_eq!(a.end_reason, Some(ugst::model::EndReason::SimulatorStop));
    assert_eq!(a.task_reward.as_ref().unwrap().reward, 1.0);
    assert_eq!(
        by("0#1").end_reason,
        Some(ugst::model::EndReason::AgentTransfer)
    );
    assert_eq!(by("1#0").end_reason, Some(ugst::model::EndReason::MaxTurns));
    let d = by("1#1");
    assert_eq!(d.status, ugst::model::ConvStatus::Failed);
    assert!(d.error.as_deref().unwrap().contains("infrastructure_error"));

    // A broken simulation is refused whole, naming the file and what is wrong.
    std::fs::write(
        res.join("simulations/e.json"),
        r#"{"id": "e", "task_id": "9", "messages": []}"#,
    )
    .unwrap();
    let out = ugst()
        .args(["import", "--format", "tau2"])
        .arg(&res)
        .arg("--out")
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("e.json") && err.contains("task \"9\""),
        "{err}"
    );
    assert!(!dir.path().join("bad").exists());
}

/// The gpt-4o airline log as a τ² submission: τ-bench's own pass^1..4 as percentages, and the
/// alignment file beside it (no alignment yet: the log is not tracked).
#[test]
fn the_tau_bench_log_exports_as_a_tau2_submission() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    ugst()
        .args(["import", "--format", "tau-bench", "--env", "tau-airline"])
        .arg(log())
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let sub = dir.path().join("sub");
    let no_who = ugst()
        .args(["export", "--format", "tau2-submission"])
        .arg(&run)
        .arg("--out")
        .arg(&sub)
        .output()
        .unwrap();
    assert_eq!(no_who.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_who.stderr).contains("--model-name"));
    ugst()
        .args([
            "export",
            "--format",
            "tau2-submission",
            "--model-name",
            "gpt-4o",
        ])
        .args(["--organization", "OpenAI", "--email", "evals@example.com"])
        .arg(&run)
        .arg("--out")
        .arg(&sub)
        .assert()
        .success();
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(sub.join("submission.json")).unwrap())
            .unwrap();
    let r = &s["results"]["airline"];
    assert_eq!(
        [&r["pass_1"], &r["pass_2"], &r["pass_3"], &r["pass_4"]],
        [42.0, 27.33, 22.0, 20.0].map(Value::from).each_ref()
    );
    assert!(s["results"].get("retail").is_none());
    let a: Value =
        serde_json::from_str(&std::fs::read_to_string(sub.join("ugst_alignment.json")).unwrap())
            .unwrap();
    assert_eq!(a["tasks"], 50);
    assert_eq!(a["alignment_pass_hat"], Value::Null);
    assert_eq!(a["pass_hat_ci95"].as_array().unwrap().len(), 4);
}
