//! ugst: User Goal State Tracking for LLM user simulators.
//!
//! The modules in the order the data flows:
//!
//! - [`model`]: the records every stage shares (goal, transcript, run) — start here;
//! - [`goals`] reads goal files → [`decompose`] turns a goal into S0 → [`simulate`] runs the
//!   simulated user ↔ agent (↔ environment tools), with [`track`] judging every turn →
//!   [`store`] keeps each run in SQLite ([`runner`] drives many conversations);
//! - [`evaluate`] computes a run's metrics → [`report`] renders them (text and HTML) ·
//!   [`export`] writes conversations and training data;
//! - [`reward`] scores a candidate user turn for GRPO; [`serve`] puts the reward and the
//!   simulator on HTTP.
//!
//! Beside the pipeline: [`import`] (τ-bench logs as runs), [`ab`] (simulator modes compared),
//! [`agree`] (agreement with human labels), [`replay`] (environment parity with τ-bench), [`generate`] (MultiWOZ goal sets).
//! Shared ground: [`config`] and [`roles`] (which model plays which role), [`prompts`] (templates
//! and every schema), [`text`], [`progress`], [`error`]. The mock model lives in crate
//! `ugst-mock`, the command line in `ugst-cli`; this crate names neither.

pub mod model;

pub mod decompose;
pub mod goals;
pub mod runner;
pub mod simulate;
pub mod store;
pub mod track;

pub mod evaluate;
pub mod export;
pub mod report;

pub mod reward;
pub mod serve;

pub mod ab;
pub mod agree;
pub mod counterfactual;
pub mod generate;
pub mod import;
pub mod replay;

pub mod config;
pub mod error;
pub mod progress;
pub mod prompts;
pub mod roles;
pub mod text;
