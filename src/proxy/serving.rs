//! The proxy as the listening service runs it. Pingora's clean-up, run the
//! moment a stopping server's listeners close, drops every connection still
//! waiting for a request: that includes one accepted a moment earlier whose
//! request is on its way, which its client sees fail. Here the clean-up
//! waits `LINGER` first, so such a request is read and answered (with
//! `Connection: close`, as a stopping server does); only connections idle
//! that long are dropped. This is what lets a graceful upgrade under load
//! fail no request (tests/upgrade.rs).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::proxy::HttpProxy;
use pingora::server::configuration::ServerConf;
use pingora::server::ShutdownWatch;
use pingora::services::listening::Service;

use super::GatewayProxy;

/// How long a stopping server still reads requests on connections it has
/// accepted. `drain` waits as long before it counts what is in flight.
pub const LINGER: Duration = Duration::from_millis(500);

pub struct Serving {
    proxy: Arc<HttpProxy<GatewayProxy>>,
    linger: Duration,
}

#[async_trait]
impl ServerApp for Serving {
    async fn process_new(self: &Arc<Self>, session: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        self.proxy.process_new(session, shutdown).await
    }

    async fn cleanup(&self) {
        tokio::time::sleep(self.linger).await;
        self.proxy.cleanup().await;
    }
}

/// The gateway's proxy service, named `name`; `linger` at most `LINGER`
/// (and within the shutdown grace period, after which Pingora stops the
/// runtime anyway).
pub fn service(conf: &Arc<ServerConf>, proxy: GatewayProxy, name: &str, linger: Duration) -> Service<Serving> {
    let proxy = Arc::new(pingora::proxy::http_proxy(conf, proxy));
    Service::new(
        name.to_string(),
        Serving {
            proxy,
            linger: linger.min(LINGER),
        },
    )
}
