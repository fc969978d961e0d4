//! One interface for every model call in ugst.
//!
//! A [`Backend`] moves a [`ChatRequest`] to a model and back (HTTP endpoint, scripted responder, and
//! later the embedded model). [`Llm`] adds what every call needs regardless of backend: the SQLite
//! response [`Cache`], validation against the requested JSON Schema with one repair retry, and a
//! [`Ledger`] entry with role, tokens, latency, retries and cache hit.

mod backend;
mod bounded;
mod budget;
mod cache;
mod client;
mod error;
mod ledger;
mod openai;
pub mod params;
pub mod ranking;
mod remote;
#[cfg(any(test, feature = "testing"))]
mod scripted;
mod structured;
pub mod thinking;
mod types;

pub use backend::{Backend, CallStats, EngineFacts};
pub use bounded::Bounded;
pub use budget::{Budget, Price};
pub use cache::Cache;
pub use client::{extract_json, whole_json, Llm};
pub use error::LlmError;
pub use ledger::{CallRole, Ledger, LedgerEntry};
pub use openai::{
    parse_completion, parse_retry_after, redact_url, OpenAiBackend, OpenAiConfig, RetryPolicy,
};
pub use params::{TokenLimit, WireParams};
pub use remote::{AgentProtocol, RemoteAgent, RemoteConfig, RemoteTurn, Thread};
#[cfg(any(test, feature = "testing"))]
pub use scripted::ScriptedBackend;
pub use structured::{
    fit_limits, schema_instruction, strict_schema, strict_violations, Structured,
};
pub use types::*;
