//! The operator's API on its own listener (loopback by default): every
//! request needs `Authorization: Bearer <token>`, the token read from a file
//! at start-up and compared in constant time. Served by Pingora as a plain
//! HTTP app beside the proxy, sharing the gateway's state.

pub mod client;
mod handlers;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use subtle::ConstantTimeEq;

pub use handlers::AdminReply;

use crate::gateway::Gateway;

/// Admin requests carry at most a small JSON object.
const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin token file {path}: {problem}")]
    Token { path: String, problem: String },
}

/// Reads the bearer token; it must be at least 16 characters.
pub fn read_token(path: &Path) -> Result<String, AdminError> {
    let err = |problem: String| AdminError::Token {
        path: path.display().to_string(),
        problem,
    };
    let token = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let token = token.trim().to_string();
    if token.len() < 16 {
        return Err(err("the token must be at least 16 characters".into()));
    }
    Ok(token)
}

pub struct AdminApp {
    gw: Arc<Gateway>,
    token: String,
}

impl AdminApp {
    pub fn new(gw: Arc<Gateway>, token: String) -> Self {
        AdminApp { gw, token }
    }

    fn authorized(&self, header: Option<&str>) -> bool {
        let presented = header.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
        presented.as_bytes().ct_eq(self.token.as_bytes()).into()
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let auth = req.headers.get("authorization").and_then(|v| v.to_str().ok());
        let reply = if !self.authorized(auth) {
            AdminReply::error(401, "unauthorized", "A valid bearer token is required.")
        } else {
            let method = req.method.to_string();
            let path = req.uri.path().to_string();
            let query: HashMap<String, String> = req
                .uri
                .query()
                .and_then(|q| serde_urlencoded::from_str(q).ok())
                .unwrap_or_default();
            match read_body(session).await {
                Some(body) => handlers::route(&self.gw, &method, &path, &query, &body).await,
                None => AdminReply::error(413, "too_large", "The request body is too large."),
            }
        };
        let mut response = Response::builder();
        if let Some(allow) = reply.allow {
            response = response.header("allow", allow);
        }
        response
            .status(reply.status)
            .header("content-type", reply.content_type)
            .header("cache-control", "no-store")
            .header("content-length", reply.body.len())
            .body(reply.body)
            .unwrap_or_else(|_| Response::new(Vec::new()))
    }
}

async fn read_body(session: &mut ServerSession) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return None;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Some(body),
            Err(_) => return Some(body),
        }
    }
}
