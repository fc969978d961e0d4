//! ugst: User Goal State Tracking for LLM user simulators.
//!
//! Data flows left to right through the modules:
//! [`goals`] (read goal files) → [`decompose`] (goal → S0) → [`simulate`] (simulator ↔ agent ↔
//! environment, with [`track`] judging every turn) → [`store`] (one SQLite file per run) →
//! [`evaluate`] / [`report`] / [`export`]. [`runner`] drives many conversations; [`config`] picks the model for
//! each role; [`mock`] and [`serve`] provide an offline model and endpoint; [`bench`] measures.

pub mod ab;
pub mod agree;
pub mod bench;
pub mod config;
pub mod decompose;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod generate;
pub mod goals;
pub mod mock;
pub mod prompts;
pub mod replay;
pub mod report;
pub mod reward;
pub mod runner;
pub mod serve;
pub mod simulate;
pub mod store;
pub mod track;
