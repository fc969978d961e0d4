//! The hand-labelled tracking dev set (`data/tracking-devset/`): its files agree with each other
//! and with the τ-bench log they label (ids, turn counts, component ids, statuses valid for their
//! category, no reserved task), and the one-command path — import with gold decompositions, track
//! in delta mode, agree against a run directory — runs end to end through the mock endpoint.

mod common;

use common::*;
use std::collections::{BTreeSet, HashMap};
use ugst_mock::Faults;
use ugst_state::{Decomposition, GoalState, Status};

/// Tasks kept for an independent check of the tracker; the dev set must not touch them.
const RESERVED: [u32; 25] = [
    0, 1, 2, 3, 5, 7, 8, 10, 11, 13, 15, 17, 18, 21, 25, 27, 30, 31, 32, 34, 35, 39, 44, 45, 46,
];

fn devset() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/tracking-devset")
}

fn log() -> std::path::PathBuf {
    shared_data().join("tau_bench/historical_trajectories/gpt-4o-airline.json")
}

/// The log's records, and the one a conversation id (`task#trial`) names.
fn log_records() -> Vec<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(log()).unwrap()).unwrap()
}

fn record<'a>(log: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    let (task, trial) = id.split_once('#').unwrap();
    let (task, trial): (u64, u64) = (task.parse().unwrap(), trial.parse().unwrap());
    log.iter()
        .find(|r| r["task_id"] == task && r["trial"] == trial)
        .unwrap_or_else(|| panic!("{id} is not in the log"))
}

#[test]
fn the_labels_fit_their_decompositions_and_the_log() {
    let decs: HashMap<String, Decomposition> = read_jsonl(&devset().join("decompositions.jsonl"))
        .into_iter()
        .map(|v| {
            let d: Decomposition = serde_json::from_value(v["state"].clone()).unwrap();
            d.validate().unwrap();
            (v["id"].as_str().unwrap().to_string(), d)
        })
        .collect();
    let finals = read_jsonl(&devset().join("final_states.jsonl"));
    assert!(finals.len() >= 20, "at least 20 labelled conversations");
    let log = log_records();
    for f in &finals {
        let id = f["id"].as_str().unwrap();
        let task: u32 = id.split_once('#').unwrap().0.parse().unwrap();
        assert!(!RESERVED.contains(&task), "{id} is a reserved task");
        let rec = record(&log, id);
        let users = rec["traj"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .count();
        let turn = f["turn"].as_u64().unwrap() as usize;
        // The final turn is the log's last user message, or the one before a bare stop.
        assert!(
            turn == users || turn + 1 == users,
            "{id}: turn {turn}, {users} user messages"
        );
        let state = GoalState::initial(&decs[id]);
        let want: BTreeSet<&str> = state.components.iter().map(|c| c.id.as_str()).collect();
        let statuses = f["statuses"].as_object().unwrap();
        let got: BTreeSet<&str> = statuses.keys().map(String::as_str).collect();
        assert_eq!(
            got, want,
            "{id}: labelled ids differ from the decomposition's"
        );
        for c in &state.components {
            let s = Status::parse(statuses[&c.id].as_str().unwrap()).unwrap();
            assert!(
                c.category.rank(s).is_some(),
                "{id} {}: {s} is not a {}",
                c.id,
                c.category
            );
            let reason = f["reasons"][&c.id].as_str().unwrap_or("");
            assert!(!reason.is_empty(), "{id} {}: no reason", c.id);
            // A status that moved cites the turn that moved it.
            let cites = reason.split(|ch: char| !ch.is_alphanumeric()).any(|w| {
                w.strip_prefix('T')
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|d| d.is_ascii_digit()))
            });
            let moved = s != c.category.initial();
            let silent = reason.contains("never");
            assert!(
                !moved || cites || silent,
                "{id} {}: the reason cites no turn: {reason}",
                c.id
            );
        }
    }
}

#[test]
fn the_devset_tracks_in_delta_mode_and_agrees_from_a_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = read_jsonl(&devset().join("final_states.jsonl"))
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    let run = dir.path().join("imported");
    ugst()
        .args(["import", "--env", "tau-airline", "--only", &ids.join(",")])
        .arg("--decompositions")
        .arg(devset().join("decompositions.jsonl"))
        .arg(log())
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let tracked = dir.path().join("tracked");
    ugst()
        .args(["track", "--quiet", "--tracking", "delta", "--config"])
        .arg(&cfg)
        .arg(&run)
        .arg("--out")
        .arg(&tracked)
        .assert()
        .success();
    // The closing pass ran: its two rules found the withheld user id (16#0) and the charge over
    // the $100 cap (22#0) in the real log, and each last stored turn holds the final state.
    let convs = ugst::store::RunStore::open(&tracked)
        .unwrap()
        .conversations()
        .unwrap();
    for c in &convs {
        let last = &c.turns.last().expect("turns").state;
        let fin = c.final_state.as_ref().expect("tracked");
        assert_eq!(
            serde_json::to_value(last).unwrap(),
            serde_json::to_value(fin).unwrap(),
            "{}",
            c.goal.id
        );
    }
    let part = |goal: &str, id: &str| {
        let c = convs.iter().find(|c| c.goal.id == goal).unwrap();
        c.final_state.as_ref().unwrap().get(id).unwrap().clone()
    };
    for (goal, id) in [("16#0", "prof-1"), ("22#0", "pol-1")] {
        let p = part(goal, id);
        assert_eq!(p.status, Status::Misaligned, "{goal} {id}: {p:?}");
        assert!(p.reason.starts_with("closing rule"), "{goal} {id}: {p:?}");
    }
    // Gold decompositions were used: the decomposer was never called and the run's
    // decompositions agree with the labels exactly.
    let eval = ugst()
        .arg("eval")
        .arg(&tracked)
        .arg("--json")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert!(v["costs"].get("decomposer").is_none(), "{}", v["costs"]);
    let t = &v["tracker_cost"];
    assert_eq!(t["conversations"], ids.len());
    assert!(t["calls"].as_f64().unwrap() >= 1.0, "{t}");
    let dec = ugst()
        .args(["agree", "--json", "--gold"])
        .arg(devset().join("decompositions.jsonl"))
        .arg("--pred")
        .arg(&tracked)
        .output()
        .unwrap();
    assert!(
        dec.status.success(),
        "{}",
        String::from_utf8_lossy(&dec.stderr)
    );
    let d: serde_json::Value = serde_json::from_slice(&dec.stdout).unwrap();
    assert_eq!(d["f1"], 1.0, "{d}");
    assert_eq!(d["category_accuracy"], 1.0, "{d}");
    // Tracking agreement straight from the run directory, with κ and per-class recall.
    let out = ugst()
        .args(["agree", "--gold"])
        .arg(devset().join("final_states.jsonl"))
        .arg("--pred")
        .arg(&tracked)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("kappa success") && text.contains("recall of gold labels"),
        "{text}"
    );
    assert!(
        text.contains("0 gold label(s) without a prediction"),
        "{text}"
    );
    let eval = ugst().arg("eval").arg(&tracked).output().unwrap();
    let eval = String::from_utf8_lossy(&eval.stdout);
    assert!(eval.contains("tracker per conversation: "), "{eval}");
}

#[test]
fn import_refuses_unknown_ids_and_foreign_decompositions() {
    let dir = tempfile::tempdir().unwrap();
    let out = ugst()
        .args(["import", "--only", "4#0,99#7"])
        .arg(log())
        .arg("--out")
        .arg(dir.path().join("a"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--only: \"99#7\" is not a conversation of the log"),
        "{err}"
    );
    assert!(!dir.path().join("a").exists(), "nothing half-written");
    let decs = dir.path().join("d.jsonl");
    std::fs::write(
        &decs,
        "{\"id\": \"4#9\", \"state\": {\"user_profile\": [], \"user_policy\": [], \"task_objectives\": [{\"text\": \"Fly.\", \"requirements\": [], \"preferences\": []}]}}\nnot json\n",
    )
    .unwrap();
    let out = ugst()
        .args(["import", "--only", "4#0"])
        .arg("--decompositions")
        .arg(&decs)
        .arg(log())
        .arg("--out")
        .arg(dir.path().join("b"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("d.jsonl:line 1: \"4#9\" is not a conversation of the log"),
        "{err}"
    );
    assert!(
        err.contains("d.jsonl:line 2: not a {\"id\", \"state\"} line"),
        "{err}"
    );
}

#[test]
fn the_clause_decomposer_keeps_every_clause_once_and_matches_the_gold_splits() {
    let dir = tempfile::tempdir().unwrap();
    // The dev set's goals, from the log.
    let log = log_records();
    let mut goals = String::new();
    for f in read_jsonl(&devset().join("final_states.jsonl")) {
        let id = f["id"].as_str().unwrap();
        let rec = record(&log, id);
        goals += &(serde_json::json!({"id": id, "goal": rec["info"]["task"]["instruction"]})
            .to_string()
            + "\n");
    }
    let goals_file = dir.path().join("goals.jsonl");
    std::fs::write(&goals_file, goals).unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "decompose = \"clauses\"");
    let out = dir.path().join("d.jsonl");
    ugst()
        .args(["decompose", "--config"])
        .arg(&cfg)
        .arg("--goals")
        .arg(&goals_file)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    // Every word of every goal is in exactly one sub-component, in order.
    for (g, d) in read_jsonl(&goals_file).iter().zip(read_jsonl(&out)) {
        let d: Decomposition = serde_json::from_value(d["state"].clone()).unwrap();
        let st = GoalState::initial(&d);
        let mut got: Vec<String> = st
            .components
            .iter()
            .flat_map(|c| ugst::text::words(&c.text))
            .collect();
        let mut want = ugst::text::words(g["goal"].as_str().unwrap());
        got.sort();
        want.sort();
        assert_eq!(got, want, "{}", g["id"]);
    }
    let agree = ugst()
        .args(["agree", "--json", "--gold"])
        .arg(devset().join("decompositions.jsonl"))
        .arg("--pred")
        .arg(&out)
        .output()
        .unwrap();
    let a: serde_json::Value = serde_json::from_slice(&agree.stdout).unwrap();
    // The split alone decides precision and recall (the mock's kinds are keyword rules).
    assert!(a["f1"].as_f64().unwrap() >= 0.85, "{a}");
    assert!(a["precision"].as_f64().unwrap() >= 0.95, "{a}");
}

/// `ugst bench ablations` through the mock endpoint: the default row first (nothing changed
/// against itself), one row per switch asked for with exactly that switch off in its rules, every
/// row compared with the labels; an unknown switch is an input error naming the known ones.
#[test]
fn bench_ablations_tracks_the_set_once_per_switch_and_compares_with_the_labels() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &start_mock(Faults::default()), "");
    let (work, out) = (dir.path().join("work"), dir.path().join("ablations.json"));
    let args = |switches: &str| {
        let mut a: Vec<std::ffi::OsString> = vec!["bench".into(), "ablations".into()];
        for (k, v) in [
            ("--config", cfg.as_os_str()),
            ("--set", devset().as_os_str()),
            ("--log", log().as_os_str()),
            ("--work", work.as_os_str()),
            ("--out", out.as_os_str()),
        ] {
            a.push(k.into());
            a.push(v.into());
        }
        a.extend(["--limit", "2", "--quiet", "--switches", switches].map(Into::into));
        a
    };
    ugst().args(args("sweep,checks")).assert().success();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let rows = r["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default", "-sweep", "-checks"]);
    assert_eq!(r["conversation_ids"].as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["changed_vs_default"], 0);
    for row in rows {
        assert!(row["labels"].as_u64().unwrap() > 0, "{row}");
        assert_eq!(row["conversations"], 2, "{row}");
    }
    assert_eq!(rows[0]["config"]["sweep"], true);
    assert_eq!(rows[1]["config"]["sweep"], false);
    assert_eq!(rows[1]["config"]["checks"], true);
    assert_eq!(rows[2]["config"]["checks"], false);
    assert_eq!(rows[2]["config"]["sweep"], true);
    let bad = ugst().args(args("swep")).assert().code(2);
    let err = String::from_utf8_lossy(&bad.get_output().stderr).into_owned();
    assert!(
        err.contains("\"swep\" is not a tracker switch; known: evidence_gate"),
        "{err}"
    );
}

/// `ugst bench counterfactual --quick` through the mock endpoint: every unedited conversation and
/// every edit is tracked once and appended to the work folder's results; a second run tracks
/// nothing and scores the same; a run stopped part way resumes with only what is missing; other
/// `[tracking]` rules never mix into a folder's results.
#[test]
fn bench_counterfactual_tracks_each_edit_once_and_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let (work, out) = (dir.path().join("work"), dir.path().join("cf.json"));
    let lines = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/counterfactual/lines.jsonl");
    let args = |cfg: &std::path::Path| {
        let mut a: Vec<std::ffi::OsString> = vec!["bench".into(), "counterfactual".into()];
        for (k, v) in [
            ("--config", cfg.as_os_str()),
            ("--sets", devset().as_os_str()),
            ("--log", log().as_os_str()),
            ("--lines", lines.as_os_str()),
            ("--work", work.as_os_str()),
            ("--out", out.as_os_str()),
        ] {
            a.push(k.into());
            a.push(v.into());
        }
        a.extend(["--quick", "--quiet"].map(Into::into));
        a
    };
    let read = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
    };
    ugst().args(args(&cfg)).assert().success();
    let first = read();
    let edits = first["edits"].as_u64().unwrap();
    // Two conversations of the dev set, each with several kinds of edit.
    assert!(edits >= 8, "{first}");
    assert_eq!(first["tracked"], edits);
    let kinds: BTreeSet<&str> = first["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    for k in ["unsettle", "refuse", "contradict", "unrelated", "cut_short"] {
        assert!(kinds.contains(k), "{k} missing: {kinds:?}");
    }
    let row_edits: u64 = first["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["edits"].as_u64().unwrap())
        .sum();
    let (sens, spec) = (&first["sensitivity"], &first["specificity"]);
    assert_eq!(row_edits, edits);
    assert_eq!(
        sens["edits"].as_u64().unwrap() + spec["edits"].as_u64().unwrap(),
        edits
    );
    assert!(first["mean_cost"]["calls"].as_u64().unwrap() > 0);
    let results = work.join("results.jsonl");
    let stored = std::fs::read_to_string(&results).unwrap();
    // The two unedited conversations and every edit, once each.
    assert_eq!(stored.lines().count() as u64, edits + 2);
    // Again: nothing to track, the same figures.
    let again = ugst().args(args(&cfg)).assert().success();
    let err = String::from_utf8_lossy(&again.get_output().stderr).into_owned();
    assert!(err.contains("; 0 to track"), "{err}");
    assert_eq!(read()["sensitivity"], first["sensitivity"]);
    // Stopped part way, with its last line cut off: only the missing ones are tracked.
    let kept: Vec<&str> = stored.lines().take(3).collect();
    std::fs::write(&results, format!("{}\n{{\"id\": \"cut", kept.join("\n"))).unwrap();
    let resumed = ugst().args(args(&cfg)).assert().success();
    let err = String::from_utf8_lossy(&resumed.get_output().stderr).into_owned();
    assert!(
        err.contains(&format!("; {} to track (3 tracked before)", edits - 1)),
        "{err}"
    );
    assert_eq!(read()["sensitivity"], first["sensitivity"]);
    assert_eq!(read()["specificity"], first["specificity"]);
    // Other rules, same folder: refused, naming the way out.
    let other = write_config(dir.path(), &url, "[tracking]\nsweep = false\n");
    let bad = ugst().args(args(&other)).assert().code(2);
    let err = String::from_utf8_lossy(&bad.get_output().stderr).into_owned();
    assert!(err.contains("give a new --work"), "{err}");
}
