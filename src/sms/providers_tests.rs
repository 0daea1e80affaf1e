use super::*;
use hyper::body::Incoming;
use serde_json::json;
use tokio::sync::mpsc;

const CODE_TEXT: &str = "Your sign-in code is 123456 & it expires=soon";

/// What a fake provider saw of one request.
struct Seen {
    method: http::Method,
    target: String,
    headers: http::HeaderMap,
    body: Bytes,
}

/// A local HTTP/1 provider that records every request and answers `status`.
async fn provider_answering(status: u16) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen_tx = seen_tx.clone();
            let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
                let seen_tx = seen_tx.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let target = parts.uri.path_and_query().map(|pq| pq.to_string()).unwrap_or_default();
                    seen_tx
                        .send(Seen {
                            method: parts.method,
                            target,
                            headers: parts.headers,
                            body,
                        })
                        .unwrap();
                    let answer = http::Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::from_static(b"{}")));
                    Ok::<_, hyper::Error>(answer.unwrap())
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    (format!("http://{address}"), seen_rx)
}

fn header<'a>(seen: &'a Seen, name: &str) -> &'a str {
    seen.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn webhook_posts_json_with_the_auth_header() {
    let (base, mut seen) = provider_answering(200).await;
    let auth = Some(("Authorization".to_owned(), "Bearer xyz".to_owned()));
    let webhook = Webhook::new(
        &format!("{base}/hooks/sms?tenant=a%20b&x=1"),
        auth,
        Duration::from_secs(5),
    )
    .unwrap();

    webhook.send("+447700900123", CODE_TEXT).await.unwrap();

    let seen = seen.recv().await.unwrap();
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.target, "/hooks/sms?tenant=a%20b&x=1");
    assert_eq!(header(&seen, "host"), base.trim_start_matches("http://"));
    assert_eq!(header(&seen, "content-type"), "application/json");
    assert_eq!(header(&seen, "authorization"), "Bearer xyz");
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body, json!({"to": "+447700900123", "body": CODE_TEXT}));
    assert_eq!(webhook.name(), "webhook");
}

#[tokio::test]
async fn twilio_posts_the_form_with_basic_auth() {
    let (base, mut seen) = provider_answering(201).await;
    let twilio = Twilio::new(
        &format!("{base}/"),
        "AC123",
        "token",
        "+15005550006",
        Duration::from_secs(5),
    )
    .unwrap();

    twilio.send("+447700900123", CODE_TEXT).await.unwrap();

    let seen = seen.recv().await.unwrap();
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.target, "/2010-04-01/Accounts/AC123/Messages.json");
    let basic = base64::engine::general_purpose::STANDARD.encode("AC123:token");
    assert_eq!(header(&seen, "authorization"), format!("Basic {basic}"));
    assert_eq!(header(&seen, "content-type"), "application/x-www-form-urlencoded");
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&seen.body).unwrap();
    let expected = [("To", "+447700900123"), ("From", "+15005550006"), ("Body", CODE_TEXT)];
    assert_eq!(form, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    assert_eq!(twilio.name(), "twilio");
}

#[tokio::test]
async fn provider_500_is_refused_with_the_status() {
    let (base, _seen) = provider_answering(500).await;
    let webhook = Webhook::new(&base, None, Duration::from_secs(5)).unwrap();
    let twilio = Twilio::new(&base, "AC123", "token", "+15005550006", Duration::from_secs(5)).unwrap();

    assert!(matches!(
        webhook.send("+447700900123", CODE_TEXT).await,
        Err(ProviderError::Refused(500))
    ));
    assert!(matches!(
        twilio.send("+447700900123", CODE_TEXT).await,
        Err(ProviderError::Refused(500))
    ));
}

#[tokio::test]
async fn provider_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // Accepts and holds connections open without ever reading or answering.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let timeout = Duration::from_millis(300);
    let webhook = Webhook::new(&format!("http://{address}/"), None, timeout).unwrap();

    let started = std::time::Instant::now();
    let result = webhook.send("+447700900123", CODE_TEXT).await;

    assert!(
        matches!(result, Err(ProviderError::Timeout(t)) if t == timeout),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn unreachable_provider_is_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let webhook = Webhook::new(&format!("http://{address}/"), None, Duration::from_secs(5)).unwrap();

    match webhook.send("+447700900123", CODE_TEXT).await {
        Err(ProviderError::Unreachable(message)) => {
            assert!(message.contains(&address.to_string()), "{message}");
            assert!(!message.contains("123456"), "the code leaked: {message}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

/// Removes the test's outbox file even when an assertion fails.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn outbox_appends_one_json_line_per_message() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let file = TempFile(std::env::temp_dir().join(format!("tfa-outbox-{}-{nanos}.jsonl", std::process::id())));
    let outbox = Outbox::new(file.0.clone());
    // Large enough that a torn write would show up as a broken line.
    let (long_a, long_b) = ("a".repeat(200_000), "b".repeat(200_000));

    outbox.send("+447700900123", CODE_TEXT).await.unwrap();
    let (a, b) = tokio::join!(
        outbox.send("+15005550006", &long_a),
        outbox.send("+15005550007", &long_b)
    );
    a.unwrap();
    b.unwrap();

    let written = std::fs::read_to_string(&file.0).unwrap();
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], json!({"to": "+447700900123", "body": CODE_TEXT}));
    assert!(lines.contains(&json!({"to": "+15005550006", "body": long_a})));
    assert!(lines.contains(&json!({"to": "+15005550007", "body": long_b})));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file.0).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(outbox.name(), "outbox");
}

#[tokio::test]
async fn urls_with_other_schemes_are_refused() {
    let timeout = Duration::from_secs(1);
    for url in [
        "ftp://example.com/sms",
        "file:///tmp/sms",
        "ws://example.com/",
        "not a url",
        "http://u:secret@x/",
    ] {
        match Webhook::new(url, None, timeout) {
            Err(ProviderError::Config(message)) => assert!(!message.contains("secret"), "{message}"),
            other => panic!("{url} should be refused, got {:?}", other.err()),
        }
    }
    let twilio = Twilio::new("ftp://api.twilio.com", "AC123", "token", "+15005550006", timeout);
    assert!(matches!(twilio, Err(ProviderError::Config(_))));
}
