//! Agent environments for ugst: plain data plus tools. Each environment gives the agent a policy
//! text and OpenAI-style tool schemas, executes tool calls against its own copy of a database,
//! and (where the benchmark defines one) computes the task reward.
//!
//! - [`tau`]: τ-bench airline/retail (byte-for-byte tool parity with the reference) and τ²-bench;
//! - [`multiwoz`]: the MultiWOZ database (hotel, restaurant, attraction, train) with search and
//!   booking tools;
//! - [`pyjson`] / [`calc`]: the Python-compatible JSON and arithmetic the τ tools need.

pub mod calc;
pub mod multiwoz;
pub mod pyjson;
pub mod tau;

/// A problem with environment data or arguments, worded for the user: what, where, and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EnvError(pub String);
