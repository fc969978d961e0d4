//! Environments: what the agent can do besides talking. An environment gives the agent its policy
//! text and tools; each conversation gets its own [`Session`] (its own copy of any database).

use crate::goals::Goal;
use crate::prompts;
use minijinja::context;
use serde_json::Value;
use ugst_llm::ToolSpec;

pub trait Environment: Send + Sync {
    /// Short name stored with the run, e.g. `chat`, `tau-retail`.
    fn name(&self) -> &str;
    /// The agent's system prompt for this goal.
    fn agent_policy(&self, goal: &Goal) -> String;
    /// Tools offered to the agent (OpenAI function schemas).
    fn tools(&self) -> Vec<ToolSpec>;
    /// A fresh session for one conversation.
    fn start(&self, goal: &Goal) -> Box<dyn Session>;
}

/// The tool side of one conversation.
pub trait Session: Send {
    /// Runs one tool call. `Err` carries the message returned to the agent as the observation;
    /// an error must leave the session's data unchanged.
    fn call(&mut self, name: &str, args: &Value) -> Result<String, String>;
}

/// Plain chat: the agent has no tools.
pub struct ChatOnly;

impl Environment for ChatOnly {
    fn name(&self) -> &str {
        "chat"
    }
    fn agent_policy(&self, goal: &Goal) -> String {
        prompts::render("agent_system", context! { domain => goal.domain })
    }
    fn tools(&self) -> Vec<ToolSpec> {
        Vec::new()
    }
    fn start(&self, _goal: &Goal) -> Box<dyn Session> {
        Box::new(NoTools)
    }
}

struct NoTools;

impl Session for NoTools {
    fn call(&mut self, name: &str, _args: &Value) -> Result<String, String> {
        Err(format!(
            "unknown tool {name:?}: this environment has no tools"
        ))
    }
}
