//! ATTEMPTED means a blocker outside the user: the closing pass's outcome question, case by case,
//! with a judge that reads the chat the way the question asks (a refusal, a failure or a handover
//! is "blocked", "has been" is "done", anything else "unfinished").

use crate::model::{Exchange, TrackingConfig, TrackingMode};
use crate::roles::RoleModel;
use crate::track::Tracker;
use serde_json::json;
use std::sync::Arc;
use ugst_llm::{Cache, ChatRequest, ChatResponse, Ledger, Llm, Sampling, ScriptedBackend};
use ugst_state::{Decomposition, GoalState, ObjectiveSpec, Status};

fn state() -> GoalState {
    GoalState::initial(&Decomposition {
        user_profile: vec![],
        user_policy: vec![],
        task_objectives: vec![ObjectiveSpec {
            text: "You want to cancel your reservation ZX81QP.".into(),
            requirements: vec![],
            preferences: vec![],
        }],
    })
}

/// The judge: the gate says "yes" when the user wrote "cancel"; the outcome question answers
/// from the agent's words, which it must be shown (the gate must not be).
fn reader() -> Tracker {
    judge(false)
}

/// How the scripted judge answers the outcome question.
#[derive(Clone, Copy)]
enum Outcome {
    /// From the agent's words, as [`reader`] describes.
    Read,
    /// "done", whatever the chat says.
    AlwaysDone,
    /// "done" when it is offered first, "blocked" when it is not: half the weight on each.
    DoneOrBlocked,
    /// "blocked", whatever the chat says.
    AlwaysBlocked,
}

/// [`reader`], or a judge that answers every outcome question "done" (`says_done`).
fn judge(says_done: bool) -> Tracker {
    judge_by(if says_done {
        Outcome::AlwaysDone
    } else {
        Outcome::Read
    })
}

fn judge_by(mode: Outcome) -> Tracker {
    let backend = ScriptedBackend::new("reader", move |req: &ChatRequest| {
        let prompt = req.messages[0].content_str().to_string();
        let schema = req.schema.as_ref().expect("closing calls carry a schema");
        let answers: Vec<String> = schema.schema["properties"]["answer"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let outcome = prompt.contains("What became of this request");
        assert_eq!(outcome, prompt.contains(", agent: "), "{prompt}");
        let chat = prompt
            .split("The user's goal")
            .next()
            .unwrap()
            .to_lowercase();
        let read = || {
            if ["cannot", "not allowed", "error", "transfer"]
                .iter()
                .any(|w| chat.contains(w))
            {
                "blocked"
            } else if chat.contains("has been") {
                "done"
            } else {
                "unfinished"
            }
        };
        let pick = if !outcome {
            if chat.contains("cancel") {
                "yes"
            } else {
                "no"
            }
        } else {
            match mode {
                Outcome::Read => read(),
                Outcome::AlwaysDone => "done",
                Outcome::DoneOrBlocked if answers[0].starts_with("done") => "done",
                Outcome::DoneOrBlocked | Outcome::AlwaysBlocked => "blocked",
            }
        };
        let answer = answers.iter().find(|a| a.starts_with(pick)).unwrap();
        Ok(ChatResponse::text(json!({ "answer": answer }).to_string()))
    });
    Tracker::new(
        RoleModel {
            llm: Llm::new(Arc::new(backend), Arc::new(Cache::disabled())),
            sampling: Sampling::default(),
            model: "reader".into(),
            decompose: crate::model::DecomposeMethod::Free,
        },
        TrackingMode::Delta,
        TrackingConfig::default(),
    )
}

fn ex(user: &str, agent: &str) -> Exchange {
    Exchange {
        user: user.into(),
        agent: Some(agent.into()),
    }
}

/// The objective's status once the closing pass has run over `history`, and the calls made.
async fn closed(tracker: &Tracker, history: &[Exchange]) -> (Status, usize) {
    let mut st = state();
    let ledger = Ledger::new();
    let j = tracker.closing_pass(&ledger, &st, history).await.unwrap();
    j.apply(&mut st, history.len() as u32);
    (st.get("obj-1").unwrap().status, ledger.drain().len())
}

#[tokio::test]
async fn attempted_needs_a_blocker_outside_the_user() {
    let ask = "Hi, I want to cancel reservation ZX81QP.";
    let t = reader();
    let cases: [(&str, Vec<Exchange>, Status); 7] = [
        (
            "an agent refusal",
            vec![ex(
                ask,
                "I'm sorry, basic economy fares cannot be cancelled.",
            )],
            Status::Attempted,
        ),
        (
            "a system failure",
            vec![ex(
                ask,
                "The reservation system returned an error, so nothing changed.",
            )],
            Status::Attempted,
        ),
        (
            "a handover",
            vec![ex(ask, "I will transfer you to a human agent now.")],
            Status::Attempted,
        ),
        (
            "the user's turns ran out",
            vec![ex(ask, "Sure. Could you tell me your user id first?")],
            Status::Incomplete,
        ),
        (
            "the user gave up",
            vec![
                ex(ask, "Certainly, may I have your user id?"),
                ex("Never mind, forget it. Bye.", "All right, goodbye."),
            ],
            Status::Incomplete,
        ),
        (
            "never asked",
            vec![ex(
                "How many bags can I bring?",
                "Two checked bags are included.",
            )],
            Status::Incomplete,
        ),
        (
            "done",
            vec![ex(ask, "Reservation ZX81QP has been cancelled.")],
            Status::Complete,
        ),
    ];
    for (case, history, want) in cases {
        let (got, calls) = closed(&t, &history).await;
        assert_eq!(got, want, "{case}");
        // The gate in both answer orders; the outcome question only after a "yes".
        let asked = if case == "never asked" { 2 } else { 4 };
        assert_eq!(calls, asked, "{case}");
    }
}

#[tokio::test]
async fn without_the_outcome_question_an_objective_asked_for_stays_incomplete() {
    let mut t = reader();
    t.config.closing_outcome = false;
    let history = [ex(
        "Hi, I want to cancel reservation ZX81QP.",
        "I'm sorry, basic economy fares cannot be cancelled.",
    )];
    assert_eq!(closed(&t, &history).await, (Status::Incomplete, 2));
}

#[tokio::test]
async fn a_closing_done_needs_the_agent_s_report_of_it() {
    let t = judge(true);
    let ask = "Hi, I want to cancel reservation ZX81QP.";
    for (agent, want) in [
        (
            "Sure, I can help you cancel that reservation.",
            Status::Incomplete,
        ),
        ("Is the reservation the one to Boston?", Status::Incomplete),
        ("That reservation cannot be cancelled.", Status::Incomplete),
        (
            "Done: your reservation ZX81QP has been cancelled.",
            Status::Complete,
        ),
    ] {
        let (got, _) = closed(&t, &[ex(ask, agent)]).await;
        assert_eq!(got, want, "{agent}");
    }
    // Switched off, the judge's "done" is taken as it is.
    let mut trusting = judge(true);
    trusting.config.closing_done_report = false;
    let (got, _) = closed(&trusting, &[ex(ask, "Sure, I can help you with that.")]).await;
    assert_eq!(got, Status::Complete);
}

#[tokio::test]
async fn a_done_without_a_report_leaves_blocked_against_unfinished_to_the_judge() {
    // Half the judge's weight on "done", half on "blocked": with no agent report of the work
    // but a refusal in the text the objective ends ATTEMPTED, not INCOMPLETE; with a report,
    // COMPLETE or ATTEMPTED as it weighs them, never INCOMPLETE.
    let t = judge_by(Outcome::DoneOrBlocked);
    let ask = "Hi, I want to cancel reservation ZX81QP.";
    let refused = "Let me look. Unfortunately that reservation cannot be cancelled online.";
    let (got, _) = closed(&t, &[ex(ask, refused)]).await;
    assert_eq!(got, Status::Attempted);
    let (got, _) = closed(
        &t,
        &[ex(ask, "Your reservation ZX81QP has been cancelled.")],
    )
    .await;
    assert_ne!(got, Status::Incomplete);
    // Neither report in the text: it stays unfinished.
    let (got, _) = closed(&t, &[ex(ask, "Let me look into that for you.")]).await;
    assert_eq!(got, Status::Incomplete);
    // A judge that only ever says "done" leaves nothing else to fall back on.
    let (got, _) = closed(&judge(true), &[ex(ask, "Let me look into that.")]).await;
    assert_eq!(got, Status::Incomplete);
}

#[tokio::test]
async fn a_closing_blocked_needs_a_blocker_in_the_agent_s_words() {
    let t = judge_by(Outcome::AlwaysBlocked);
    let ask = "Hi, I want to cancel reservation ZX81QP.";
    for (agent, want) in [
        // The user's own turns ran out: nothing outside the user stopped it.
        (
            "Sure. Could you tell me your user id first?",
            Status::Incomplete,
        ),
        ("I'm sorry, I can't do that for you.", Status::Attempted),
        ("The booking system returned an error.", Status::Attempted),
        (
            "I will transfer you to a human agent now.",
            Status::Attempted,
        ),
        (
            "I don't have the tools to cancel a reservation.",
            Status::Attempted,
        ),
        // The agent answered with a raw tool-call fragment instead of words to the user.
        (r#"{"type":"function","function":"#, Status::Attempted),
        // A refusal asked as a question is no report.
        (
            "Would you accept that it cannot be refunded?",
            Status::Incomplete,
        ),
    ] {
        let (got, _) = closed(&t, &[ex(ask, agent)]).await;
        assert_eq!(got, want, "{agent}");
    }
    // A refusal about something else the user raised is no blocker of this objective.
    let aside = [ex(
        "Can I also bring my parrot?",
        "Unfortunately pets are not allowed in the cabin.",
    )];
    let (got, _) = closed(&t, &[ex(ask, "Let me check."), aside[0].clone()]).await;
    assert_eq!(got, Status::Incomplete);
    // Switched off, the judge's "blocked" is taken as it is.
    let mut trusting = judge_by(Outcome::AlwaysBlocked);
    trusting.config.closing_blocker_report = false;
    let (got, _) = closed(&trusting, &[ex(ask, "Sure, one moment.")]).await;
    assert_eq!(got, Status::Attempted);
}

#[tokio::test]
async fn a_report_that_introduces_a_list_is_read_with_its_list() {
    let t = judge(true);
    let ask = "Hi, I want to cancel reservation ZX81QP.";
    // The reply's first sentence shares no word with the objective; its list does.
    let listed = "Everything has been taken care of with these changes:\n- Reservation ZX81QP: cancelled\n- Refund: to your card";
    let (got, _) = closed(&t, &[ex(ask, listed)]).await;
    assert_eq!(got, Status::Complete);
    // Without the colon the next line is not part of the report.
    let apart = "Everything has been taken care of.\nReservation ZX81QP is on file.";
    let (got, _) = closed(&t, &[ex(ask, apart)]).await;
    assert_eq!(got, Status::Incomplete);
}
