//! The load harness's fixed-rate client (issue 18, latency): requests go
//! out on a schedule, not as fast as answers come back, so a slow answer
//! cannot hide the requests that would have queued behind it (coordinated
//! omission, the flaw wrk2 fixes in wrk). Each latency is measured from when
//! its request was due, not from when it was sent. Prints one JSON line:
//! the rate asked and reached, requests, errors and the latency percentiles
//! in microseconds.
//!
//! One OS thread per keep-alive connection, blocking sockets: a thread
//! sleeps until its next request is due with the kernel's timer (tens of
//! microseconds late at worst), where an async runtime's timer wheel ticks
//! by the millisecond and would add up to a millisecond to every request.
//! Answers must carry `Content-Length` (the upstream's, nginx's and
//! Pingora's all do).
//!
//! `cargo run --release --example bench_rate -- --target 127.0.0.1:8090 \
//!   --path /api/me --rate 1000 --seconds 30 --connections 16 \
//!   --header 'cookie: tfa_session=...'`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    target: SocketAddr,
    path: String,
    rate: f64,
    seconds: f64,
    connections: usize,
    headers: Vec<String>,
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
                if !value.contains(':') || value.contains('\r') || value.contains('\n') {
                    return Err("a header is NAME: VALUE, on one line".into());
                }
                a.headers.push(value);
            }
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if a.rate <= 0.0 || a.connections == 0 {
        return Err("--rate and --connections must be positive".into());
    }
    Ok(a)
}

/// One keep-alive connection to the target.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(target: SocketAddr) -> std::io::Result<Conn> {
        let tcp = TcpStream::connect(target)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn {
            reader: BufReader::new(tcp.try_clone()?),
            writer: tcp,
        })
    }

    /// Sends `request` and reads the whole answer: whether its status was
    /// 2xx/3xx, and whether the server keeps the connection open (nginx
    /// closes one after `keepalive_requests`, 1000 by default).
    fn exchange(&mut self, request: &[u8]) -> std::io::Result<(bool, bool)> {
        self.writer.write_all(request)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let good = matches!(line.split(' ').nth(1), Some(s) if s.starts_with('2') || s.starts_with('3'));
        let (mut length, mut open) = (None, true);
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<u64>().ok();
                } else if name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close") {
                    open = false;
                }
            }
        }
        let length = length.ok_or_else(|| std::io::Error::other("an answer without Content-Length"))?;
        std::io::copy(&mut (&mut self.reader).take(length), &mut std::io::sink())?;
        Ok((good, open))
    }
}

/// What one connection saw: each request's latency in µs, and its errors.
#[derive(Default)]
struct Seen {
    latencies: Vec<u64>,
    errors: u64,
}

/// One connection sending every `every`, from `first` until `end`. A
/// request that falls behind is sent at once and its wait counts: the
/// latency is from its due time.
fn connection(a: &Args, request: &[u8], first: Instant, every: Duration, end: Instant) -> Seen {
    let mut seen = Seen::default();
    let mut conn = None;
    let mut due = first;
    while due < end {
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // A kept-alive connection the server closed meanwhile is tried
        // again once on a new one, as a browser retries a GET; a new
        // connection that fails is an error.
        let mut answer = None;
        for _ in 0..2 {
            let reused = conn.is_some();
            if conn.is_none() {
                conn = Conn::open(a.target).ok();
            }
            answer = conn.as_mut().and_then(|c| c.exchange(request).ok());
            if answer.is_some() || !reused {
                break;
            }
            conn = None;
        }
        match answer {
            Some((true, open)) => {
                seen.latencies.push(due.elapsed().as_micros() as u64);
                if !open {
                    conn = None;
                }
            }
            _ => {
                seen.errors += 1;
                conn = None;
            }
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Arc::new(args()?);
    let mut request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n", a.path, a.target);
    for h in &a.headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let request: Arc<[u8]> = Arc::from(request.into_bytes());
    // Each connection takes every n-th slot of the schedule, staggered.
    let every = Duration::from_secs_f64(a.connections as f64 / a.rate);
    let slot = Duration::from_secs_f64(1.0 / a.rate);
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs_f64(a.seconds);
    let threads: Vec<_> = (0..a.connections)
        .map(|i| {
            let (a, request) = (a.clone(), request.clone());
            std::thread::spawn(move || connection(&a, &request, start + slot * i as u32, every, end))
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in threads {
        let seen = t.join().map_err(|_| "a connection thread panicked")?;
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
