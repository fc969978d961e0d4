//! Serving a router the way an operator can expose it: a header read timeout (an idle
//! half-open connection is closed, not kept until file descriptors run out), a body read
//! timeout, a cap on open connections, an optional Bearer key on every route but the health
//! probes, one log line per request, and a graceful shutdown that drains requests in flight.
//!
//! Built on hyper-util's connection builder rather than `axum::serve`, which runs hyper without
//! a timer (so hyper's header timeout is off) and has no connection cap.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// The routes a load balancer probes: never behind the key.
pub const HEALTH_ROUTES: [&str; 2] = ["/health", "/healthz"];

/// How a server faces the network. Every number is an operator's flag.
#[derive(Debug, Clone)]
pub struct Exposure {
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body.
    pub body_timeout: Duration,
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish.
    pub drain: Duration,
    /// The Bearer key every route but [`HEALTH_ROUTES`] needs; `None`: no key.
    pub api_key: Option<String>,
}

impl Default for Exposure {
    fn default() -> Self {
        Exposure {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            max_connections: 512,
            drain: Duration::from_secs(30),
            api_key: None,
        }
    }
}

/// Whether `host` is reachable only from this machine.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits up to
/// `exposure.drain` for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    exposure: &Exposure,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let key = exposure.api_key.clone().map(Arc::<str>::from);
    let app = app
        .layer(axum::middleware::from_fn_with_state(key, guard))
        .layer(RequestBodyTimeoutLayer::new(exposure.body_timeout))
        .layer(axum::middleware::from_fn(log_line));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(exposure.header_timeout);
    let slots = Arc::new(Semaphore::new(exposure.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the connection slots are never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, never spin or stop serving.
                    tracing::warn!(target: "ugst::serve", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = TowerToHyperService::new(tower::service_fn(move |mut req: Request<_>| {
            req.extensions_mut().insert(Peer(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        }));
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    tracing::info!(target: "ugst::serve", "shutting down: draining requests in flight");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(exposure.drain) => {
            tracing::warn!(target: "ugst::serve", "requests still in flight after {:?}; closing them", exposure.drain);
        }
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The client's address, for the log line.
#[derive(Clone, Copy)]
struct Peer(SocketAddr);

/// One line per request: client, method, path, status, milliseconds.
async fn log_line(req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<Peer>().map(|p| p.0.to_string());
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let started = Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        target: "ugst::serve",
        "{} {method} {path} {} {} ms",
        peer.as_deref().unwrap_or("-"),
        resp.status().as_u16(),
        started.elapsed().as_millis()
    );
    resp
}

/// The Bearer key check. The comparison takes the same time wherever the keys differ.
async fn guard(State(key): State<Option<Arc<str>>>, req: Request, next: Next) -> Response {
    let Some(key) = key else {
        return next.run(req).await;
    };
    if HEALTH_ROUTES.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same(given.as_bytes(), key.as_bytes()) {
        next.run(req).await
    } else {
        let mut resp = super::wire::error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key: send `Authorization: Bearer <key>` with the key the server was started with (--api-key-env)",
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        resp
    }
}

/// Equality whose time does not depend on where two equal-length keys first differ. Written
/// here rather than taken from a crate: five lines, and the only constant-time need we have.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole_and_hosts_are_classified() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"k"));
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback("0.0.0.0"));
        assert!(!is_loopback("10.0.0.5"));
    }
}
