//! Scenario tests of the tracker with scripted judges (a yes-leaning judge, a judge that always
//! takes the first answer, ranking judges with a set lean), and the tests of its pure parts.

use super::checks::ask::check_request as ask_check_request;
use super::checks::questions::{checks, Check};
use super::checks::verdict;
use super::checks::verdict::softmax;
use super::closing::rules;
use super::delta::{evidence, propose::delta_request, sweep};
use super::render::PartView;
use super::*;
use crate::prompts::schemas;
use serde_json::json;
use ugst_llm::{ChatRequest, Sampling};
use ugst_state::{Category, Decomposition, ObjectiveSpec, Status};

fn cfg() -> TrackingConfig {
    TrackingConfig::default()
}
fn quoted_in(quote: &str, source: &str) -> bool {
    evidence::quoted_in(quote, source, &cfg())
}
fn parse_changes(v: &serde_json::Value, state: &GoalState, history: &[Exchange]) -> Judgement {
    super::parse_changes(v, state, history, &cfg())
}
fn decide(asked: &[(&Check, Vec<f64>)]) -> Option<(Status, f64)> {
    verdict::decide(asked, &cfg())
}
fn out_of_reach(category: Category, asked: &[(&Check, Vec<f64>)], rest: &[&Check]) -> bool {
    verdict::out_of_reach(category, asked, rest, &cfg())
}
fn clear_enough(category: Category, s: Status, p: f64) -> bool {
    verdict::clear_enough(category, s, p, &cfg())
}
fn sweep<'s>(
    open: &[&'s SubComponent],
    proposed: &[Update],
    last: &Exchange,
) -> Vec<(&'s SubComponent, String)> {
    sweep::sweep(open, proposed, last, &cfg())
}
fn check_request(
    state: &GoalState,
    c: &SubComponent,
    last: &Exchange,
    turn: u32,
    check: &Check,
    _sampling: &Sampling,
) -> ChatRequest {
    ask_check_request(&PartView::new(state, c), last, turn, check, &yes_judge())
}
fn withheld_identifier(c: &SubComponent, history: &[Exchange]) -> Option<String> {
    rules::withheld_identifier(c, history, &cfg())
}
fn in_users_words(c: &SubComponent, history: &[Exchange]) -> bool {
    rules::in_users_words(c, history, &cfg())
}
use crate::text::sentences;
use rules::charge_over_cap;

#[test]
fn both_modes_give_the_judge_the_objective_of_a_requirement() {
    let d = Decomposition {
        user_profile: vec![],
        user_policy: vec![],
        task_objectives: vec![ObjectiveSpec {
            text: "Book a hotel in the centre.".into(),
            requirements: vec!["For three nights.".into()],
            preferences: vec![],
        }],
    };
    let state = GoalState::initial(&d);
    let req = state.get("req-1.1").unwrap();
    let h = [Exchange {
        user: "hi".into(),
        agent: Some("hello".into()),
    }];
    let s = Sampling::default();
    for r in [
        component_request(&state, req, &h, 1, &s),
        batched_request(&state, &[req], &h, 1, &s),
    ] {
        let prompt = r.messages[0].content_str();
        assert!(
            prompt.contains("It belongs to the task objective: Book a hotel in the centre."),
            "{prompt}"
        );
    }
}

fn one_objective_state() -> GoalState {
    GoalState::initial(&Decomposition {
        user_profile: vec!["You are Ana.".into()],
        user_policy: vec![],
        task_objectives: vec![ObjectiveSpec {
            text: "Cancel the booking.".into(),
            requirements: vec![],
            preferences: vec![],
        }],
    })
}

#[test]
fn quotes_are_found_word_for_word_or_nearly() {
    let src = "I'm sorry, but the booking HX12 can't be cancelled under our rules.";
    assert!(quoted_in("the booking HX12 can't be cancelled", src));
    assert!(quoted_in("Agent: the booking HX12 can't be cancelled", src));
    assert!(quoted_in("THE BOOKING hx12, can't be cancelled!", src));
    // One word changed in a long quote is a copying slip, not a fabrication.
    assert!(quoted_in(
        "sorry but the booking HX12 can't be cancelled under the rules",
        src
    ));
    assert!(!quoted_in("the booking was cancelled", src));
    assert!(!quoted_in("booking", "rebooking"), "whole words only");
    assert!(!quoted_in("", src));
}

#[test]
fn delta_changes_need_evidence_in_the_judged_turn_from_the_right_speaker() {
    let state = one_objective_state();
    let h = [
        Exchange {
            user: "Cancel HX12, I am Ana.".into(),
            agent: Some("Done, HX12 is cancelled.".into()),
        },
        Exchange {
            user: "I am not Ana, I am Bo.".into(),
            agent: Some("Noted.".into()),
        },
    ];
    let v = json!({"changes": [
        // In the judged turn, from the user: accepted.
        {"id": "prof-1", "evidence": "I am not Ana", "status": "MISALIGNED"},
        // True, but said in an earlier turn: refused.
        {"id": "obj-1", "evidence": "HX12 is cancelled", "status": "COMPLETE"},
    ]});
    let j = parse_changes(&v, &state, &h);
    assert_eq!(j.updates.len(), 1);
    assert_eq!(j.updates[0].id, "prof-1");
    assert_eq!(j.refused.len(), 1);
    assert_eq!(j.refused[0].1, IgnoreCause::NoEvidence);
    // The profile moves on the user's words only, not the agent's.
    let v = json!({"changes": [{"id": "prof-1", "evidence": "Noted", "status": "MISALIGNED"}]});
    assert!(parse_changes(&v, &state, &h).updates.is_empty());
    // Refused changes land in the state's record with their cause.
    let mut s = state.clone();
    parse_changes(&v, &state, &h).apply(&mut s, 2);
    assert_eq!(s.get("prof-1").unwrap().status, Status::Aligned);
    assert_eq!(s.ignored.len(), 1);
    assert_eq!(s.ignored[0].cause, IgnoreCause::NoEvidence);
}

#[test]
fn a_preference_moves_only_on_a_message_that_names_some_of_it() {
    let state = state();
    let said = |user: &str| {
        let h = [Exchange {
            user: user.into(),
            agent: Some("Sure.".into()),
        }];
        let v = json!({"changes": [{"id": "pref-1.1", "evidence": user, "status": "ALIGNED"}]});
        parse_changes(&v, &state, &h).updates.len()
    };
    assert_eq!(said("A gift card is fine for the refund."), 1);
    assert_eq!(said("I need the passenger changed to my name."), 0);
}

#[test]
fn a_delta_prompt_starts_with_the_previous_turns_up_to_its_transcript() {
    let mut state = one_objective_state();
    let first = Exchange {
        user: "Please cancel booking HX12.".into(),
        agent: Some("Which passenger is it for?".into()),
    };
    let second = Exchange {
        user: "For Ana.".into(),
        agent: Some("Done, HX12 is cancelled.".into()),
    };
    let prompt = |state: &GoalState, history: &[Exchange], turn: u32| {
        let open: Vec<&SubComponent> = state.open_components().collect();
        let r = delta_request(state, &open, history, turn, &Sampling::default());
        r.messages[0].content_str().to_string()
    };
    let one = prompt(&state, std::slice::from_ref(&first), 1);
    state.apply_turn(1, &[]);
    let two = prompt(&state, &[first.clone(), second], 2);
    // Everything of turn 1's prompt through the agent's last reply is turn 2's start.
    let through =
        one.find("Which passenger is it for?").unwrap() + "Which passenger is it for?".len();
    assert_eq!(two[..through], one[..through]);
    // The parts' texts come before the transcript; after it only ids and statuses.
    let tail = &two[two.find("Done, HX12 is cancelled.").unwrap()..];
    assert!(tail.contains("[obj-1] INCOMPLETE") && !tail.contains("Cancel the booking."));
    assert!(two[..through].contains("Cancel the booking."));
}

#[test]
fn the_delta_schema_offers_only_forward_moves() {
    let mut state = one_objective_state();
    state.apply_turn(
        1,
        &[Update {
            id: "obj-1".into(),
            status: Status::Attempted,
            reason: String::new(),
        }],
    );
    let open: Vec<&SubComponent> = state.open_components().collect();
    let r = delta_request(
        &state,
        &open,
        &[Exchange {
            user: "hi".into(),
            agent: None,
        }],
        1,
        &Sampling::default(),
    );
    let schema = &r.schema.unwrap().schema;
    let variants = schema
        .pointer("/properties/changes/items/anyOf")
        .unwrap()
        .as_array()
        .unwrap();
    let of = |id: &str| {
        variants
            .iter()
            .find(|v| v.pointer("/properties/id/enum/0") == Some(&json!(id)))
            .map(|v| v["properties"]["status"]["enum"].clone())
    };
    assert_eq!(of("obj-1"), Some(json!(["COMPLETE"])));
    assert_eq!(of("prof-1"), Some(json!(["MISALIGNED"])));
    // A profile change is asked "goes against" with either answer first, then the
    // opposite question, whose answer that keeps the status is a "yes".
    let c = state.get("prof-1").unwrap();
    let last = Exchange {
        user: "hi".into(),
        agent: None,
    };
    let firsts: Vec<String> = checks(c.category)
        .iter()
        .map(|check| {
            let r = check_request(&state, c, &last, 1, check, &Sampling::default());
            r.schema.as_ref().unwrap().schema["properties"]["answer"]["enum"][0]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(firsts.len(), 4);
    assert!(firsts[0].starts_with("no") && firsts[1].starts_with("yes"));
    assert!(firsts[2].starts_with("yes") && firsts[3].starts_with("no"));
    let keeps = |check: &Check, answer: &str| check.verdict(answer).is_none();
    let opposite = &checks(c.category)[2];
    assert!(keeps(opposite, opposite.answers[0].0) && !keeps(opposite, opposite.answers[1].0));
}

/// [`decide`]'s status alone.
fn verdict(asked: &[(&Check, Vec<f64>)]) -> Option<Status> {
    decide(asked).map(|(s, _)| s)
}

/// Every probability vector of two or three answers on a grid of tenths.
fn simplex(n: usize) -> Vec<Vec<f64>> {
    let tenth = |i: u32| f64::from(i) / 10.0;
    match n {
        2 => (0..=10).map(|i| vec![tenth(i), 1.0 - tenth(i)]).collect(),
        _ => (0..=10)
            .flat_map(|i| (0..=10 - i).map(move |j| vec![tenth(i), tenth(j), tenth(10 - i - j)]))
            .collect(),
    }
}

#[test]
fn stopping_when_no_move_is_in_reach_never_changes_a_verdict() {
    for category in [
        Category::UserPolicy,
        Category::Preference,
        Category::TaskObjective,
    ] {
        let all = checks(category);
        let first: Vec<&Check> = all.iter().filter(|k| k.only_after.is_none()).collect();
        let grid = simplex(first[0].answers.len());
        // Every combination of answers on the grid (two answers or three).
        let mut combos: Vec<Vec<&Vec<f64>>> = vec![vec![]];
        for _ in &first {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    grid.iter().map(move |g| {
                        let mut c = c.clone();
                        c.push(g);
                        c
                    })
                })
                .collect();
        }
        let mut stopped = 0;
        for combo in &combos {
            let asked: Vec<(&Check, Vec<f64>)> = first
                .iter()
                .copied()
                .zip(combo.iter().map(|p| (*p).clone()))
                .collect();
            let moves = decide(&asked).is_some_and(|(s, p)| clear_enough(category, s, p));
            for k in 1..first.len() {
                if out_of_reach(category, &asked[..k], &first[k..]) {
                    stopped += 1;
                    assert!(
                        !moves,
                        "{category:?}: stopped after {k} but {combo:?} moves"
                    );
                }
            }
        }
        // The shortcut fires where it should: a break denied by the first question.
        if category == Category::UserPolicy {
            assert!(stopped > 0);
            let denied = [(first[0], vec![0.8, 0.2]), (first[1], vec![0.2, 0.8])];
            assert!(out_of_reach(category, &denied, &first[2..]));
            let leaning = [(first[0], vec![0.5, 0.5]), (first[1], vec![0.5, 0.5])];
            assert!(!out_of_reach(category, &leaning, &first[2..]));
        }
    }
}

#[test]
fn a_break_needs_a_clear_lean_and_other_moves_only_to_beat_staying() {
    use Category::*;
    assert!(!clear_enough(UserPolicy, Status::Misaligned, 0.63));
    assert!(!clear_enough(UserProfile, Status::Misaligned, 0.51));
    assert!(clear_enough(UserPolicy, Status::Misaligned, 0.75));
    assert!(clear_enough(Preference, Status::Aligned, 0.52));
    assert!(clear_enough(TaskObjective, Status::Complete, 0.47));
    // Written answers weigh in quarters: three of four "breaks" still move, two do not.
    let against = &checks(UserPolicy)[0];
    let consistent = &checks(UserPolicy)[2];
    let (breaks, stays) = (vec![0.0, 1.0], vec![1.0, 0.0]);
    let asked = [
        (against, breaks.clone()),
        (against, breaks.clone()),
        (consistent, breaks.clone()),
        (consistent, stays.clone()),
    ];
    let (s, p) = decide(&asked).unwrap();
    assert_eq!((s, p), (Status::Misaligned, 0.75));
    assert!(clear_enough(UserPolicy, s, p));
    let two = [
        (against, breaks.clone()),
        (against, breaks),
        (consistent, stays.clone()),
        (consistent, stays),
    ];
    assert_eq!(decide(&two), None);
}

#[test]
fn decide_weighs_answer_orders_then_questions_so_leans_cancel() {
    let policy = checks(Category::UserPolicy);
    let with = |p: [[f64; 2]; 4]| -> Vec<(&Check, Vec<f64>)> {
        policy.iter().zip(p).map(|(c, p)| (c, p.to_vec())).collect()
    };
    // Orders: "against" no-first, yes-first; "consistent" yes-first, no-first.
    // A judge that says "yes" to everything, more so when it comes first: "against" gives
    // P(break) 0.6 and 0.8, "consistent" 0.3 and 0.1 — it cancels, nothing moves.
    let yes_leaning = with([[0.4, 0.6], [0.8, 0.2], [0.7, 0.3], [0.1, 0.9]]);
    assert_eq!(verdict(&yes_leaning), None);
    // A judge that sees the break on both questions moves the policy.
    let sees_it = with([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.3, 0.7]]);
    assert_eq!(verdict(&sees_it), Some(Status::Misaligned));
    // An exact tie keeps the status.
    let torn = with([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]);
    assert_eq!(verdict(&torn), None);
    // Objectives: three outcomes; the likeliest wins, a tie of two moves takes the smaller.
    let objective = checks(Category::TaskObjective);
    let asked =
        |a: [f64; 3], b: [f64; 3]| vec![(&objective[0], a.to_vec()), (&objective[1], b.to_vec())];
    // Second order reversed: [done, blocked, not settled].
    assert_eq!(
        verdict(&asked([0.2, 0.5, 0.3], [0.3, 0.4, 0.3])),
        Some(Status::Attempted)
    );
    assert_eq!(
        verdict(&asked([0.1, 0.2, 0.7], [0.6, 0.3, 0.1])),
        Some(Status::Complete)
    );
    assert_eq!(verdict(&asked([0.6, 0.2, 0.2], [0.2, 0.2, 0.6])), None);
    assert_eq!(
        verdict(&asked([0.0, 0.5, 0.5], [0.5, 0.5, 0.0])),
        Some(Status::Attempted)
    );
    assert_eq!(softmax(&[0.0, 0.0]), vec![0.5, 0.5]);
    let p = softmax(&[-1.0, -3.0]);
    assert!((p[0] - 0.8808).abs() < 1e-3 && (p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
}

#[tokio::test]
async fn a_backend_that_ranks_answers_gives_probabilities_and_one_that_writes_gives_certainty() {
    // A ranking backend (as the embedded model): the log-probability of each candidate.
    let ranking = ScriptedBackend::new("ranks", |req: &ChatRequest| {
        assert_eq!(req.score.len(), 2, "the candidates travel with the request");
        assert!(req.score[0].contains("\"answer\""), "{:?}", req.score);
        Ok(ChatResponse {
            scores: vec![-0.2, -1.8],
            ..ChatResponse::text(req.score[0].clone())
        })
    });
    let writing = ScriptedBackend::new("writes", |_: &ChatRequest| {
        Ok(ChatResponse::text(json!({"answer": "b"}).to_string()))
    });
    let ledger = Ledger::new();
    for (backend, expect) in [(ranking, [0.832, 0.168]), (writing, [0.0, 1.0])] {
        let mut t = yes_judge();
        t.role.llm = Llm::new(Arc::new(backend), Arc::new(Cache::disabled()));
        let req = ChatRequest::new(vec![ugst_llm::Message::user("a or b?")])
            .with_schema(schemas::CHANGE_CHECK, schemas::change_check(&["a", "b"]));
        let p = t
            .answer_probs(&ledger, req, &["a", "b"])
            .await
            .unwrap()
            .unwrap();
        assert!(
            (p[0] - expect[0]).abs() < 1e-3 && (p[1] - expect[1]).abs() < 1e-3,
            "{p:?}"
        );
    }
}

use std::sync::Arc;
use ugst_llm::{Cache, ChatResponse, Llm, ScriptedBackend};

fn state() -> GoalState {
    GoalState::initial(&Decomposition {
        user_profile: vec![
            "You are ana_lopez_1234.".into(),
            "You are in a hurry.".into(),
        ],
        user_policy: vec![],
        task_objectives: vec![ObjectiveSpec {
            text: "You want to cancel your flights from MCO to CLT.".into(),
            requirements: vec!["And get a refund.".into()],
            preferences: vec!["You prefer a gift card refund.".into()],
        }],
    })
}

/// A judge that proposes only a profile change and answers every check with its first
/// "yes" answer, or else "blocked": a yes-leaning small model.
fn yes_judge() -> Tracker {
    judge(|answers| {
        answers
            .iter()
            .find(|a| a.starts_with("yes") || a.starts_with("blocked"))
            .unwrap_or(&answers[0])
            .clone()
    })
}

/// A judge that proposes only a profile change and answers every check with `pick`.
fn judge(pick: fn(&[String]) -> String) -> Tracker {
    let backend = ScriptedBackend::new("yes", move |req: &ChatRequest| {
        let schema = req.schema.as_ref().expect("tracker calls carry a schema");
        let answer = match schema.name.as_str() {
            schemas::TURN_CHANGES => json!({"changes": [
                {"id": "prof-1", "evidence": "I need to cancel", "status": "MISALIGNED"},
                {"id": "prof-2", "evidence": "I need to cancel", "status": "MISALIGNED"}]}),
            _ => {
                let answers = schema.schema["properties"]["answer"]["enum"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect::<Vec<_>>();
                json!({"answer": pick(&answers)})
            }
        };
        Ok(ChatResponse::text(answer.to_string()))
    });
    let llm = Llm::new(Arc::new(backend), Arc::new(Cache::disabled()));
    Tracker::new(
        RoleModel {
            llm,
            sampling: Sampling::default(),
            model: "yes".into(),
            decompose: crate::model::DecomposeMethod::Free,
        },
        TrackingMode::Delta,
        TrackingConfig::default(),
    )
}

#[tokio::test]
async fn a_refusal_the_judge_passed_over_is_swept_and_a_yes_leaning_judge_flips_no_profile() {
    let mut st = state();
    let history = [Exchange {
        user: "Hi, I need to cancel my flights and get a refund, please.".into(),
        agent: Some(
            "I am sorry, but basic economy flights cannot be cancelled for a refund.".into(),
        ),
    }];
    let ledger = Ledger::new();
    let judged = yes_judge()
        .judge_turn(&ledger, &st, &history, 1)
        .await
        .unwrap();
    judged.apply(&mut st, 1);
    let status = |id: &str| st.get(id).unwrap().status;
    // The objective was never proposed; the sweep checked it and the check said blocked.
    assert_eq!(status("obj-1"), Status::Attempted);
    // Its requirement moves with it, in the second round.
    assert_eq!(status("req-1.1"), Status::Attempted);
    // "Goes against" said yes in both orders, but so did "is it consistent": no flip.
    assert_eq!(status("prof-2"), Status::Aligned);
    let cause = |id: &str| st.ignored.iter().find(|i| i.id == id).map(|i| i.cause);
    assert_eq!(cause("prof-2"), Some(IgnoreCause::NotConfirmed));
    // The user id is left to the closing rule: not even checked.
    assert_eq!(status("prof-1"), Status::Aligned);
    assert_eq!(cause("prof-1"), Some(IgnoreCause::ByRule));
    // A preference the user's message does not speak of is not even asked about.
    assert_eq!(status("pref-1.1"), Status::Misaligned);
}

/// How many times a judge that proposes obj-1 COMPLETE and leans to "done" by `gap` nats
/// (ranking) or writes "done" (`gap` = None) is asked "What does this turn show?" (about
/// obj-1, then about its requirement, which the objective's move brings up), and the
/// objective's status after the turn.
async fn what_asked(gap: Option<f64>) -> (usize, Status) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let asked = Arc::new(AtomicUsize::new(0));
    let count = asked.clone();
    let backend = ScriptedBackend::new("leans", move |req: &ChatRequest| {
        let schema = req.schema.as_ref().expect("tracker calls carry a schema");
        if schema.name == schemas::TURN_CHANGES {
            let ch =
                json!({"id": "obj-1", "evidence": "cancelled both flights", "status": "COMPLETE"});
            return Ok(ChatResponse::text(json!({"changes": [ch]}).to_string()));
        }
        let prompt: String = req.messages.iter().map(|m| m.content_str()).collect();
        if prompt.contains("What does this turn show") {
            count.fetch_add(1, Ordering::SeqCst);
        }
        let good = |c: &String| c.contains("\"done") || c.contains("\"yes");
        let pick = req.score.iter().find(|c| good(c)).unwrap_or(&req.score[0]);
        Ok(match gap {
            Some(g) => ChatResponse {
                scores: req
                    .score
                    .iter()
                    .map(|c| if good(c) { 0.0 } else { -g })
                    .collect(),
                ..ChatResponse::text(pick.clone())
            },
            None => ChatResponse::text(pick.clone()),
        })
    });
    let mut t = yes_judge();
    t.role.llm = Llm::new(Arc::new(backend), Arc::new(Cache::disabled()));
    let mut st = state();
    let history = [Exchange {
        user: "Please cancel my flights from MCO to CLT.".into(),
        agent: Some("I have cancelled both flights from MCO to CLT.".into()),
    }];
    let ledger = Ledger::new();
    t.judge_turn(&ledger, &st, &history, 1)
        .await
        .unwrap()
        .apply(&mut st, 1);
    (
        asked.load(Ordering::SeqCst),
        st.get("obj-1").unwrap().status,
    )
}

#[tokio::test]
async fn a_reversed_answer_order_is_left_out_only_when_a_ranking_judge_is_sure() {
    // Sure (p ≈ 0.99 for "done"): each part's question is asked in one order only.
    assert_eq!(what_asked(Some(5.0)).await, (2, Status::Complete));
    // Leaning (p ≈ 0.73 with three answers): both orders, as before.
    assert_eq!(what_asked(Some(1.7)).await, (4, Status::Complete));
    // A written answer is one vote, however certain it reads: both orders.
    assert_eq!(what_asked(None).await, (4, Status::Complete));
}

#[tokio::test]
async fn a_done_stands_unless_already_carried_out_is_denied_in_both_orders() {
    let history = [Exchange {
        user: "I need to cancel my flights from MCO to CLT.".into(),
        agent: Some("I can help you cancel the flights. What is your user ID?".into()),
    }];
    let ledger = Ledger::new();
    let after = |t: Tracker| {
        let (st, history, ledger) = (state(), history.clone(), &ledger);
        async move {
            let mut st2 = st.clone();
            t.judge_turn(ledger, &st, &history, 1)
                .await
                .unwrap()
                .apply(&mut st2, 1);
            st2.get("obj-1").unwrap().status
        }
    };
    // Says "done", then "only offered" whatever the order: the offer stays open.
    let denied = judge(|a| {
        a.iter()
            .find(|x| x.starts_with("done") || x.starts_with("no, it is only"))
            .unwrap_or(&a[0])
            .clone()
    });
    assert_eq!(after(denied).await, Status::Incomplete);
    // Says "done", then takes whichever answer comes first: one order agrees, COMPLETE.
    let leaning = judge(|a| {
        a.iter()
            .find(|x| x.starts_with("done"))
            .unwrap_or(&a[0])
            .clone()
    });
    assert_eq!(after(leaning).await, Status::Complete);
    // Says "done" and "already done" whatever the order: COMPLETE.
    let sure = judge(|a| {
        a.iter()
            .find(|x| x.starts_with("done") || x.starts_with("yes"))
            .unwrap_or(&a[0])
            .clone()
    });
    assert_eq!(after(sure).await, Status::Complete);
}

#[tokio::test]
async fn the_closing_pass_moves_what_both_answer_orders_confirm_and_applies_its_rules() {
    let st = state();
    let history = [
        Exchange {
            user: "I want to cancel my flights from MCO to CLT and get a refund.".into(),
            agent: Some("Could you give me your user ID?".into()),
        },
        Exchange {
            user: "I don't have it. Gift card is fine.".into(),
            agent: Some("Without your user ID I cannot look up the booking.".into()),
        },
    ];
    let ledger = Ledger::new();
    let closed = yes_judge()
        .closing_pass(&ledger, &st, &history)
        .await
        .unwrap();
    let moved: Vec<(&str, Status)> = closed
        .updates
        .iter()
        .map(|u| (u.id.as_str(), u.status))
        .collect();
    assert_eq!(
        moved,
        [
            ("prof-1", Status::Misaligned),
            ("obj-1", Status::Attempted),
            ("pref-1.1", Status::Aligned),
            ("req-1.1", Status::Attempted),
        ]
    );
    // Two calls per asked part (both answer orders) and two for the asked objective's outcome,
    // none for the rule.
    assert_eq!(ledger.drain().len(), 8);
    // A judge that always takes the first answer offered moves nothing it is asked about.
    let first = judge(|answers| answers[0].clone());
    let closed = first.closing_pass(&ledger, &st, &history).await.unwrap();
    let ids: Vec<&str> = closed.updates.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["prof-1"]);
    // A requirement asked for under an objective carried out shares its outcome.
    let mut done = st.clone();
    done.apply_turn(
        1,
        &[Update {
            id: "obj-1".into(),
            status: Status::Complete,
            reason: String::new(),
        }],
    );
    let closed = yes_judge()
        .closing_pass(&ledger, &done, &history)
        .await
        .unwrap();
    let req = closed.updates.iter().find(|u| u.id == "req-1.1").unwrap();
    assert_eq!(req.status, Status::Complete, "{}", req.reason);
    // Other modes have no closing pass.
    let mut batched = yes_judge();
    batched.mode = TrackingMode::Batched;
    assert!(batched
        .closing_pass(&ledger, &st, &history)
        .await
        .unwrap()
        .updates
        .is_empty());
}

#[test]
fn a_requirement_is_swept_with_its_objective_and_profiles_never_are() {
    let st = state();
    let open: Vec<&SubComponent> = st.open_components().collect();
    let quiet = Exchange {
        user: "Hello there.".into(),
        agent: Some("How can I help you today?".into()),
    };
    assert!(sweep(&open, &[], &quiet).is_empty());
    let on_topic = Exchange {
        user: "Can I cancel the flights?".into(),
        agent: Some("Let me look at the flights.".into()),
    };
    let ids: Vec<&str> = sweep(&open, &[], &on_topic)
        .iter()
        .map(|(c, _)| c.id.as_str())
        .collect();
    assert_eq!(ids, ["obj-1", "req-1.1"]);
    // A proposed requirement brings its objective along, even on a turn that does not
    // share its words.
    let done = Exchange {
        user: "Yes, go ahead with both.".into(),
        agent: Some("Both reservations are cancelled.".into()),
    };
    let proposed = [Update {
        id: "req-1.1".into(),
        status: Status::Complete,
        reason: String::new(),
    }];
    let ids: Vec<&str> = sweep(&open, &proposed, &done)
        .iter()
        .map(|(c, _)| c.id.as_str())
        .collect();
    assert_eq!(ids, ["obj-1"]);
}

fn part(category: Category, text: &str) -> SubComponent {
    SubComponent {
        id: "x".into(),
        category,
        text: text.into(),
        objective: None,
        status: category.statuses()[0],
        reason: String::new(),
        changes: Vec::new(),
    }
}

fn ex(user: &str, agent: &str) -> Exchange {
    Exchange {
        user: user.into(),
        agent: Some(agent.into()),
    }
}

#[test]
fn requirements_and_preferences_are_asked_only_when_the_user_used_their_words() {
    let vague = [
        ex(
            "I need to make some changes to my upcoming reservation.",
            "Your user id?",
        ),
        ex(
            "Can you connect me with a human agent?",
            "Transferring you now.",
        ),
    ];
    let exact = [ex(
        "Please change it to a nonstop flight on the next day.",
        "Here are the nonstop options.",
    )];
    let nonstop = part(Category::Requirement, "To a nonstop flight.");
    let waived = part(Category::Requirement, "You want change fees waived.");
    let same_dates = part(
        Category::Requirement,
        "On the same dates as the current reservation.",
    );
    assert!(in_users_words(&nonstop, &exact));
    assert!(!in_users_words(&nonstop, &vague));
    // "change" alone is one word of three ("change", "fee", "waiv"): not most of them.
    assert!(!in_users_words(&waived, &vague));
    assert!(!in_users_words(&same_dates, &vague));
    // The agent's words do not count: only what the user wrote.
    let agent_only = [ex("Any news?", "The change fees are waived for you.")];
    assert!(!in_users_words(&waived, &agent_only));
    // A preference needs one of its words; an objective needs none.
    let gift = part(Category::Preference, "You prefer gift card payment.");
    assert!(!in_users_words(&gift, &vague));
    assert!(in_users_words(&gift, &[ex("Can I pay by card?", "Yes.")]));
    let change = part(Category::TaskObjective, "You want to rebook your trip.");
    assert!(in_users_words(&change, &vague));
}

#[test]
fn an_identifier_never_given_though_asked_twice_is_withheld() {
    let me = part(Category::UserProfile, "You are ethan_martin_2396.");
    let asked = [
        ex("My flight is late.", "Could you give me your user ID?"),
        ex(
            "I don't have it.",
            "I need the user ID and reservation ID to help.",
        ),
    ];
    let why = withheld_identifier(&me, &asked).expect("withheld");
    assert!(
        why.contains("ethan_martin_2396") && why.contains("turns 1, 2"),
        "{why}"
    );
    // Asked once only, or given late, or found and named by the agent: no rule fires.
    assert_eq!(withheld_identifier(&me, &asked[..1]), None);
    let late = [
        asked[0].clone(),
        ex("It is ethan_martin_2396.", "Thanks, found it."),
    ];
    assert_eq!(withheld_identifier(&me, &late), None);
    let found = [
        asked[0].clone(),
        ex(
            "I forgot it.",
            "Your user ID is ETHAN_MARTIN_2396; what id next?",
        ),
    ];
    assert_eq!(withheld_identifier(&me, &found), None);
    // Asks for other ids (an order's, an item's) are not asks for the user's own.
    let other_ids = [
        ex("Exchange my lamp.", "Please give me the order id."),
        ex("I don't know it.", "I need the order ID and the item IDs."),
    ];
    assert_eq!(withheld_identifier(&me, &other_ids), None);
    // Policies and parts without an identifier are never looked at.
    assert_eq!(
        withheld_identifier(
            &part(Category::UserPolicy, "You are ethan_martin_2396."),
            &asked
        ),
        None
    );
    assert_eq!(
        withheld_identifier(
            &part(Category::UserProfile, "Your mother is ill, $100."),
            &asked
        ),
        None
    );
}

#[test]
fn a_changed_copy_of_the_user_s_own_identifier_breaks_the_profile() {
    let me = part(Category::UserProfile, "You are ethan_martin_2396.");
    let rule = |h: &[Exchange]| rules::changed_identifier(&me, h, &cfg());
    let wrong = [
        ex("Hi, my flight is late.", "Could you give me your user ID?"),
        ex("It is ethan_martin_2936.", "I cannot find that user."),
    ];
    let why = rule(&wrong).expect("a changed copy");
    assert!(why.contains("ethan_martin_2936 in turn 2"), "{why}");
    // Its own id (in any case), an id of another form, or another person's id: no rule fires.
    assert_eq!(rule(&[ex("It is ETHAN_MARTIN_2396.", "Found it.")]), None);
    assert_eq!(rule(&[ex("Order #W2378156 and ZX81QP.", "Ok.")]), None);
    assert_eq!(rule(&[ex("My wife is sofia_kim_7105.", "Ok.")]), None);
    // Only the user's words count, and only profile parts.
    assert_eq!(rule(&[ex("Hi.", "Is it ethan_martin_2936?")]), None);
    let policy = part(Category::UserPolicy, "You are ethan_martin_2396.");
    assert_eq!(rules::changed_identifier(&policy, &wrong, &cfg()), None);
}

#[test]
fn a_charge_reported_above_the_cap_breaks_the_policy_and_a_quote_does_not() {
    let cap = part(
        Category::UserPolicy,
        "You are willing to pay a fee for the change, upto $100.",
    );
    let quoted = ex(
        "Up to $100.",
        "That would cost $114.50. Would you like it to be charged to your card?",
    );
    assert_eq!(charge_over_cap(&cap, std::slice::from_ref(&quoted)), None);
    let charged = ex(
        "Yes, go ahead.",
        "Done.\nThe additional cost of $114 has been charged to your card ending in 1777.",
    );
    let why = charge_over_cap(&cap, &[quoted.clone(), charged]).expect("over the cap");
    assert!(
        why.contains("$114") && why.contains("turn 2") && why.contains("$100"),
        "{why}"
    );
    // Other amounts beside the charge do not count: the one nearest "charged" does.
    let within = ex(
        "Yes.",
        "Your fare was $500; the $100 difference has been charged.",
    );
    assert_eq!(charge_over_cap(&cap, &[within]), None);
    let budget = part(
        Category::UserPolicy,
        "If the fee is above your budget of $1,200, keep economy.",
    );
    assert!(charge_over_cap(&budget, &[ex("ok", "$1,250.00 was billed to the card.")]).is_some());
    assert_eq!(
        charge_over_cap(
            &part(Category::UserPolicy, "Be persistent."),
            &[ex("ok", "$900 was charged.")]
        ),
        None
    );
}

#[test]
fn sentences_split_after_stops_and_lines_but_not_inside_amounts() {
    assert_eq!(
        sentences("It cost $114.50 today. Fine!\nNext? yes"),
        vec!["It cost $114.50 today.", "Fine!", "Next?", "yes"]
    );
}

/// The yes-leaning judge of [`yes_judge`] with other rules.
fn yes_judge_with(rules: TrackingConfig) -> Tracker {
    let mut t = yes_judge();
    t.config = rules;
    t
}

#[tokio::test]
async fn each_switch_removes_its_rule_and_only_it() {
    let history = [Exchange {
        user: "Hi, I need to cancel my flights and get a refund, please.".into(),
        agent: Some(
            "I am sorry, but basic economy flights cannot be cancelled for a refund.".into(),
        ),
    }];
    let after = |t: Tracker| {
        let history = history.clone();
        async move {
            let mut st = state();
            let ledger = Ledger::new();
            t.judge_turn(&ledger, &st, &history, 1)
                .await
                .unwrap()
                .apply(&mut st, 1);
            let calls = ledger.drain().len();
            (st, calls)
        }
    };
    let status = |st: &GoalState, id: &str| st.get(id).unwrap().status;
    let (all, calls) = after(yes_judge()).await;
    assert_eq!(status(&all, "obj-1"), Status::Attempted);
    // Without the sweep, the refusal the judge passed over is never checked.
    let (no_sweep, fewer) = after(yes_judge_with(TrackingConfig {
        sweep: false,
        ..cfg()
    }))
    .await;
    assert_eq!(status(&no_sweep, "obj-1"), Status::Incomplete);
    assert!(fewer < calls, "{fewer} < {calls}");
    // Without checks, a proposal past the evidence gate is taken as written: the profile the
    // judge says the user went against flips (the checks had cancelled the lean).
    let (unchecked, one) = after(yes_judge_with(TrackingConfig {
        checks: false,
        ..cfg()
    }))
    .await;
    assert_eq!(status(&unchecked, "prof-2"), Status::Misaligned);
    assert_eq!(one, 1, "the delta call only");
    // The identifier is still left to the closing rule unless that switch is off too.
    assert_eq!(status(&unchecked, "prof-1"), Status::Aligned);
    let (by_judge, _) = after(yes_judge_with(TrackingConfig {
        checks: false,
        identifiers_by_rule: false,
        ..cfg()
    }))
    .await;
    assert_eq!(status(&by_judge, "prof-1"), Status::Misaligned);
}

#[tokio::test]
async fn the_closing_pass_is_a_switch_any_mode_can_borrow() {
    let st = state();
    let history = [Exchange {
        user: "I want to cancel my flights from MCO to CLT.".into(),
        agent: Some("I'm sorry, basic economy flights cannot be cancelled.".into()),
    }];
    let ledger = Ledger::new();
    let moved = |t: Tracker| {
        let (st, history, ledger) = (st.clone(), history.clone(), &ledger);
        async move {
            let j = t.closing_pass(ledger, &st, &history).await.unwrap();
            j.updates.len()
        }
    };
    let mut batched = yes_judge();
    batched.mode = TrackingMode::Batched;
    assert_eq!(
        moved(batched.clone()).await,
        0,
        "off by default outside delta"
    );
    batched.config.closing_pass = Some(true);
    assert!(moved(batched).await > 0);
    assert_eq!(
        moved(yes_judge_with(TrackingConfig {
            closing_pass: Some(false),
            ..cfg()
        }))
        .await,
        0
    );
}

#[tokio::test]
async fn a_conversation_advances_one_exchange_at_a_time_and_a_failed_turn_changes_nothing() {
    let ok = yes_judge();
    let mut conv = ConversationState::new(state());
    let ledger = Ledger::new();
    let first = Exchange {
        user: "Please cancel my flights from MCO to CLT.".into(),
        agent: Some("I have cancelled both flights from MCO to CLT.".into()),
    };
    assert_eq!(conv.advance(&ok, &ledger, first).await.unwrap(), 1);
    assert_ne!(conv.state.get("obj-1").unwrap().status, Status::Incomplete);
    let failing = ScriptedBackend::new("down", |_: &ChatRequest| {
        Err(ugst_llm::LlmError::Backend {
            backend: "down".into(),
            detail: "connection refused".into(),
        })
    });
    let mut down = yes_judge();
    down.role.llm = Llm::new(Arc::new(failing), Arc::new(Cache::disabled()));
    let before = conv.state.clone();
    let e = conv
        .advance(
            &down,
            &ledger,
            Exchange {
                user: "Thanks.".into(),
                agent: Some("Anything else?".into()),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.turn, 2);
    assert!(e.to_string().starts_with("tracker, turn 2:"), "{e}");
    assert_eq!(conv.turn(), 1);
    assert_eq!(
        serde_json::to_value(&conv.state).unwrap(),
        serde_json::to_value(&before).unwrap()
    );
}
