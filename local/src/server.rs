//! Serves the router on 127.0.0.1 over HTTP/1.1, with the queues pumped in the
//! background as Lambda's event source mappings would. Every request passes the
//! [`guard`](crate::guard) first, so a web page in the developer's browser cannot use it.

use orderflow_shared::trace::TRACEPARENT;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use orderflow_shared::edge::http::ApiResponse;
use orderflow_shared::input::MAX_BODY_BYTES;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::guard;
use crate::pump;
use crate::router::{self, Reply};
use crate::runtime::Runtime;

/// Binds `127.0.0.1:port` (0 picks a free port) and returns the bound address with a
/// future that serves until dropped.
pub async fn bind(rt: Arc<Runtime>, port: u16) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let address = listener.local_addr()?;
    let serve = async move {
        // Every event source polled by a task of its own, stopped with the server.
        let _pollers = pump::Pollers::start(&rt, Duration::from_millis(50));
        // A manual clock fires the schedules when it is advanced; the system clock
        // fires them on time.
        if rt.manual_clock().is_none() {
            for schedule in rt.topology.schedules {
                tokio::spawn(pump::schedule_forever(rt.clone(), schedule));
            }
        }
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let rt = rt.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(rt.clone(), request));
                if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                    info!(error = %e, "connection closed");
                }
            });
        }
    };
    Ok((address, serve))
}

async fn answer(rt: Arc<Runtime>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().as_str().to_string();
    let path = request.uri().path_and_query().map_or_else(|| request.uri().path(), |p| p.as_str()).to_string();
    let reply = match guard::check_caller(request.headers()) {
        Ok(()) => read_and_route(&rt, &method, &path, request).await,
        // Refused before the body is read: nothing of it reaches the router.
        Err(refused) => Reply::from(refused),
    };
    info!(%method, %path, status = reply.status, "request");
    let mut response = Response::builder().status(reply.status);
    if !reply.headers.iter().any(|(name, _)| name == "content-type") {
        response = response.header("content-type", "application/json");
    }
    for (name, value) in &reply.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    if let Some(traceparent) = &reply.traceparent {
        response = response.header(TRACEPARENT, traceparent.as_str());
    }
    if let Some(allow) = &reply.allow {
        response = response.header("allow", allow.as_str());
    }
    let response =
        response.body(Full::new(Bytes::from(reply.body))).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    Ok(response)
}

async fn read_and_route(rt: &Runtime, method: &str, path: &str, request: Request<Incoming>) -> Reply {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            let message = format!("larger than the {MAX_BODY_BYTES} byte limit");
            return ApiResponse::error(413, "validation_failed", &message, Some("body")).into();
        }
    };
    match guard::check_body(&parts.headers, body.len()) {
        Ok(()) => {
            let header = |name| parts.headers.get(name).and_then(|v: &hyper::header::HeaderValue| v.to_str().ok());
            let headers = router::Headers {
                authorization: header(hyper::header::AUTHORIZATION.as_str()),
                traceparent: header(TRACEPARENT),
            };
            router::handle_headers(rt, method, path, headers, &body).await
        }
        Err(refused) => refused.into(),
    }
}
