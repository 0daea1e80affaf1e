//! The load harness's upstream (`benches/load/run.sh`): a small fixed `200`
//! with keep-alive for every path, plus just enough of a dashboard for the
//! gateway to sign users in: `POST /login` (any email, password
//! `bench-password`) sets `dash_session`, `GET /api/me` answers who that is,
//! `POST /logout` clears it. The session cookie carries the email (hex), so
//! the responder keeps no state and the fixed answer costs nothing to make.
//!
//! `cargo run --release --example bench_upstream -- --listen 127.0.0.1:0 --threads 2`
//! prints `listening ADDR` once it accepts connections.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

const BODY: &[u8] = b"hello from the bench upstream\n";
pub const PASSWORD: &str = "bench-password";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse()?;
    let mut threads = 2usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value.parse()?,
            "--threads" => threads = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(serve(listen))
}

pub async fn serve(listen: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening {}", listener.local_addr()?);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let reply = match (req.method().as_str(), path) {
        ("POST", "/login") => login(req).await,
        ("GET", "/api/me") => me(&req),
        ("POST", "/logout") => Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header("location", "/login")
            .header("set-cookie", "dash_session=; Max-Age=0; Path=/")
            .body(Full::new(Bytes::new())),
        _ => Response::builder()
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from_static(BODY))),
    };
    Ok(reply.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

async fn login(req: Request<Incoming>) -> http::Result<Response<Full<Bytes>>> {
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match (field("email"), field("password")) {
        (Some(email), Some(PASSWORD)) if !email.is_empty() => {
            let hex: String = email.bytes().map(|b| format!("{b:02x}")).collect();
            let cookie = format!("dash_session={:016x}.{hex}; HttpOnly; Path=/", rand::random::<u64>());
            Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header("location", "/")
                .header("set-cookie", cookie)
                .body(Full::new(Bytes::new()))
        }
        _ => Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .body(Full::new(Bytes::from_static(b"wrong email or password\n"))),
    }
}

/// `{"id","email","accounts":[{"id","name","role"}]}` for the cookie's email:
/// user `user42@…` is `u-user42`, member of account `acct-42` modulo 1000,
/// as `seed_store` writes them.
fn me(req: &Request<Incoming>) -> http::Result<Response<Full<Bytes>>> {
    let email = req
        .headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix("dash_session="))
        .find_map(email_of);
    let Some(email) = email else {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .body(Full::new(Bytes::from_static(b"{\"error\":\"signed_out\"}")));
    };
    let local = email.split('@').next().unwrap_or_default();
    let n: u64 = local
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0);
    let account = format!("acct-{}", n % 1000);
    let body = serde_json::json!({
        "id": format!("u-{local}"),
        "email": email,
        "accounts": [{ "id": account, "name": account, "role": "member" }],
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
}

fn email_of(cookie: &str) -> Option<String> {
    let hex = cookie.split_once('.')?.1;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}
