//! An upstream that answers every request with `200 ok` and keeps each
//! request's headers, so a test sees exactly what the gateway forwarded and
//! how many requests reached it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

#[derive(Clone, Default)]
pub struct Recorder {
    seen: Arc<Mutex<Vec<(String, HeaderMap)>>>,
}

impl Recorder {
    /// Starts listening on a loopback port of the test's runtime.
    pub async fn start() -> (SocketAddr, Recorder) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let recorder = Recorder::default();
        let seen = recorder.seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        seen.lock()
                            .unwrap()
                            .push((req.uri().path().to_string(), req.headers().clone()));
                        async { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok")))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, recorder)
    }

    /// How many requests for `path` arrived.
    pub fn count(&self, path: &str) -> usize {
        self.seen.lock().unwrap().iter().filter(|(p, _)| p == path).count()
    }

    /// How many requests arrived, for any path.
    pub fn total(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The values of header `name` on the last request for `path`.
    pub fn last(&self, path: &str, name: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        let (_, headers) = seen
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .expect("a request for the path");
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("?").to_string())
            .collect()
    }
}
