//! An environment's tools as an MCP server (on the `rmcp` crate, the MCP project's Rust SDK):
//! `tools/list` gives the environment's tools with their JSON Schemas, `tools/call` runs one in
//! a session of a [`ToolHub`]. Over stdio the process is one session; over streamable HTTP the
//! session is named by the URL path, `/mcp/{key}` (ugst hands each conversation its own key;
//! an outside client picks any, and a bare `/mcp` uses the MCP session id), so concurrent
//! conversations never see each other's database. `GET /sessions/{key}` says what a session has
//! done: its calls, whether the conversation was handed off, and the task reward so far.

use crate::simulate::env::hub::ToolHub;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Value};
use std::sync::Arc;

/// The route prefix of the MCP endpoint.
pub const MCP_PATH: &str = "/mcp";

/// The key a stdio server's one session is held under.
const STDIO_KEY: &str = "stdio";

/// One MCP connection's view of the hub.
#[derive(Clone)]
struct McpTools {
    hub: Arc<ToolHub>,
    /// Stdio: the one session; HTTP: `None`, the key comes from each request.
    key: Option<String>,
}

impl McpTools {
    /// The session a request is for: the path's last part after `/mcp/`, else the MCP session
    /// id header, else one shared default.
    fn key_of(&self, context: &RequestContext<RoleServer>) -> String {
        if let Some(k) = &self.key {
            return k.clone();
        }
        let Some(parts) = context.extensions.get::<axum::http::request::Parts>() else {
            return "default".into();
        };
        let path = parts.uri.path();
        match path.strip_prefix(MCP_PATH).map(|p| p.trim_matches('/')) {
            Some(k) if !k.is_empty() => k.to_string(),
            _ => parts
                .headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(|v| format!("session-{v}"))
                .unwrap_or_else(|| "default".into()),
        }
    }
}

impl ServerHandler for McpTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("ugst-tools", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "The tools of one benchmark environment (τ-bench, τ²-bench, MultiWOZ); every \
                 call reads and changes this session's own copy of the database.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = self.hub.tools().iter().map(to_mcp_tool).collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let key = self.key_of(&context);
        let name = request.name.to_string();
        if !self.hub.tools().iter().any(|t| t.name == name) {
            return Err(McpError::invalid_params(
                format!("unknown tool {name:?}; tools/list names this environment's tools"),
                None,
            ));
        }
        let args = Value::Object(request.arguments.unwrap_or_default());
        let out = self
            .hub
            .call(&key, &name, &args)
            .map_err(|e| McpError::invalid_params(e.to_string(), None))?;
        Ok(match out {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!("Error: {e}"))]),
        }
        .into())
    }
}

/// An environment tool as MCP describes one; a schema that is not an object becomes an empty
/// object schema.
fn to_mcp_tool(t: &ugst_llm::ToolSpec) -> Tool {
    let schema = match &t.parameters {
        Value::Object(m) => m.clone(),
        _ => json!({"type": "object", "properties": {}})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    Tool::new(t.name.clone(), t.description.clone(), Arc::new(schema))
}

/// Serves the hub's tools over stdin/stdout until the client closes them.
pub async fn serve_stdio(hub: Arc<ToolHub>) -> anyhow::Result<()> {
    let tools = McpTools {
        hub,
        key: Some(STDIO_KEY.into()),
    };
    let running = tools
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("MCP over stdio: the client's handshake failed: {e}"))?;
    running.waiting().await?;
    Ok(())
}

/// The MCP endpoint (`/mcp`, `/mcp/{key}`) and the session report (`/sessions/{key}`) as one
/// router for a server bound to `addr` on `--host host`: the hub learns its base URL, and the
/// endpoint accepts those two as Host headers beside loopback (MCP's guard against DNS
/// rebinding).
pub fn router(hub: Arc<ToolHub>, host: &str, addr: std::net::SocketAddr) -> Router {
    hub.set_base(format!("http://{addr}{MCP_PATH}"));
    let mut allowed: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    allowed.extend([host.to_string(), addr.to_string()]);
    let service_hub = hub.clone();
    let mcp = StreamableHttpService::new(
        move || {
            Ok(McpTools {
                hub: service_hub.clone(),
                key: None,
            })
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_allowed_hosts(allowed),
    );
    Router::new()
        .route_service(MCP_PATH, mcp.clone())
        .route_service(&format!("{MCP_PATH}/{{key}}"), mcp)
        .route("/sessions/{key}", get(session_report))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(hub)
}

async fn session_report(
    State(hub): State<Arc<ToolHub>>,
    Path(key): Path<String>,
) -> impl IntoResponse {
    match hub.inspect(&key) {
        Ok((calls, ended, reward)) => (
            StatusCode::OK,
            Json(json!({"key": key, "calls": calls, "ended": ended, "task_reward": reward})),
        ),
        Err(e) => (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()}))),
    }
}
