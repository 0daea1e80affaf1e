//! The gateway's own calls to the upstream, outside the proxied stream: the
//! sign-in it forwards itself so it can read the answer first, the identity
//! look-up with a fresh session cookie, and sign-outs of sessions it drops.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::config::{IdentitySpec, Route, Upstream};
use crate::identity::{Identity, IdentityError};

/// Largest upstream answer the gateway reads into memory.
const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to the upstream: {0}")]
    Connect(std::io::Error),
    #[error("upstream HTTP exchange failed: {0}")]
    Http(String),
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("upstream answered {0} to the identity request")]
    Status(StatusCode),
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, Clone)]
pub struct UpstreamClient {
    address: SocketAddr,
    host: HeaderValue,
    timeout: Duration,
    max_body: usize,
}

impl UpstreamClient {
    pub fn new(up: &Upstream) -> Self {
        UpstreamClient {
            address: up.address,
            // The host was validated as an address string; a value that is
            // still not a header value falls back to the socket address.
            host: HeaderValue::from_str(&up.host).unwrap_or_else(|_| {
                HeaderValue::from_str(&up.address.to_string()).unwrap_or(HeaderValue::from_static("localhost"))
            }),
            timeout: up.timeout,
            max_body: MAX_BODY,
        }
    }

    /// A client for any plain-HTTP peer (the admin CLI uses it too).
    pub fn plain(address: SocketAddr, timeout: Duration) -> Self {
        UpstreamClient {
            address,
            host: HeaderValue::from_str(&address.to_string()).unwrap_or(HeaderValue::from_static("localhost")),
            timeout,
            max_body: MAX_BODY,
        }
    }

    /// The same client, reading answers up to `max_body` bytes (an admin
    /// backup is the whole store).
    pub fn reading_up_to(self, max_body: usize) -> Self {
        UpstreamClient { max_body, ..self }
    }

    /// Sends one request on a new connection and reads the whole answer.
    /// A `Host` header is added unless the request has one.
    pub async fn send(&self, mut req: Request<Bytes>) -> Result<Answer, UpstreamError> {
        if !req.headers().contains_key(http::header::HOST) {
            req.headers_mut().insert(http::header::HOST, self.host.clone());
        }
        let exchange = async {
            let stream = TcpStream::connect(self.address).await.map_err(UpstreamError::Connect)?;
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| UpstreamError::Http(e.to_string()))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "upstream connection ended with an error");
                }
            });
            let (parts, body) = req.into_parts();
            let resp = sender
                .send_request(Request::from_parts(parts, Full::new(body)))
                .await
                .map_err(|e| UpstreamError::Http(e.to_string()))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, self.max_body)
                .collect()
                .await
                .map_err(|e| UpstreamError::Http(e.to_string()))?
                .to_bytes();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout))?
    }

    /// Asks the identity endpoint who owns the upstream session `cookie`.
    pub async fn identity(
        &self,
        spec: &IdentitySpec,
        cookie_name: &str,
        cookie: &str,
    ) -> Result<Identity, UpstreamError> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(spec.path.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::COOKIE, format!("{cookie_name}={cookie}"))
            .body(Bytes::new())
            .map_err(|e| UpstreamError::Http(e.to_string()))?;
        let answer = self.send(req).await?;
        if !answer.status.is_success() {
            return Err(UpstreamError::Status(answer.status));
        }
        Ok(Identity::from_json(&answer.body, spec)?)
    }

    /// Checks a password the way the upstream does: a sign-in attempt made by
    /// the gateway, server-side. A session it opens is signed out at once.
    /// `now` dates the answer's cookies (an expired one is no session).
    pub async fn check_password(
        &self,
        up: &Upstream,
        login: &str,
        password: &str,
        now: u64,
    ) -> Result<bool, UpstreamError> {
        let body = serde_urlencoded::to_string([
            (up.username_field.as_str(), login),
            (up.password_field.as_str(), password),
        ])
        .map_err(|e| UpstreamError::Http(e.to_string()))?;
        let req = Request::builder()
            .method(up.login.method.clone())
            .uri(up.login.path.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::CONTENT_LENGTH, body.len().to_string())
            .body(Bytes::from(body))
            .map_err(|e| UpstreamError::Http(e.to_string()))?;
        let answer = self.send(req).await?;
        let set_cookies = answer
            .headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let opened = crate::cookies::values_set(set_cookies, &up.session_cookie, now).next();
        match opened {
            Some(session) => {
                if let Err(e) = self.logout(&up.logout, &up.session_cookie, &session).await {
                    tracing::warn!(error = %e, "could not end the session opened to check a password");
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Signs an upstream session out, for sessions the gateway will not
    /// release. Best effort: the caller logs a failure and moves on.
    pub async fn logout(&self, route: &Route, cookie_name: &str, cookie: &str) -> Result<(), UpstreamError> {
        let req = Request::builder()
            .method(route.method.clone())
            .uri(route.path.as_str())
            .header(http::header::COOKIE, format!("{cookie_name}={cookie}"))
            .header(http::header::CONTENT_LENGTH, "0")
            .body(Bytes::new())
            .map_err(|e| UpstreamError::Http(e.to_string()))?;
        self.send(req).await.map(|_| ())
    }
}
