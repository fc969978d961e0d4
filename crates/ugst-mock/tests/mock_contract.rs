//! What the mock model promises the tests, demos and benchmarks that run on it. Each promise is
//! checked through the requests the library really builds, so a change of layout or wording on
//! the library side that the mock no longer follows fails here, not silently in a benchmark.

use serde_json::Value;
use ugst::model::{Exchange, Goal, SimMode, STOP};
use ugst::simulate::{reasoning, user};
use ugst::track::{batched_request, component_request};
use ugst_llm::{ChatRequest, Sampling};
use ugst_mock::respond;
use ugst_state::{Category, Decomposition, GoalState, Status};

const GOAL: &str = "You are Maya, a nurse. You want to book a hotel in the centre for 3 nights. \
    It must have free wifi. You prefer a guesthouse. You never give out your phone number. \
    You also need a taxi to the station.";

fn content(req: &ChatRequest) -> String {
    respond(req).content.expect("the mock answers in words")
}

fn decomposition() -> Decomposition {
    let req = ugst::decompose::request(GOAL, Sampling::default());
    serde_json::from_str(&content(&req)).expect("a decomposition")
}

fn history(turns: usize) -> Vec<Exchange> {
    (1..=turns)
        .map(|i| Exchange {
            user: format!("message {i}"),
            agent: Some(format!("reply {i}")),
        })
        .collect()
}

#[test]
fn decompositions_keep_every_sentence_once() {
    let d = decomposition();
    d.validate().unwrap();
    let mut parts: Vec<String> = d.user_profile.clone();
    parts.extend(d.user_policy.clone());
    for o in &d.task_objectives {
        parts.push(o.text.clone());
        parts.extend(o.requirements.clone());
        parts.extend(o.preferences.clone());
    }
    let sentences = ugst::text::sentences(GOAL);
    for s in &sentences {
        assert_eq!(
            parts.iter().filter(|p| *p == s).count(),
            1,
            "{s:?} in {parts:?}"
        );
    }
    assert_eq!(parts.len(), sentences.len());
    assert_eq!(d.user_policy, ["You never give out your phone number."]);
    assert!(d.task_objectives.len() >= 2);
}

#[test]
fn every_schema_answer_has_the_schema_shape() {
    let state = GoalState::initial(&decomposition());
    let open: Vec<_> = state.open_components().collect();
    let h = history(1);
    let reqs = [
        ugst::decompose::request(GOAL, Sampling::default()),
        component_request(&state, open[0], &h, 1, &Sampling::default()),
        batched_request(&state, &open, &h, 1, &Sampling::default()),
    ];
    for req in reqs {
        let spec = req.schema.as_ref().unwrap();
        let v: Value = serde_json::from_str(&content(&req)).unwrap();
        let validator = jsonschema::validator_for(&spec.schema).unwrap();
        assert!(validator.is_valid(&v), "{}: {v}", spec.name);
    }
}

/// Share of open sub-components a batched judge moves forward at `turn`, over many goals.
fn progress_share(turn: usize) -> f64 {
    let (mut moved, mut total) = (0, 0);
    for g in 0..40 {
        let goal = format!("{GOAL} Goal number {g} wants a view.");
        let req = ugst::decompose::request(&goal, Sampling::default());
        let d: Decomposition = serde_json::from_str(&content(&req)).unwrap();
        let state = GoalState::initial(&d);
        let open: Vec<_> = state
            .open_components()
            .filter(|c| matches!(c.category, Category::TaskObjective | Category::Requirement))
            .collect();
        let req = batched_request(
            &state,
            &open,
            &history(turn),
            turn as u32,
            &Sampling::default(),
        );
        let v: Value = serde_json::from_str(&content(&req)).unwrap();
        for c in &open {
            total += 1;
            moved += (v[&c.id]["status"] != Status::Incomplete.as_str()) as usize;
        }
    }
    moved as f64 / total as f64
}

#[test]
fn tracker_verdicts_progress_with_the_turn() {
    let (first, third) = (progress_share(1), progress_share(3));
    assert!(
        third > first + 0.15,
        "objectives should move more often in later turns: turn 1 {first:.2}, turn 3 {third:.2}"
    );
}

#[test]
fn the_simulated_user_stops_after_a_few_turns() {
    let goal = Goal::new("g", GOAL);
    let mut h: Vec<Exchange> = Vec::new();
    for turn in 1..=8 {
        let req = user::request(&goal.goal, 8, &h, None);
        let said = user::parse(&content(&req));
        if said.stop {
            assert!((3..=5).contains(&turn), "stopped at turn {turn}");
            return;
        }
        assert!(!said.text.is_empty());
        h.push(Exchange {
            user: said.text,
            agent: Some("Noted.".into()),
        });
    }
    panic!("the mock user never sent {STOP}");
}

#[test]
fn reasoning_mode_answers_in_the_layout() {
    let state = GoalState::initial(&decomposition());
    let note = ugst::simulate::steer::steering(SimMode::Reasoning, GOAL, &state, 5);
    for turns in [0, 1, 4] {
        let req = user::request(GOAL, 8, &history(turns), note.as_deref());
        let r = reasoning::parse(&content(&req)).expect("the reasoning layout");
        assert!(!r.reply.is_empty());
    }
}

#[test]
fn an_unknown_schema_gets_an_answer_not_a_panic() {
    let req = ChatRequest::new(vec![ugst_llm::Message::user("x")])
        .with_schema("no_such_schema", serde_json::json!({"type": "object"}));
    assert!(respond(&req).content.is_some());
}

#[test]
fn the_verifier_flags_a_disclosed_contact_and_nothing_else() {
    let state = GoalState::initial(&decomposition());
    let check = |text: &str| -> Value {
        let draft = user::UserTurn {
            text: text.into(),
            stop: false,
        };
        let req =
            ugst::simulate::verify::request(&state, &history(1), &draft, 2, &Sampling::default());
        serde_json::from_str(&content(&req)).unwrap()
    };
    let leak = check("Sure, call me on 07700 900123 any time.");
    assert_eq!(leak["violations"][0]["id"], "pol-1", "{leak}");
    let fine = check("I would rather not give my phone number; please book the guesthouse.");
    assert_eq!(fine["violations"], serde_json::json!([]), "{fine}");
}
