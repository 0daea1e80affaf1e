//! The load harness's fixed-rate client (issue 18, latency): requests go
//! out on a schedule, not as fast as answers come back, so a slow answer
//! cannot hide the requests that would have queued behind it (coordinated
//! omission, the flaw wrk2 fixes in wrk). Each latency is measured from when
//! its request was due, not from when it was sent. Prints one JSON line:
//! the rate asked and reached, requests, errors and the latency percentiles
//! in microseconds.
//!
//! `cargo run --release --example bench_rate -- --target 127.0.0.1:8090 \
//!   --path /api/me --rate 1000 --seconds 30 --connections 16 \
//!   --header 'cookie: tfa_session=...'`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

struct Args {
    target: SocketAddr,
    path: String,
    rate: f64,
    seconds: f64,
    connections: usize,
    headers: Vec<(String, String)>,
}

fn args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut a = Args {
        target: "127.0.0.1:8080".parse()?,
        path: "/".into(),
        rate: 1000.0,
        seconds: 10.0,
        connections: 16,
        headers: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--target" => a.target = value.parse()?,
            "--path" => a.path = value,
            "--rate" => a.rate = value.parse()?,
            "--seconds" => a.seconds = value.parse()?,
            "--connections" => a.connections = value.parse()?,
            "--header" => {
                let (name, v) = value.split_once(':').ok_or("a header is NAME: VALUE")?;
                a.headers.push((name.trim().to_string(), v.trim().to_string()));
            }
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if a.rate <= 0.0 || a.connections == 0 {
        return Err("--rate and --connections must be positive".into());
    }
    Ok(a)
}

/// What one connection saw: each request's latency in µs, and its errors.
struct Seen {
    latencies: Vec<u64>,
    errors: u64,
}

/// One keep-alive connection sending every `every`, from `start + offset`
/// until `end`. A request that falls behind is sent at once and its wait
/// counts: the latency is from its due time.
async fn connection(a: &Args, start: Instant, offset: Duration, every: Duration, end: Instant) -> Seen {
    let mut seen = Seen {
        latencies: Vec::new(),
        errors: 0,
    };
    let mut sender = None;
    let mut due = start + offset;
    while due < end {
        tokio::time::sleep_until(due.into()).await;
        if sender.is_none() {
            sender = match TcpStream::connect(a.target).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    match http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tcp)).await {
                        Ok((s, conn)) => {
                            tokio::spawn(conn);
                            Some(s)
                        }
                        Err(_) => None,
                    }
                }
                Err(_) => None,
            };
        }
        let ok = match sender.as_mut() {
            Some(s) => {
                let mut req = hyper::Request::get(a.path.as_str()).header("host", a.target.to_string());
                for (n, v) in &a.headers {
                    req = req.header(n.as_str(), v.as_str());
                }
                match s.send_request(req.body(Empty::new()).expect("a valid request")).await {
                    Ok(resp) => {
                        let good = resp.status().is_success() || resp.status().is_redirection();
                        good && resp.into_body().collect().await.is_ok()
                    }
                    Err(_) => false,
                }
            }
            None => false,
        };
        if ok {
            seen.latencies.push(due.elapsed().as_micros() as u64);
        } else {
            seen.errors += 1;
            sender = None; // a new connection for the next one
        }
        due += every;
    }
    seen
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Arc::new(args()?);
    // Each connection takes every n-th slot of the schedule, staggered.
    let every = Duration::from_secs_f64(a.connections as f64 / a.rate);
    let slot = Duration::from_secs_f64(1.0 / a.rate);
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs_f64(a.seconds);
    let mut runs = tokio::task::JoinSet::new();
    for i in 0..a.connections {
        let a = a.clone();
        runs.spawn(async move { connection(&a, start, slot * i as u32, every, end).await });
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    while let Some(seen) = runs.join_next().await {
        let seen = seen?;
        all.extend(seen.latencies);
        errors += seen.errors;
    }
    all.sort_unstable();
    println!(
        "{{\"rate\":{},\"reached\":{:.1},\"requests\":{},\"errors\":{},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
        a.rate,
        all.len() as f64 / a.seconds,
        all.len(),
        errors,
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        percentile(&all, 99.9),
        all.last().copied().unwrap_or(0)
    );
    Ok(())
}
