//! The MultiWOZ Challenge goal generator: reproducible, validated against the database, with
//! reference decompositions that cover the goal text, and goals that run in the MultiWOZ
//! environment.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;
use ugst::generate::objectives::Kind;
use ugst::generate::{generate, personas, validate, Mix, Settings};
use ugst_envs::multiwoz::MultiWoz;
use ugst_mock::Faults;

fn mw_path() -> PathBuf {
    shared_data().join("multiwoz")
}

fn settings(n: usize, seed: u64) -> Settings {
    Settings {
        n,
        seed,
        mix: Mix::default(),
        max_objectives: 3,
    }
}

fn personas_default() -> (Vec<String>, Vec<String>) {
    (
        personas::parse("p", personas::DEFAULT_PROFILES).unwrap(),
        personas::parse("q", personas::DEFAULT_POLICIES).unwrap(),
    )
}

#[test]
fn every_objective_holds_against_the_database() {
    let db = MultiWoz::load(&mw_path()).unwrap();
    let (p, q) = personas_default();
    let set = generate(&db, &p, &q, &settings(150, 3));
    let specs: Vec<_> = set.iter().map(|g| g.spec.clone()).collect();
    let report = validate(&db, &specs);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.goals, 150);
    let mut kinds = std::collections::BTreeMap::new();
    for s in &specs {
        assert!((1..=3).contains(&s.objectives.len()));
        for o in &s.objectives {
            *kinds.entry(o.kind).or_insert(0) += 1;
            let hits = db.matching(&o.main.domain, &o.main.constraints).len();
            match o.kind {
                Kind::Normal => {
                    assert!(!db
                        .matching(&o.main.domain, &o.main.all_constraints())
                        .is_empty())
                }
                Kind::Impossible => assert_eq!(hits, 0, "{o:?}"),
                Kind::Conditional => {
                    assert!(hits > 0);
                    let alt = o.alternative.as_ref().unwrap();
                    assert!(!db.matching(&alt.domain, &alt.all_constraints()).is_empty());
                }
            }
        }
    }
    // The default mix yields all three kinds, and every domain appears.
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(report.counts.len(), 4);
    // Every category of sub-component is exercised somewhere in the set.
    // Template-only generation: every goal has its reference.
    let refs: Vec<_> = set.iter().map(|g| g.reference.as_ref().unwrap()).collect();
    assert!(refs
        .iter()
        .all(|r| !r.user_profile.is_empty() && !r.user_policy.is_empty()));
    assert!(refs
        .iter()
        .any(|r| r.task_objectives.iter().any(|o| !o.preferences.is_empty())));
    assert!(refs
        .iter()
        .all(|r| r.task_objectives.iter().all(|o| !o.requirements.is_empty())));
}

#[test]
fn the_reference_decomposition_covers_the_goal_text() {
    let db = MultiWoz::load(&mw_path()).unwrap();
    let (p, q) = personas_default();
    for g in generate(&db, &p, &q, &settings(40, 11)) {
        let r = g.reference.as_ref().unwrap();
        let mut parts: Vec<&String> = r.user_profile.iter().chain(&r.user_policy).collect();
        for o in &r.task_objectives {
            parts.push(&o.text);
            parts.extend(&o.requirements);
            parts.extend(&o.preferences);
        }
        let joined = parts
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            joined, g.goal.goal,
            "{}: the goal is exactly its parts",
            g.goal.id
        );
        r.validate().unwrap();
    }
}

#[test]
fn same_seed_same_set_and_prefixes_agree() {
    let db = MultiWoz::load(&mw_path()).unwrap();
    let (p, q) = personas_default();
    let a = generate(&db, &p, &q, &settings(30, 5));
    let b = generate(&db, &p, &q, &settings(30, 5));
    let c = generate(&db, &p, &q, &settings(10, 5));
    let d = generate(&db, &p, &q, &settings(30, 6));
    let text =
        |s: &[ugst::generate::Generated]| s.iter().map(|g| g.goal.goal.clone()).collect::<Vec<_>>();
    assert_eq!(text(&a), text(&b));
    assert_eq!(text(&a)[..10], text(&c)[..]);
    assert_ne!(text(&a), text(&d));
}

#[test]
fn mix_shares_are_checked_and_respected() {
    assert!("normal=0.5,bogus=0.5"
        .parse::<Mix>()
        .unwrap_err()
        .contains("unknown kind 'bogus'"));
    assert!("normal=2".parse::<Mix>().is_err());
    assert!("normal".parse::<Mix>().is_err());
    let only_impossible: Mix = "impossible=1".parse().unwrap();
    let db = MultiWoz::load(&mw_path()).unwrap();
    let (p, q) = personas_default();
    let set = generate(
        &db,
        &p,
        &q,
        &Settings {
            mix: only_impossible,
            ..settings(20, 1)
        },
    );
    assert!(set
        .iter()
        .all(|g| g.spec.objectives.iter().all(|o| o.kind == Kind::Impossible)));
}

#[test]
fn the_command_writes_reproducible_files_that_run_in_multiwoz() {
    let dir = tempfile::tempdir().unwrap();
    let gen = |out: &std::path::Path| {
        let o = ugst()
            .args([
                "goals", "generate", "multiwoz", "--n", "150", "--seed", "42", "--data",
            ])
            .arg(mw_path())
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let a = dir.path().join("a/goals.jsonl");
    let b = dir.path().join("b/goals.jsonl");
    let report = gen(&a);
    gen(&b);
    assert!(
        report.contains("150 goals") && report.contains("all hold"),
        "{report}"
    );
    for f in ["goals.jsonl", "goals.reference.jsonl", "goals.spec.jsonl"] {
        let x = std::fs::read(dir.path().join("a").join(f)).unwrap();
        let y = std::fs::read(dir.path().join("b").join(f)).unwrap();
        assert_eq!(x, y, "{f} is byte-identical for the same seed");
    }
    let refs = read_jsonl(&dir.path().join("a/goals.reference.jsonl"));
    assert_eq!(refs.len(), 150);
    assert!(refs[0]["state"]["task_objectives"].is_array());

    // The generated goals run against the MultiWOZ environment.
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let run = dir.path().join("runs/mwc");
    ugst()
        .args([
            "run",
            "--quiet",
            "--env",
            "multiwoz",
            "--limit",
            "12",
            "--max-turns",
            "3",
            "--data",
        ])
        .arg(mw_path())
        .arg("--config")
        .arg(&cfg)
        .arg("--goals")
        .arg(&a)
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let out = ugst().arg("eval").arg(&run).arg("--json").output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["conversations"], 12);
    assert_eq!(v["env"], "multiwoz");
    // Every generated goal carries its task, so every conversation is scored against it.
    assert_eq!(v["task_reward"]["scored"], 12, "{v}");
    assert!(v["task_reward"]["objectives_total"].as_u64().unwrap() >= 12);
    let specs = read_jsonl(&dir.path().join("a/goals.spec.jsonl"));
    let convs = ugst::store::RunStore::open(&run)
        .unwrap()
        .conversations()
        .unwrap();
    for (c, spec) in convs.iter().zip(&specs) {
        assert_eq!(
            c.goal.task.as_ref().unwrap()["objectives"],
            spec["objectives"]
        );
        let r = c.task_reward.as_ref().expect("scored");
        let objs = r.details["objectives"].as_array().unwrap();
        assert_eq!(objs.len(), spec["objectives"].as_array().unwrap().len());
        let met = objs.iter().filter(|o| o["met"] == true).count();
        assert_eq!(r.details["objectives_met"], met);
        assert_eq!(r.reward, f64::from(u8::from(met == objs.len())));
        assert!(objs.iter().all(|o| !o["why"].as_str().unwrap().is_empty()));
    }

    // A task the environment cannot read stops the run before it starts.
    let mut lines = read_jsonl(&a);
    lines.truncate(2);
    lines[1]["task"]["objectives"][0]["main"]["domain"] = "spa".into();
    let bad = dir.path().join("bad-task.jsonl");
    std::fs::write(
        &bad,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let o = ugst()
        .args(["run", "--quiet", "--env", "multiwoz", "--data"])
        .arg(mw_path())
        .arg("--config")
        .arg(&cfg)
        .arg("--goals")
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("runs/bad"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad-task.jsonl")
            && err.contains("goal mwc-002: task:")
            && err.contains("unknown domain 'spa'"),
        "{err}"
    );
    assert!(!dir.path().join("runs/bad").exists());

    // Bad inputs are input errors.
    for (args, want) in [
        (
            vec![
                "goals", "generate", "sgd", "--data", "x", "--out", "o.jsonl",
            ],
            "unknown goal source",
        ),
        (
            vec![
                "goals",
                "generate",
                "multiwoz",
                "--data",
                "/nonexistent",
                "--out",
                "o.jsonl",
            ],
            "no hotel_db.json",
        ),
        (
            vec![
                "goals", "generate", "multiwoz", "--n", "0", "--data", "x", "--out", "o.jsonl",
            ],
            "--n must be at least 1",
        ),
    ] {
        let o = ugst().args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn model_verbalisation_and_persona_generation_go_through_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let gen = |sub: &str, config: bool| {
        let out = dir.path().join(sub).join("goals.jsonl");
        let mut c = ugst();
        c.args([
            "goals", "generate", "multiwoz", "--n", "8", "--seed", "4", "--data",
        ])
        .arg(mw_path())
        .arg("--out")
        .arg(&out);
        if config {
            c.arg("--config").arg(&cfg);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let plain = gen("plain", false);
    let a = gen("a", true);
    let b = gen("b", true);
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    assert_ne!(
        read(&plain),
        read(&a),
        "the model rewrote the objective paragraphs"
    );
    assert_eq!(
        read(&a),
        read(&b),
        "cached calls make the model-written set reproducible"
    );
    let refs = |p: &std::path::Path| read(&p.with_file_name("goals.reference.jsonl"));
    // A reference must be true to its goal's text: goals the model rewrote have none (they kept
    // the template's sentences before, so `agree` penalised a decomposer for following the text);
    // goals whose call failed keep the template text and its reference.
    let texts = |p: &std::path::Path| -> std::collections::BTreeMap<String, String> {
        read(p)
            .lines()
            .map(|l| {
                let g: Value = serde_json::from_str(l).unwrap();
                (
                    g["id"].as_str().unwrap().into(),
                    g["goal"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let (plain_texts, a_texts) = (texts(&plain), texts(&a));
    let unchanged: Vec<&String> = a_texts
        .keys()
        .filter(|id| a_texts[*id] == plain_texts[*id])
        .collect();
    let a_refs: Vec<String> = refs(&a)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(a_refs.iter().collect::<Vec<_>>(), unchanged);
    assert_eq!(refs(&plain).lines().count(), 8);
    for line in read(&a).lines() {
        let g: Value = serde_json::from_str(line).unwrap();
        let spec_profile = g["goal"].as_str().unwrap();
        assert!(
            spec_profile.starts_with("You are "),
            "profile and policy stay verbatim: {spec_profile}"
        );
    }

    let personas = dir.path().join("personas");
    let o = ugst()
        .args(["goals", "personas", "--n", "12", "--seed", "3", "--config"])
        .arg(&cfg)
        .arg("--out-dir")
        .arg(&personas)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["profiles.jsonl", "policies.jsonl"] {
        let items = personas::parse(f, &read(&personas.join(f))).unwrap();
        assert_eq!(items.len(), 12, "{f}");
        let distinct: std::collections::HashSet<_> = items.iter().collect();
        assert_eq!(distinct.len(), 12);
    }
    // The generated files feed the generator.
    let o = ugst()
        .args(["goals", "generate", "multiwoz", "--n", "5", "--data"])
        .arg(mw_path())
        .arg("--profiles")
        .arg(personas.join("profiles.jsonl"))
        .arg("--out")
        .arg(dir.path().join("p/goals.jsonl"))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(read(&dir.path().join("p/goals.jsonl")).contains("(variant "));
}

#[test]
fn an_empty_domain_table_is_an_input_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    for e in std::fs::read_dir(shared_data().join("multiwoz/db")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, db.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(db.join("train_db.json"), "[]").unwrap();
    let out = ugst()
        .args(["goals", "generate", "multiwoz", "--n", "5", "--data"])
        .arg(&db)
        .arg("--out")
        .arg(dir.path().join("g.jsonl"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the train table(s) hold no records"), "{err}");
    assert!(!dir.path().join("g.jsonl").exists());
}
