//! The mock model: deterministic, rule-based answers for every ugst role, instant and offline,
//! in process ([`MockBackend`], `provider = "mock"`) or over HTTP with fault injection
//! ([`serve`], `ugst serve mock`). It recognises requests by the schema names of
//! `ugst::prompts::schemas` and by the request kind; the core crate never names this crate.
//! `tests/mock_contract.rs` pins what it promises.

pub mod model;
pub mod serve;

pub use model::{respond, MockBackend};
pub use serve::{Fault, Faults};

use std::sync::Arc;
use ugst::roles::RoleModels;
use ugst_llm::{Cache, Llm};

/// Every role on one in-process mock model, without a cache.
pub fn role_models() -> RoleModels {
    RoleModels::single(Llm::new(
        Arc::new(MockBackend::new("mock")),
        Arc::new(Cache::disabled()),
    ))
}
