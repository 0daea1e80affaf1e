//! Where the legacy SMS factor's codes actually go. The factor's rules (numbers,
//! codes, rate limits) live in the parent module and must not care which SMS
//! gateway an operator pays for, so every gateway sits behind [`SmsProvider`]
//! and is chosen in config: a file outbox for the demo, a generic webhook for
//! in-house relays, and Twilio. The two HTTP providers share a deliberately
//! tiny client here rather than pulling in a full HTTP client stack for one
//! POST per login.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use url::{Host, Position, Url};

/// Providers answer with a short status document; anything longer is not worth buffering.
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot write the SMS outbox {path}: {source}")]
    Outbox { path: String, source: std::io::Error },
    #[error("SMS provider unreachable: {0}")]
    Unreachable(String),
    #[error("SMS provider did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("SMS provider refused the message: HTTP {0}")]
    Refused(u16),
    #[error("SMS provider configuration: {0}")]
    Config(String),
}

/// Sends one text message. Implementations never log the body (it carries a code).
#[async_trait::async_trait]
pub trait SmsProvider: Send + Sync {
    async fn send(&self, to_e164: &str, body: &str) -> Result<(), ProviderError>;
    /// A short name for logs and metrics: "outbox", "webhook", "twilio".
    fn name(&self) -> &'static str;
}

#[derive(serde::Serialize)]
struct Message<'a> {
    to: &'a str,
    body: &'a str,
}

/// The demo's provider: appends one JSON line `{"to": "...", "body": "..."}` per
/// message to a file (created if missing, 0600 on unix, since it holds live codes).
pub struct Outbox {
    path: PathBuf,
    // O_APPEND already keeps whole writes together; the lock also covers the rare
    // short write, which would otherwise let another line land in the middle.
    lock: Arc<Mutex<()>>,
}

impl Outbox {
    pub fn new(path: PathBuf) -> Self {
        Outbox {
            path,
            lock: Arc::new(Mutex::new(())),
        }
    }
}

#[async_trait::async_trait]
impl SmsProvider for Outbox {
    async fn send(&self, to_e164: &str, body: &str) -> Result<(), ProviderError> {
        let failed = |source| ProviderError::Outbox {
            path: self.path.display().to_string(),
            source,
        };
        let mut line = serde_json::to_vec(&Message { to: to_e164, body }).map_err(|e| failed(e.into()))?;
        line.push(b'\n');
        let (path, lock) = (self.path.clone(), Arc::clone(&self.lock));
        // File I/O blocks; keep it off the proxy's worker threads.
        let written = tokio::task::spawn_blocking(move || append_line(&path, &lock, &line)).await;
        written
            .map_err(io::Error::other)
            .and_then(|result| result)
            .map_err(failed)
    }

    fn name(&self) -> &'static str {
        "outbox"
    }
}

fn append_line(path: &Path, lock: &Mutex<()>, line: &[u8]) -> io::Result<()> {
    // A panic elsewhere cannot leave a half-written line behind the guard, so poisoning is harmless.
    let _guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(line)
}

/// A generic webhook: POST `{url}` with JSON `{"to": "...", "body": "..."}` and one
/// optional auth header such as `("Authorization", "Bearer xyz")`. Any 2xx is success.
pub struct Webhook {
    client: HttpClient,
    auth: Option<(HeaderName, HeaderValue)>,
}

impl Webhook {
    pub fn new(url: &str, auth_header: Option<(String, String)>, timeout: Duration) -> Result<Self, ProviderError> {
        let auth = match auth_header {
            None => None,
            Some((name, value)) => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| ProviderError::Config(format!("{name:?} is not a valid header name")))?;
                // The value is a secret: say which header is wrong, never what it holds.
                let mut value = HeaderValue::from_str(&value)
                    .map_err(|_| ProviderError::Config(format!("the value of the {name} header is not valid")))?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        Ok(Webhook {
            client: HttpClient::new(url, timeout)?,
            auth,
        })
    }
}

#[async_trait::async_trait]
impl SmsProvider for Webhook {
    async fn send(&self, to_e164: &str, body: &str) -> Result<(), ProviderError> {
        let payload = serde_json::to_vec(&Message { to: to_e164, body })
            .map_err(|e| ProviderError::Config(format!("cannot encode the message: {e}")))?;
        let mut headers = vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        headers.extend(self.auth.clone());
        let status = self.client.post(headers, payload.into()).await?;
        accept(self.name(), status)
    }

    fn name(&self) -> &'static str {
        "webhook"
    }
}

/// Twilio's Messages API: POST `{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`
/// with HTTP Basic auth and a `To`/`From`/`Body` form. Twilio answers 201 on success.
pub struct Twilio {
    client: HttpClient,
    authorization: HeaderValue,
    from: String,
}

impl Twilio {
    pub fn new(
        base_url: &str,
        account_sid: &str,
        auth_token: &str,
        from: &str,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        // The SID goes into the URL path unescaped, so only accept what Twilio issues.
        if account_sid.is_empty() || !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ProviderError::Config(
                "the Twilio account SID must be letters and digits".into(),
            ));
        }
        if auth_token.is_empty() || from.is_empty() {
            return Err(ProviderError::Config(
                "Twilio needs an auth token and a sender number".into(),
            ));
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
            base_url.trim_end_matches('/')
        );
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{account_sid}:{auth_token}"));
        let mut authorization = HeaderValue::from_str(&format!("Basic {credentials}"))
            .map_err(|_| ProviderError::Config("the Twilio credentials do not fit in a header".into()))?;
        authorization.set_sensitive(true);
        Ok(Twilio {
            client: HttpClient::new(&url, timeout)?,
            authorization,
            from: from.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl SmsProvider for Twilio {
    async fn send(&self, to_e164: &str, body: &str) -> Result<(), ProviderError> {
        let form = serde_urlencoded::to_string([("To", to_e164), ("From", &self.from), ("Body", body)])
            .map_err(|e| ProviderError::Config(format!("cannot encode the message: {e}")))?;
        let headers = vec![
            (
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            ),
            (AUTHORIZATION, self.authorization.clone()),
        ];
        let status = self.client.post(headers, form.into()).await?;
        accept(self.name(), status)
    }

    fn name(&self) -> &'static str {
        "twilio"
    }
}

fn accept(provider: &'static str, status: u16) -> Result<(), ProviderError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    tracing::warn!(provider, status, "SMS provider refused the message");
    Err(ProviderError::Refused(status))
}

/// One fixed endpoint, one POST per call, a fresh connection each time: SMS
/// volume is a few messages a minute, so pooling would only add failure modes.
struct HttpClient {
    connect_host: String,
    port: u16,
    /// `host:port` as the URL spells it, for error messages.
    endpoint: String,
    host_header: HeaderValue,
    path_and_query: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
}

impl HttpClient {
    // Errors here never quote the URL: webhook URLs often carry a token in the query.
    fn new(raw: &str, timeout: Duration) -> Result<Self, ProviderError> {
        let config = |message: &str| ProviderError::Config(message.to_owned());
        let url = Url::parse(raw).map_err(|e| ProviderError::Config(format!("invalid provider URL: {e}")))?;
        let secure = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(ProviderError::Config(format!(
                    "provider URL must be http or https, not {other}"
                )))
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(config(
                "the provider URL must not carry a user or password; use the auth settings",
            ));
        }
        // Brackets belong in the Host header but not in the address we connect to.
        let connect_host = match url.host() {
            Some(Host::Domain(domain)) => domain.to_owned(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(config("the provider URL has no host")),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| config("the provider URL has no port"))?;
        let host = url.host_str().unwrap_or(&connect_host);
        let endpoint = format!("{host}:{port}");
        let host_header = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let host_header = HeaderValue::from_str(&host_header).map_err(|_| config("the provider host is not valid"))?;
        let tls = if secure {
            let name = ServerName::try_from(connect_host.clone())
                .map_err(|_| config("the provider host is not a valid TLS server name"))?;
            Some((tls_connector()?, name))
        } else {
            None
        };
        let path_and_query = url[Position::BeforePath..Position::AfterQuery].to_owned();
        Ok(HttpClient {
            connect_host,
            port,
            endpoint,
            host_header,
            path_and_query,
            tls,
            timeout,
        })
    }

    /// Returns the answer's status; the whole exchange, connect included, is bounded
    /// so a stuck provider cannot hold a login open.
    async fn post(&self, headers: Vec<(HeaderName, HeaderValue)>, body: Bytes) -> Result<u16, ProviderError> {
        let mut request = http::Request::post(self.path_and_query.as_str()).header(HOST, self.host_header.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(answer) => answer,
            Err(_) => Err(ProviderError::Timeout(self.timeout)),
        }
    }

    async fn exchange(&self, request: http::Request<Full<Bytes>>) -> Result<u16, ProviderError> {
        let endpoint = &self.endpoint;
        let tcp = TcpStream::connect((self.connect_host.as_str(), self.port))
            .await
            .map_err(|e| ProviderError::Unreachable(format!("{endpoint}: {e}")))?;
        // Only a latency tweak for a tiny request; failing to set it changes nothing else.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => round_trip(tcp, request).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| ProviderError::Unreachable(format!("TLS with {endpoint}: {e}")))?;
                round_trip(tls, request).await
            }
        }
    }
}

fn tls_connector() -> Result<TlsConnector, ProviderError> {
    let certs = rustls_native_certs::load_native_certs()
        .map_err(|e| ProviderError::Config(format!("cannot load the system's root certificates: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(ProviderError::Config(
            "no usable root certificates in the system store".into(),
        ));
    }
    // Naming the crypto provider avoids relying on a process-wide default, which rustls will not
    // guess when more than one backend is linked into the binary.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ProviderError::Config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn round_trip<IO>(io: IO, request: http::Request<Full<Bytes>>) -> Result<u16, ProviderError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(unreachable)?;
    let exchange = async move {
        let response = sender.send_request(request).await.map_err(unreachable)?;
        let status = response.status().as_u16();
        // Drained only so the exchange ends cleanly; never logged, as a provider may echo the message.
        if let Err(e) = Limited::new(response.into_body(), MAX_ANSWER).collect().await {
            tracing::debug!(status, error = %e, "SMS provider answer not read in full");
        }
        Ok(status)
    };
    let mut exchange = std::pin::pin!(exchange);
    // The connection is driven here rather than spawned so the timeout cancels all of it.
    let mut connection = Box::pin(connection);
    let closed = tokio::select! {
        answer = &mut exchange => return answer,
        closed = &mut connection => closed,
    };
    // Dropping the connection closes its channels, so the exchange now ends at once
    // with whatever had already arrived (a status, or hyper's own error).
    drop(connection);
    match (exchange.await, closed) {
        (Ok(status), _) => Ok(status),
        (Err(_), Err(e)) => Err(unreachable(e)),
        (Err(e), Ok(())) => Err(e),
    }
}

/// hyper's own message names only the kind; the cause (e.g. "connection reset") is in the source chain.
fn unreachable(error: hyper::Error) -> ProviderError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ProviderError::Unreachable(message)
}

#[cfg(test)]
#[path = "providers_tests.rs"]
mod tests;
