//! A dashboard with as many users as a test needs: the load harness's
//! upstream (`examples/bench_upstream.rs`), where any `userN@bench.test`
//! signs in with `bench-password`. The demo dashboard has four users; limits
//! that hold across many users need more to be seen.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::api::enable_totp;
use super::Browser;

#[path = "../../examples/bench_upstream.rs"]
mod bench_upstream;

pub const PASSWORD: &str = bench_upstream::PASSWORD;

pub fn email(i: usize) -> String {
    format!("user{i}@bench.test")
}

/// Starts the upstream on its own thread and runtime; returns its address
/// once it accepts connections.
pub fn start() -> SocketAddr {
    let addr = super::free_addr();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the crowd upstream");
        if let Err(e) = runtime.block_on(bench_upstream::serve(addr)) {
            panic!("crowd upstream stopped: {e}");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "crowd upstream never listened on {addr}");
        std::thread::sleep(Duration::from_millis(10));
    }
    addr
}

/// Turns TOTP on for users `0..n` through the gateway at `gateway`, all at
/// once; returns each user's recovery codes, by user number.
pub async fn enroll(gateway: SocketAddr, n: usize) -> Vec<Vec<String>> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                let mut b = Browser::new(gateway);
                b.login(&email(i), PASSWORD).await;
                assert!(b.jar.contains_key("dash_session"), "{} signs in", email(i));
                enable_totp(&mut b, PASSWORD).await.1
            })
        })
        .collect();
    let mut codes = Vec::with_capacity(n);
    for t in tasks {
        codes.push(t.await.expect("an enrollment"));
    }
    codes
}
