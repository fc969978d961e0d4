//! MultiWOZ as a ugst environment: the Cambridge information desk with search and booking tools
//! over the MultiWOZ database. Goals come from a goal file (`--goals`); bookings made in a
//! conversation are kept in its session.

use super::{tool_specs, Environment, Session};
use crate::goals::Goal;
use serde_json::Value;
use std::sync::Arc;
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
    fn start(&self, _goal: &Goal) -> Box<dyn Session> {
        Box::new(MultiWozConversation {
            db: self.db.clone(),
            session: MultiWozSession::default(),
        })
    }
}

struct MultiWozConversation {
    db: Arc<MultiWoz>,
    session: MultiWozSession,
}

impl Session for MultiWozConversation {
    fn call(&mut self, name: &str, args: &Value) -> Result<String, String> {
        self.db.call(&mut self.session, name, args)
    }
}
