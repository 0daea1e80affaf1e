//! The load harness's baseline (`benches/load/run.sh`): a bare Pingora
//! proxy built from the same Pingora as the gateway, with the gateway's
//! server settings (threads, shutdown timings, `ServerConf` defaults
//! otherwise) and its upstream peer built the same way, from an address
//! parsed once. It forwards every request unchanged and logs nothing, so
//! the gap between it and the gateway is what the gateway's work costs.
//!
//! `cargo run --release --example bench_passthrough -- --listen 127.0.0.1:8090 \
//!   --upstream 127.0.0.1:8091 --threads 2 --dir /tmp/passthrough`

use std::net::SocketAddr;
use std::path::PathBuf;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;

struct Passthrough {
    peer: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.peer, false, String::new())))
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut listen: Option<SocketAddr> = None;
    let mut upstream: Option<SocketAddr> = None;
    let mut threads = 2usize;
    let mut dir = std::env::temp_dir().join("tfa-bench-passthrough");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value.parse()?),
            "--upstream" => upstream = Some(value.parse()?),
            "--threads" => threads = value.parse()?,
            "--dir" => dir = PathBuf::from(value),
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let (Some(listen), Some(peer)) = (listen, upstream) else {
        return Err("give --listen ADDR and --upstream ADDR".into());
    };
    std::fs::create_dir_all(&dir)?;
    // As `tfa_gateway::server::build` sets them (demo: 1 s grace).
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        pid_file: dir.join("passthrough.pid").display().to_string(),
        upgrade_sock: dir.join("upgrade.sock").display().to_string(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy =
        pingora::proxy::http_proxy_service_with_name(&server.configuration, Passthrough { peer }, "bench passthrough");
    proxy.add_tcp(&listen.to_string());
    server.add_service(proxy);
    server.run_forever();
}
