//! Parity with the reference τ-bench tools: for every task of airline test, retail test, train
//! and dev, replaying the gold actions must return the exact observation strings the Python tools
//! returned, and change exactly the records they changed (compared structurally, int and float
//! kept apart). Fixtures: `shared/data/tau_bench/gold_replay/`.

mod common;

use common::shared_data;
use serde_json::Value;
use ugst_envs::tau::{Domain, Flavor, TauEnv};

fn parity(domain: Domain, split: &str) {
    let root = shared_data().join("tau_bench");
    let env = TauEnv::load(Flavor::Tau, domain, &root).unwrap_or_else(|e| {
        panic!(
            "cannot load τ-bench data from {} (set UGST_SHARED_DATA): {e}",
            root.display()
        )
    });
    let fixture = root.join(format!(
        "gold_replay/{}_{split}_gold_replay.json",
        domain.as_str()
    ));
    let text = std::fs::read_to_string(&fixture)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", fixture.display()));
    let gold: Value = serde_json::from_str(&text).unwrap();
    let tasks = env.tasks(split).unwrap();
    let fixtures = gold["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), fixtures.len(), "task count");
    let mut failures = Vec::new();
    for (task, fx) in tasks.iter().zip(fixtures) {
        let i = fx["task_index"].as_u64().unwrap();
        let replay = env.replay(task);
        let steps = fx["steps"].as_array().unwrap();
        assert_eq!(replay.steps.len(), steps.len(), "task {i}: step count");
        for (j, ((name, obs), want)) in replay.steps.iter().zip(steps).enumerate() {
            assert_eq!(name, want["name"].as_str().unwrap());
            if obs != want["observation"].as_str().unwrap() {
                failures.push(format!(
                    "task {i} step {j} ({name}):\n  got  {}\n  want {}",
                    &obs[..obs.len().min(400)],
                    &want["observation"].as_str().unwrap()
                        [..want["observation"].as_str().unwrap().len().min(400)]
                ));
            }
        }
        let changed = Value::Object(env.changed_records(&replay.db));
        if changed != fx["changed_records"] {
            failures.push(format!(
                "task {i}: changed records differ:\n  got  {}\n  want {}",
                changed, fx["changed_records"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatch(es) in {} {split}:\n{}",
        failures.len(),
        domain.as_str(),
        failures[..failures.len().min(5)].join("\n")
    );
}

#[test]
fn airline_test_matches_reference() {
    parity(Domain::Airline, "test");
}

#[test]
fn retail_test_matches_reference() {
    parity(Domain::Retail, "test");
}

#[test]
fn retail_train_matches_reference() {
    parity(Domain::Retail, "train");
}

#[test]
fn retail_dev_matches_reference() {
    parity(Domain::Retail, "dev");
}
