//! The reward judges a candidate turn as the newest turn of a live conversation — not as a
//! message the user ended the conversation with — and a candidate that breaks a policy scores
//! lower than one that keeps it.

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use ugst::model::TrackingMode;
use ugst::reward::{score, Context, RewardConfig};
use ugst::roles::RoleModel;
use ugst::track::Tracker;
use ugst_llm::{Cache, ChatResponse, Ledger, Llm, ScriptedBackend};
use ugst_state::{Decomposition, GoalState, ObjectiveSpec};

/// A judge that reads the newest user message: an e-mail address breaks the policy; a stated
/// booking request attempts the objective. It keeps every prompt it was sent.
fn judge(prompts: Arc<Mutex<Vec<String>>>) -> Llm {
    Llm::new(
        Arc::new(ScriptedBackend::new("judge", move |r| {
            let prompt = r.messages[0].content_str().to_string();
            let last = prompt
                .lines()
                .rfind(|l| l.starts_with("User: "))
                .unwrap_or("")
                .to_string();
            prompts.lock().unwrap().push(prompt);
            let schema = &r.schema.as_ref().unwrap().schema;
            let mut out = serde_json::Map::new();
            for (id, s) in schema["properties"].as_object().unwrap() {
                let first = s["properties"]["status"]["enum"][0].clone();
                let status = match id.as_str() {
                    "pol-1" if last.contains('@') => json!("MISALIGNED"),
                    "obj-1" if last.contains("book") => json!("ATTEMPTED"),
                    _ => first,
                };
                out.insert(id.clone(), json!({"reason": "scripted", "status": status}));
            }
            Ok(ChatResponse::text(Value::Object(out).to_string()))
        })),
        Arc::new(Cache::disabled()),
    )
}

#[tokio::test]
async fn a_candidate_that_breaks_a_policy_scores_lower() {
    let d = Decomposition {
        user_profile: vec!["You are Ana.".into()],
        user_policy: vec!["You never share your email.".into()],
        task_objectives: vec![ObjectiveSpec {
            text: "Book a room.".into(),
            requirements: vec![],
            preferences: vec![],
        }],
    };
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let mut models = ugst_mock::role_models();
    models.tracker = RoleModel::new(judge(prompts.clone()));
    let ctx = Context {
        decomposition: Some(d.clone()),
        ..Context::default()
    };
    let before = GoalState::initial(&d);
    let cfg = RewardConfig::default();
    let turn = |msg: &str| {
        format!(
            "<think>\nProgress: nothing yet.\nPlan: ask for the room.\nAlignment: as myself.\n</think>\n{msg}"
        )
    };
    let ledger = Ledger::new();
    let tracker = Tracker::new(
        models.tracker.clone(),
        TrackingMode::Batched,
        Default::default(),
    );
    let keeps = score(
        &tracker,
        &cfg,
        &ctx,
        &before,
        &turn("Hello, I would like to book a room for two nights."),
        &ledger,
    )
    .await;
    let breaks = score(
        &tracker,
        &cfg,
        &ctx,
        &before,
        &turn("Hello, I would like to book a room; my email is ana@example.com."),
        &ledger,
    )
    .await;
    let (k, b) = (keeps.reward.unwrap(), breaks.reward.unwrap());
    assert!(
        b < k,
        "breaking the policy must cost: keeps {k}, breaks {b}"
    );
    assert!(!breaks.conditions["policy"]);
    assert!(keeps.conditions["policy"]);
    // The judge saw each candidate as a live turn awaiting the agent, not as a closing message.
    for p in prompts.lock().unwrap().iter() {
        assert!(!p.contains("the user ended the conversation"), "{p}");
        assert!(p.contains(ugst::reward::NOT_ANSWERED_YET), "{p}");
    }
}
