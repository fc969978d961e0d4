//! τ-bench / τ²-bench as a ugst environment: the domain's policy as the agent's system prompt,
//! its tools on a per-conversation copy of the database (copied on the first write), goals from
//! its tasks (`<env>/<split>/<task id>`), and the task reward when the conversation ends.

use super::{tool_specs, Environment, Session, TaskOutcome};
use crate::error::InputError;
use crate::model::Goal;
use serde_json::Value;
use std::sync::Arc;
use ugst_envs::tau::{Task, TauEnv, TRANSFER_TOOL};
use ugst_llm::ToolSpec;

pub struct Tau {
    env: Arc<TauEnv>,
    name: String,
    tools: Vec<ToolSpec>,
}

impl Tau {
    pub fn new(env: TauEnv) -> Self {
        let name = env.name();
        let tools = tool_specs(&env.tools());
        Tau {
            env: Arc::new(env),
            name,
            tools,
        }
    }

    /// The task a goal id names (`<env>/<split>/<task id>`), if any.
    fn task(&self, goal: &Goal) -> Option<Task> {
        let rest = goal.id.strip_prefix(&self.name)?.strip_prefix('/')?;
        let (split, id) = rest.split_once('/')?;
        // A trial of the task (`run --trials`): `<task>#<trial>`.
        let id = id.split('#').next().unwrap_or(id);
        self.env
            .tasks(split)
            .ok()?
            .iter()
            .find(|t| t.id == id)
            .cloned()
    }
}

impl Environment for Tau {
    fn name(&self) -> &str {
        &self.name
    }
    fn agent_policy(&self, _goal: &Goal) -> String {
        self.env.policy.clone()
    }
    fn tools(&self) -> Vec<ToolSpec> {
        self.tools.clone()
    }
    fn start(&self, goal: &Goal) -> Box<dyn Session> {
        Box::new(TauSession {
            env: self.env.clone(),
            db: None,
            task: self.task(goal),
            transferred: false,
        })
    }
    fn goals(&self, split: &str) -> Result<Vec<Goal>, InputError> {
        let tasks = self.env.tasks(split).map_err(|e| InputError::new(e.0))?;
        Ok(tasks
            .iter()
            .map(|t| Goal {
                id: format!("{}/{split}/{}", self.name, t.id),
                goal: t.instruction.clone(),
                max_turns: None,
                domain: Some(self.env.domain.as_str().to_string()),
                decomposition: None,
                task: None,
                trial: None,
                seed: None,
                attempt: None,
            })
            .collect())
    }
}

struct TauSession {
    env: Arc<TauEnv>,
    /// This conversation's database, once a tool wrote to it.
    db: Option<Value>,
    task: Option<Task>,
    transferred: bool,
}

impl TauSession {
    fn db(&self) -> &Value {
        self.db.as_ref().unwrap_or(&self.env.db)
    }
}

impl Session for TauSession {
    fn call(&mut self, name: &str, args: &Value) -> Result<String, String> {
        let out = if self.env.writes(name) {
            // Writers work on a scratch copy that replaces the database only when the call
            // succeeds: an error, or a panic inside a tool, leaves the data as it was.
            let mut scratch = self.db().clone();
            let call = std::panic::AssertUnwindSafe(|| self.env.call(&mut scratch, name, args));
            match std::panic::catch_unwind(call) {
                Ok(Ok(out)) => {
                    self.db = Some(scratch);
                    Ok(out)
                }
                Ok(Err(e)) => Err(e),
                Err(panic) => Err(format!(
                    "the tool {name} failed internally ({}); the database is unchanged",
                    super::panic_text(&panic)
                )),
            }
        } else {
            self.env.read(self.db(), name, args)
        };
        if name == TRANSFER_TOOL && out.is_ok() {
            self.transferred = true;
        }
        out
    }
    fn ended(&self) -> bool {
        self.transferred
    }
    fn reward(&self, agent_replies: &[String]) -> Option<TaskOutcome> {
        let task = self.task.as_ref()?;
        let r = self.env.reward(task, self.db(), agent_replies);
        Some(TaskOutcome {
            reward: r.reward,
            details: serde_json::to_value(&r).unwrap_or(Value::Null),
        })
    }
}
