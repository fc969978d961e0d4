//! Servers: `ugst serve mock` (an OpenAI-compatible endpoint backed by the mock model, with fault
//! injection for testing clients and runs).

pub mod mock;
