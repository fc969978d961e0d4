//! Servers: `ugst serve mock` (an OpenAI-compatible endpoint backed by the mock model, with fault
//! injection for testing clients and runs) and `ugst serve reward` (the UGST reward for GRPO).

pub mod mock;
pub mod reward;
