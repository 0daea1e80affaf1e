//! The dashboard's WebSocket echo endpoint, for checking upgrades through the gateway.

use super::*;

pub(super) fn websocket(state: &State, mut req: Request<Incoming>) -> Resp {
    if current_user(state, req.headers()).is_none() {
        return text(StatusCode::UNAUTHORIZED, "not signed in");
    }
    let headers = req.headers();
    let key = match headers.get(SEC_WEBSOCKET_KEY) {
        Some(key) if has_token(headers, &UPGRADE, "websocket") && has_token(headers, &CONNECTION, "upgrade") => key,
        _ => return text(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade"),
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
                echo(ws).await;
            }
            Err(error) => tracing::debug!(%error, "dashboard WebSocket upgrade failed"),
        }
    });
    let headers = [
        (UPGRADE, "websocket"),
        (CONNECTION, "Upgrade"),
        (SEC_WEBSOCKET_ACCEPT, &accept),
    ];
    respond(StatusCode::SWITCHING_PROTOCOLS, &headers, Bytes::new())
}

async fn echo<S>(mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // Pongs and the closing handshake are answered by tungstenite itself while
    // we keep reading, so only data frames need explicit handling.
    while let Some(message) = ws.next().await {
        match message {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                if let Err(error) = ws.send(msg).await {
                    tracing::debug!(%error, "dashboard WebSocket send failed");
                    break;
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(%error, "dashboard WebSocket closed");
                break;
            }
        }
    }
}

/// `Connection` is a comma-separated token list (e.g. `keep-alive, Upgrade`).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}
