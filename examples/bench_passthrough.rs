//! The load harness's baseline (`benches/load/run.sh`): a bare Pingora
//! proxy built from the same Pingora as the gateway, with the gateway's
//! server settings (threads, shutdown timings, `ServerConf` defaults
//! otherwise) and its upstream peer built the same way, from an address
//! parsed once. It forwards every request unchanged and logs nothing, so
//! the gap between it and the gateway is what the gateway's work costs.
//!
//! `cargo run --release --example bench_passthrough -- --listen 127.0.0.1:8090 \
//!   --upstream 127.0.0.1:8091 --threads 2 --dir /tmp/passthrough`
//!
//! `--set NAME[=VALUE]` (repeatable) changes one of Pingora's own settings
//! from its default, for `benches/load/settings.py` (issue 18, item 2), which
//! counts what each one saves: `no-modules` (no downstream modules, where
//! Pingora adds a disabled compression module by default), `no-steal`
//! (`work_stealing: false`), `alt-timer`, `pool=N` (upstream keep-alive
//! pool), `tasks-per-fd=N`, `read-buffer=N` and `write-buffer=N` (the
//! downstream L4 buffers), `timeouts` (the peer's read, write and idle
//! timeouts), `keepalive-limit=N` (requests per downstream connection).

use std::net::SocketAddr;
use std::path::PathBuf;

use async_trait::async_trait;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;

// The gateway's allocator, so that d - b compares like with like.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Passthrough {
    peer: SocketAddr,
    modules: bool,
    timeouts: bool,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    fn init_downstream_modules(&self, modules: &mut pingora::modules::http::HttpModules) {
        if self.modules {
            // Pingora's default: a disabled compression module.
            modules.add_module(pingora::modules::http::compression::ResponseCompressionBuilder::enable(
                0,
            ));
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.peer, false, String::new());
        if self.timeouts {
            let t = Some(std::time::Duration::from_secs(60));
            peer.options.read_timeout = t;
            peer.options.write_timeout = t;
            peer.options.idle_timeout = t;
        }
        Ok(Box::new(peer))
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut listen: Option<SocketAddr> = None;
    let mut upstream: Option<SocketAddr> = None;
    let mut threads = 2usize;
    let mut dir = std::env::temp_dir().join("tfa-bench-passthrough");
    let mut settings: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value.parse()?),
            "--upstream" => upstream = Some(value.parse()?),
            "--threads" => threads = value.parse()?,
            "--dir" => dir = PathBuf::from(value),
            "--set" => settings.push(value),
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let (Some(listen), Some(peer)) = (listen, upstream) else {
        return Err("give --listen ADDR and --upstream ADDR".into());
    };
    std::fs::create_dir_all(&dir)?;
    // As `tfa_gateway::server::build` sets them (demo: 1 s grace).
    let mut conf = ServerConf {
        threads,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        pid_file: dir.join("passthrough.pid").display().to_string(),
        upgrade_sock: dir.join("upgrade.sock").display().to_string(),
        ..ServerConf::default()
    };
    let mut app = Passthrough {
        peer,
        modules: true,
        timeouts: false,
    };
    let mut buffers = L4BufferSettings::default();
    let mut keepalive_limit = None;
    for s in &settings {
        let (name, value) = s.split_once('=').unwrap_or((s, ""));
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("--set {name} needs a number"))
        };
        match name {
            "no-modules" => app.modules = false,
            "no-steal" => conf.work_stealing = false,
            "alt-timer" => conf.runtime_enable_alt_timer = true,
            "pool" => conf.upstream_keepalive_pool_size = number()?,
            "tasks-per-fd" => conf.listener_tasks_per_fd = number()?,
            "read-buffer" => buffers.read = Some(number()?),
            "write-buffer" => buffers.write = Some(number()?),
            "timeouts" => app.timeouts = true,
            "keepalive-limit" => keepalive_limit = Some(number()?),
            _ => return Err(format!("unknown setting {name}").into()),
        }
    }
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service_with_name(&server.configuration, app, "bench passthrough");
    if let (Some(limit), Some(app)) = (keepalive_limit, proxy.app_logic_mut()) {
        let options = app.server_options.get_or_insert_with(Default::default);
        options.keepalive_request_limit = Some(limit as u32);
    }
    proxy.add_listener(ListenerConfig::tcp(listen.to_string()).l4_buffer(buffers));
    server.add_service(proxy);
    server.run_forever();
}
