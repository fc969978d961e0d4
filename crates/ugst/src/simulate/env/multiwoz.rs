//! MultiWOZ as a ugst environment: the Cambridge information desk with search and booking tools
//! over the MultiWOZ database. Goals come from a goal file (`--goals`); bookings made in a
//! conversation are kept in its session. Goals that carry a `task` (the generator writes one)
//! get a task reward: every objective met by the bookings and the agent's replies
//! (see [`ugst_envs::multiwoz::task`]).

use super::{tool_specs, Environment, Session, TaskOutcome};
use crate::error::InputError;
use crate::model::Goal;
use serde_json::Value;
use std::sync::Arc;
use ugst_envs::multiwoz::task::Task;
use ugst_envs::multiwoz::{MultiWoz, MultiWozSession, POLICY};
use ugst_llm::ToolSpec;

pub struct MultiWozEnv {
    db: Arc<MultiWoz>,
    tools: Vec<ToolSpec>,
}

impl MultiWozEnv {
    pub fn new(db: MultiWoz) -> Self {
        MultiWozEnv {
            db: Arc::new(db),
            tools: tool_specs(&MultiWoz::tools()),
        }
    }
}

impl Environment for MultiWozEnv {
    fn name(&self) -> &str {
        "multiwoz"
    }
    fn agent_policy(&self, _goal: &Goal) -> String {
        POLICY.to_string()
    }
    fn tools(&self) -> Vec<ToolSpec> {
        self.tools.clone()
    }
    fn check_goals(&self, goals: &[Goal]) -> Result<(), InputError> {
        let bad: Vec<String> = goals
            .iter()
            .filter_map(|g| {
                let e = Task::from_value(g.task.as_ref()?).err()?;
                Some(format!("goal {}: task: {e}", g.id))
            })
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        Err(InputError::new(format!(
            "{}\n(a MultiWOZ task is the `{{\"objectives\": [...]}}` that `ugst goals generate multiwoz` writes; fix it or remove the goal's \"task\" to run it without a task reward)",
            bad.join("\n")
        )))
    }
    fn start(&self, goal: &Goal) -> Box<dyn Session> {
        Box::new(MultiWozConversation {
            db: self.db.clone(),
            session: MultiWozSession::default(),
            // Checked by `check_goals` before any conversation starts.
            task: goal.task.as_ref().and_then(|t| Task::from_value(t).ok()),
        })
    }
}

struct MultiWozConversation {
    db: Arc<MultiWoz>,
    session: MultiWozSession,
    task: Option<Task>,
}

impl Session for MultiWozConversation {
    fn call(&mut self, name: &str, args: &Value) -> Result<String, String> {
        self.db.call(&mut self.session, name, args)
    }
    fn reward(&self, agent_replies: &[String]) -> Option<TaskOutcome> {
        let task = self.task.as_ref()?;
        let outcome = self.db.score(task, &self.session.bookings, agent_replies);
        Some(TaskOutcome {
            reward: outcome.reward,
            details: outcome.details(),
        })
    }
}
