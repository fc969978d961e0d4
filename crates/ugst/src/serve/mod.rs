//! Servers: `ugst serve mock` (an OpenAI-compatible endpoint backed by the mock model, with fault
//! injection for testing clients and runs), `ugst serve reward` (the UGST reward for GRPO) and
//! `ugst serve simulator` (the goal-state-steered simulator as an OpenAI-compatible endpoint).

pub mod mock;
pub mod reward;
pub mod simulator;
