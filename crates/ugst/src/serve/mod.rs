//! Servers: `ugst serve reward` (the UGST reward for GRPO) and `ugst serve simulator` (the
//! goal-state-steered simulator as an OpenAI-compatible endpoint) and `ugst serve tools` (an
//! environment's tools over MCP). The mock model's endpoint,
//! `ugst serve mock`, lives in crate `ugst-mock`.

pub mod http;
pub mod limits;
pub mod memo;
pub mod reward;
pub mod simulator;
pub mod tools;
pub mod wire;

pub use http::Exposure;
pub use limits::Limits;

/// Binds a server's address; a taken port is bad input with the fix named.
pub async fn listen(host: &str, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| crate::input_err!("cannot listen on {host}:{port}: {e}; pick another --port"))
}
