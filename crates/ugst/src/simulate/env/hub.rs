//! The environment's tools for an agent that ugst does not drive: a [`ToolHub`] holds one
//! [`Session`] per conversation under an unguessable key, runs the calls that arrive for that key
//! (over MCP: `serve/tools.rs`) and logs them, so the conversation's store shows the tool calls
//! and its task reward is scored from the database those calls changed.
//!
//! [`HostedEnv`] wraps an environment so that every conversation's session is hosted here; the
//! conversation's [`Hosted`] handle unregisters the session when it is dropped.

use super::{call_guarded, Environment, Session, TaskOutcome};
use crate::error::InputError;
use crate::model::Goal;
use rand::Rng;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use ugst_llm::{Message, ToolCall, ToolSpec};

/// One hosted session and what was done with it.
struct Slot {
    session: Box<dyn Session>,
    /// Calls made since the conversation last took them: assistant tool-call messages, each
    /// followed by its observation.
    log: Vec<Message>,
    calls: u32,
    /// When it was opened (a counter), so the oldest is dropped first.
    opened: u64,
}

/// What a call to a key no session holds gets.
#[derive(Debug, thiserror::Error)]
#[error("no conversation holds the tools session {0:?} (it ended, or the URL is wrong)")]
pub struct UnknownSession(pub String);

/// Sessions by key, and how their tools are reached.
pub struct ToolHub {
    tools: Vec<ToolSpec>,
    /// The MCP endpoint's base, e.g. `http://127.0.0.1:8765/mcp`; a session's is `{base}/{key}`.
    base: OnceLock<String>,
    slots: Mutex<HashMap<String, Arc<Mutex<Slot>>>>,
    /// For a hub serving clients it did not set up (`ugst serve tools`): a key no session holds
    /// opens a fresh session of this environment for this goal.
    open: Option<(Arc<dyn Environment>, Goal)>,
    /// Sessions a hub of the second kind holds at most (the oldest goes first).
    max_sessions: usize,
    opened: AtomicU64,
}

impl ToolHub {
    /// A hub for conversations ugst runs: only keys it handed out are served.
    pub fn hosting(env: &dyn Environment) -> Arc<ToolHub> {
        Self::new(env.tools(), None, usize::MAX)
    }

    /// A hub for outside clients: each new key (an MCP session, a URL path) gets its own copy of
    /// `goal`'s task; at most `max_sessions` are held.
    pub fn open_to_all(env: Arc<dyn Environment>, goal: Goal, max_sessions: usize) -> Arc<ToolHub> {
        Self::new(env.tools(), Some((env, goal)), max_sessions.max(1))
    }

    fn new(
        tools: Vec<ToolSpec>,
        open: Option<(Arc<dyn Environment>, Goal)>,
        max_sessions: usize,
    ) -> Arc<ToolHub> {
        Arc::new(ToolHub {
            tools,
            base: OnceLock::new(),
            slots: Mutex::new(HashMap::new()),
            open,
            max_sessions,
            opened: AtomicU64::new(0),
        })
    }

    /// Where the MCP endpoint listens, once [`ToolHub::set_base`] said it.
    pub fn base(&self) -> Option<&str> {
        self.base.get().map(String::as_str)
    }

    /// Says where the MCP endpoint listens, once it is bound.
    pub fn set_base(&self, base: impl Into<String>) {
        let _ = self.base.set(base.into().trim_end_matches('/').to_string());
    }

    pub fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    /// Hosts `session` under a new key.
    pub fn host(self: &Arc<Self>, session: Box<dyn Session>) -> Hosted {
        let key: String = {
            let mut rng = rand::rng();
            (0..16)
                .map(|_| format!("{:02x}", rng.random::<u8>()))
                .collect()
        };
        let slot = self.slot_for(session);
        lock(&self.slots).insert(key.clone(), slot.clone());
        Hosted {
            hub: self.clone(),
            key,
            slot,
        }
    }

    fn slot_for(&self, session: Box<dyn Session>) -> Arc<Mutex<Slot>> {
        let opened = self.opened.fetch_add(1, Ordering::Relaxed);
        Arc::new(Mutex::new(Slot {
            session,
            log: Vec::new(),
            calls: 0,
            opened,
        }))
    }

    fn slot(&self, key: &str) -> Result<Arc<Mutex<Slot>>, UnknownSession> {
        let mut slots = lock(&self.slots);
        if let Some(s) = slots.get(key) {
            return Ok(s.clone());
        }
        let (env, goal) = self
            .open
            .as_ref()
            .ok_or_else(|| UnknownSession(key.to_string()))?;
        if slots.len() >= self.max_sessions {
            let oldest = slots
                .iter()
                .min_by_key(|(_, s)| lock(s).opened)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                slots.remove(&k);
            }
        }
        let slot = self.slot_for(env.start(goal));
        slots.insert(key.to_string(), slot.clone());
        Ok(slot)
    }

    /// Runs one call in the session `key`; the inner result is the observation (an error one
    /// for a failing call, as the agent should read it).
    pub fn call(
        &self,
        key: &str,
        name: &str,
        args: &Value,
    ) -> Result<Result<String, String>, UnknownSession> {
        let slot = self.slot(key)?;
        let mut slot = lock(&slot);
        slot.calls += 1;
        let out = call_guarded(slot.session.as_mut(), name, args);
        let id = format!("mcp-{}", slot.calls);
        let arguments = serde_json::to_string(args).unwrap_or_default();
        slot.log.push(Message::assistant_tool_calls(
            None,
            vec![ToolCall::new(id.clone(), name, arguments)],
        ));
        let shown = match &out {
            Ok(o) => o.clone(),
            Err(e) => format!("Error: {e}"),
        };
        slot.log.push(Message::tool(id, shown));
        Ok(out)
    }

    /// What a session has done: its calls so far, whether a call ended the conversation, and
    /// the task reward as it stands (no replies to the user counted).
    pub fn inspect(&self, key: &str) -> Result<(u32, bool, Option<TaskOutcome>), UnknownSession> {
        let slot = lock(&self.slots)
            .get(key)
            .cloned()
            .ok_or_else(|| UnknownSession(key.to_string()))?;
        let slot = lock(&slot);
        Ok((slot.calls, slot.session.ended(), slot.session.reward(&[])))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One conversation's hosted session; unregistered when dropped.
pub struct Hosted {
    hub: Arc<ToolHub>,
    key: String,
    slot: Arc<Mutex<Slot>>,
}

impl Hosted {
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl Session for Hosted {
    fn call(&mut self, name: &str, args: &Value) -> Result<String, String> {
        self.hub
            .call(&self.key, name, args)
            .map_err(|e| e.to_string())?
    }
    fn ended(&self) -> bool {
        lock(&self.slot).session.ended()
    }
    fn reward(&self, agent_replies: &[String]) -> Option<TaskOutcome> {
        lock(&self.slot).session.reward(agent_replies)
    }
    fn address(&self) -> Option<String> {
        self.hub.base().map(|b| format!("{b}/{}", self.key))
    }
    fn take_log(&mut self) -> Vec<Message> {
        std::mem::take(&mut lock(&self.slot).log)
    }
}

impl Drop for Hosted {
    fn drop(&mut self) {
        lock(&self.hub.slots).remove(&self.key);
    }
}

/// An environment whose sessions live in a [`ToolHub`], for an agent under test that calls the
/// tools itself.
pub struct HostedEnv {
    inner: Arc<dyn Environment>,
    hub: Arc<ToolHub>,
}

impl HostedEnv {
    pub fn new(inner: Arc<dyn Environment>, hub: Arc<ToolHub>) -> HostedEnv {
        HostedEnv { inner, hub }
    }
}

impl Environment for HostedEnv {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn agent_policy(&self, goal: &Goal) -> String {
        self.inner.agent_policy(goal)
    }
    fn tools(&self) -> Vec<ToolSpec> {
        self.inner.tools()
    }
    fn start(&self, goal: &Goal) -> Box<dyn Session> {
        Box::new(self.hub.host(self.inner.start(goal)))
    }
    fn check_goals(&self, goals: &[Goal]) -> Result<(), InputError> {
        self.inner.check_goals(goals)
    }
    fn goals(&self, split: &str) -> Result<Vec<Goal>, InputError> {
        self.inner.goals(split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u32);
    impl Session for Counter {
        fn call(&mut self, name: &str, _args: &Value) -> Result<String, String> {
            match name {
                "add" => {
                    self.0 += 1;
                    Ok(self.0.to_string())
                }
                _ => Err(format!("unknown tool {name:?}")),
            }
        }
        fn reward(&self, _: &[String]) -> Option<TaskOutcome> {
            Some(TaskOutcome {
                reward: f64::from(self.0),
                details: Value::Null,
            })
        }
    }

    #[test]
    fn hosted_sessions_are_apart_logged_and_gone_when_dropped() {
        let hub = ToolHub::hosting(&super::super::ChatOnly);
        hub.set_base("http://127.0.0.1:9/mcp/");
        let mut a = hub.host(Box::new(Counter(0)));
        let b = hub.host(Box::new(Counter(10)));
        assert_ne!(a.key(), b.key());
        assert_eq!(
            a.address().unwrap(),
            format!("http://127.0.0.1:9/mcp/{}", a.key())
        );
        assert_eq!(
            hub.call(a.key(), "add", &Value::Null).unwrap(),
            Ok("1".into())
        );
        assert_eq!(
            hub.call(b.key(), "add", &Value::Null).unwrap(),
            Ok("11".into())
        );
        assert!(hub.call(a.key(), "nope", &Value::Null).unwrap().is_err());
        let log = a.take_log();
        assert_eq!(log.len(), 4);
        assert_eq!(log[0].tool_calls[0].function.name, "add");
        assert_eq!(log[3].content_str(), "Error: unknown tool \"nope\"");
        assert!(a.take_log().is_empty());
        assert_eq!(a.reward(&[]).unwrap().reward, 1.0);
        let key = a.key().to_string();
        drop(a);
        assert!(hub.call(&key, "add", &Value::Null).is_err());
        assert_eq!(hub.inspect(b.key()).unwrap().0, 1);
    }

    #[test]
    fn an_open_hub_gives_each_new_key_a_fresh_session_and_drops_the_oldest() {
        let env: Arc<dyn Environment> = Arc::new(super::super::ChatOnly);
        let goal = crate::goals::demo_goals().remove(0);
        let hub = ToolHub::open_to_all(env, goal, 2);
        for k in ["a", "b", "a", "c"] {
            assert!(hub.call(k, "anything", &Value::Null).unwrap().is_err());
        }
        assert!(hub.inspect("a").is_err(), "the oldest session went first");
        assert_eq!(hub.inspect("b").unwrap().0, 1);
        assert_eq!(hub.inspect("c").unwrap().0, 1);
    }
}
