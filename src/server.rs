//! Builds the Pingora server from a validated configuration: the proxy
//! service on every listener, the session sweeper in the background, and
//! shutdown timings short enough for a deploy (Pingora waits 300 s by default).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::ServerConf;
use pingora::server::{ExecutionPhase, RunArgs, Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};

use crate::config::{Config, KeySource, SmsProviderSettings, StoreLocation};
use crate::env::Env;
use crate::gateway::Gateway;
use crate::proxy::GatewayProxy;
use crate::secretbox::SecretKey;
use crate::sms::providers::{Outbox, SmsProvider, Twilio, Webhook};
use crate::sms::{Codes, SendLimit, SmsService};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("data directory: {0}")]
    DataDir(#[from] crate::private::PrivateError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot set up TLS on {address}: {message}")]
    Tls { address: String, message: String },
    #[error("second_factor key: {0}")]
    Key(String),
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminError),
    #[error("sms: {0}")]
    Sms(String),
    #[error("webauthn: {0}")]
    Webauthn(String),
    #[error("store.url_env: {0}")]
    StoreUrl(String),
    #[error("cannot start the loading runtime: {0}")]
    Runtime(String),
}

/// Builds the SMS factor from the configuration, with provider secrets
/// read from the environment now, so a missing one stops start-up.
pub fn sms_service(config: &Config, key: &SecretKey, store: &Store) -> Result<Option<SmsService>, ServerError> {
    let s = &config.sms;
    let Some(settings) = &s.provider else {
        return Ok(None);
    };
    let secret =
        |var: &str| std::env::var(var).map_err(|_| ServerError::Sms(format!("environment variable {var} is not set")));
    let provider: Box<dyn SmsProvider> = match settings {
        SmsProviderSettings::Outbox(path) => Box::new(Outbox::new(path.clone())),
        SmsProviderSettings::Webhook { url, auth } => {
            let auth = match auth {
                Some((header, var)) => Some((header.clone(), secret(var)?)),
                None => None,
            };
            Box::new(Webhook::new(url, auth, s.timeout).map_err(|e| ServerError::Sms(e.to_string()))?)
        }
        SmsProviderSettings::Twilio {
            base_url,
            account_sid,
            auth_token_env,
            from,
        } => Box::new(
            Twilio::new(base_url, account_sid, &secret(auth_token_env)?, from, s.timeout)
                .map_err(|e| ServerError::Sms(e.to_string()))?,
        ),
    };
    Ok(Some(SmsService {
        provider,
        codes: Codes::new(key.clone(), store.clone(), s.code_ttl_secs),
        limit: SendLimit::new(key.clone(), store.clone(), s.max_sends, s.send_window_secs),
    }))
}

/// Reads the key that encrypts secrets at rest from where the config says.
pub fn load_key(source: &KeySource) -> Result<SecretKey, ServerError> {
    let (text, origin) = match source {
        KeySource::File(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| ServerError::Key(format!("cannot read {}: {e}", path.display())))?,
            path.display().to_string(),
        ),
        KeySource::Env(var) => (
            std::env::var(var).map_err(|_| ServerError::Key(format!("environment variable {var} is not set")))?,
            format!("${var}"),
        ),
    };
    SecretKey::parse(&text).map_err(|e| ServerError::Key(format!("{origin}: {e}")))
}

/// Opens the store the configuration names: the embedded one in the data
/// folder, or the shared PostgreSQL database. `patience`: how long to wait
/// for a process being replaced to let go of the embedded store.
pub fn open_store(config: &Config, patience: Duration) -> Result<Store, ServerError> {
    let store = match &config.store {
        StoreLocation::Embedded => Store::open_patiently(&config.data_dir, patience)?,
        StoreLocation::Postgres(url) => Store::connect(&url.resolve().map_err(ServerError::StoreUrl)?)?,
    };
    tracing::info!(store = %store.describe(), "store opened");
    Ok(store)
}

/// How a process starts: fresh, or taking over from a running one
/// (`run --upgrade`), whose listening sockets it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Fresh,
    Upgrade,
}

/// Pingora's old process keeps accepting this long after it passed its
/// sockets on (its `CLOSE_TIMEOUT`), before it stops and drains.
const PINGORA_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the store and builds a server ready for `run_forever`. Must be
/// called outside any tokio runtime, like `run_forever` itself. On an
/// upgrade, the listening sockets come first (they arrive once the old
/// process is sent `SIGQUIT`), then the store, once the old process has let
/// go of it; connections wait in the listen queue meanwhile.
pub fn build(config: Config, env: Env, start: Start) -> Result<(Server, Arc<Gateway>), ServerError> {
    let tightened = crate::private::folder(&config.data_dir)?;
    if !tightened.is_empty() {
        tracing::warn!(
            folder = %config.data_dir.display(),
            entries = tightened.len(),
            "the data folder was readable by other users; it is now private to the gateway's user"
        );
    }
    let key = load_key(&config.second_factor.key)?;
    let conf = ServerConf {
        threads: config.threads,
        grace_period_seconds: Some(config.shutdown_grace.as_secs()),
        graceful_shutdown_timeout_seconds: Some(config.shutdown_grace.as_secs()),
        pid_file: config.data_dir.join("gateway.pid").display().to_string(),
        upgrade_sock: config.data_dir.join("upgrade.sock").display().to_string(),
        ..ServerConf::default()
    };
    let opt = pingora::server::configuration::Opt {
        upgrade: start == Start::Upgrade,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), conf);
    let phases = server.watch_execution_phase();
    let embedded = matches!(config.store, StoreLocation::Embedded);
    let store = if start == Start::Upgrade && embedded {
        // The old process holds the store until it has handed over: the
        // sockets first, then the store once it lets go.
        server.bootstrap();
        open_store(
            &config,
            PINGORA_CLOSE_TIMEOUT + config.shutdown_grace + Duration::from_secs(10),
        )?
    } else {
        // A shared store is opened first: a process that cannot reach it
        // stops before the running one is told to hand over.
        let store = open_store(&config, Duration::ZERO)?;
        server.bootstrap();
        store
    };

    let sms = sms_service(&config, &key, &store)?;
    // Loading runs on a runtime of its own: Pingora starts its runtimes
    // only in `run_forever`.
    let loading = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ServerError::Runtime(e.to_string()))?;
    let webauthn = match &config.webauthn {
        Some(s) => Some(crate::factors::RelyingParty::new(s).map_err(ServerError::Webauthn)?),
        None => None,
    };
    let gw = loading.block_on(Gateway::new(config, env, store, key, sms, webauthn))?;
    drop(loading);
    let mut proxy = crate::proxy::serving::service(
        &server.configuration,
        GatewayProxy::new(gw.clone()),
        "tfa-gateway",
        gw.config.shutdown_grace,
    );
    for l in &gw.config.listeners {
        let addr = l.address.to_string();
        match &l.tls {
            // No read buffer in front of the socket on plain listeners:
            // Pingora's request reader has its own, and its 64 KiB one
            // only copied each request once more (1,300 instructions a
            // request, the same system calls: BENCHMARKS.md "Pingora's
            // settings"), and an idle keep-alive connection held 17 to 28
            // KiB more of memory. TLS keeps it: rustls reads in small
            // records.
            None => proxy.add_listener(ListenerConfig::tcp(addr).l4_buffer(L4BufferSettings {
                read: Some(0),
                write: None,
            })),
            Some(tls) => proxy
                .add_tls(
                    &addr,
                    &tls.certificate.display().to_string(),
                    &tls.key.display().to_string(),
                )
                .map_err(|e| ServerError::Tls {
                    address: addr.clone(),
                    message: e.to_string(),
                })?,
        }
    }
    server.add_service(proxy);
    if let Some(admin) = &gw.config.admin {
        let token = crate::admin::read_token(&admin.token_file)?;
        let app = pingora::apps::http_app::HttpServer::new_app(crate::admin::AdminApp::new(gw.clone(), token));
        let mut service = pingora::services::listening::Service::new("tfa-gateway admin".to_string(), app);
        service.add_tcp(&admin.listen.to_string());
        server.add_service(service);
    }
    server.add_service(background_service("session sweeper", Sweeper { gw: gw.clone() }));
    server.add_service(background_service("store changes", Follower { gw: gw.clone() }));
    server.add_service(background_service(
        "hand-over",
        Handover {
            gw: gw.clone(),
            phases: std::sync::Mutex::new(Some(phases)),
        },
    ));
    Ok((server, gw))
}

/// Serves until a signal stops the server; then, on the embedded store,
/// once every handle is gone, leaves it quick to open next time
/// (`Store::settle`).
pub fn serve(server: Server, gw: Arc<Gateway>) {
    let embedded = matches!(gw.config.store, StoreLocation::Embedded).then(|| gw.config.data_dir.clone());
    let upgraded = gw.drain.upgrade_flag();
    drop(gw);
    server.run(RunArgs::default());
    if upgraded.load(std::sync::atomic::Ordering::Relaxed) {
        // The successor holds the store now.
        return;
    }
    if let Some(dir) = embedded {
        let started = std::time::Instant::now();
        match Store::settle(&dir, Duration::from_secs(5)) {
            Ok(()) => tracing::info!(
                seconds = started.elapsed().as_secs_f64(),
                "store snapshot written: the next start reads it instead of the log"
            ),
            Err(e) => tracing::warn!(error = %e, "no store snapshot written: the next start reads the log back"),
        }
    }
}

/// Hands over to a successor (`drain`): on `SIGQUIT`, answers close their
/// connections while the old process still accepts; once it stops, the
/// requests in flight finish, recent activity is saved, and the embedded
/// store is let go for the successor to open. On `SIGTERM` the same, so
/// that a restart does not wait for the whole grace period either. Under
/// systemd (`Type=notify`, `NotifyAccess=all`) it says when this process is
/// ready and that it is now the service's main process, which is how the
/// successor of an upgrade takes the service over.
struct Handover {
    gw: Arc<Gateway>,
    phases: std::sync::Mutex<Option<tokio::sync::broadcast::Receiver<ExecutionPhase>>>,
}

#[async_trait]
impl BackgroundService for Handover {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let phases = self
            .phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let drain = &self.gw.drain;
        notify_systemd(&[
            sd_notify::NotifyState::MainPid(std::process::id()),
            sd_notify::NotifyState::Ready,
        ]);
        if let Some(mut phases) = phases {
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    phase = phases.recv() => match phase {
                        Ok(ExecutionPhase::GracefulUpgradeTransferringFds) => drain.start_upgrade(),
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            let _ = shutdown.changed().await;
                            break;
                        }
                    },
                }
            }
        } else {
            let _ = shutdown.changed().await;
        }
        if !drain.upgrade_flag().load(std::sync::atomic::Ordering::Relaxed) {
            notify_systemd(&[sd_notify::NotifyState::Stopping]);
        }
        drain.start();
        let grace = self.gw.config.shutdown_grace;
        // Requests on connections accepted just before the listeners closed
        // are still read meanwhile (`proxy::serving`): they count too.
        tokio::time::sleep(crate::proxy::serving::LINGER.min(grace)).await;
        if !drain.idle(grace).await {
            tracing::warn!(
                in_flight = drain.in_flight(),
                "requests still running after the grace period"
            );
        }
        // Activity since the last sweep is saved, as the sweep would.
        let every = self.gw.config.session.sweep_every().as_secs();
        let since = self.gw.env.now().saturating_sub(every + 1);
        self.gw.sweep(since).await;
        if let Err(e) = self.gw.store.release(grace).await {
            e.log("cannot let go of the store");
        }
        tracing::info!("handed over: the store is free for the next process");
    }
}

/// Tells systemd, when it started this process with a notify socket.
fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(error) = sd_notify::notify(state) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}

/// Applies what other replicas announce (`replicas::follow`).
struct Follower {
    gw: Arc<Gateway>,
}

#[async_trait]
impl BackgroundService for Follower {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = crate::replicas::follow(self.gw.clone()) => {}
        }
    }
}

/// How often the failure counters, SMS codes and sign-in limits are swept.
const TIDY_EVERY: u64 = 60;

/// How often the whole store's sessions are swept, and abandoned ceremonies
/// and the session index tidied.
const STORE_SWEEP_EVERY: u64 = 600;

/// Drops expired sessions and saves recent activity (`sweep_every`: each
/// minute, or sooner for a short idle timeout), and now and then tidies
/// the rest.
struct Sweeper {
    gw: Arc<Gateway>,
}

#[async_trait]
impl BackgroundService for Sweeper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut since = self.gw.env.now();
        let every = self.gw.config.session.sweep_every();
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        let ticks_per = |secs: u64| (secs / every.as_secs()).max(1);
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tick.tick() => {
                    let now = self.gw.env.now();
                    self.gw.sweep(since).await;
                    since = now;
                    ticks += 1;
                    if ticks.is_multiple_of(ticks_per(STORE_SWEEP_EVERY)) {
                        self.gw.sweep_store().await;
                        // Abandoned security-key ceremonies (a prompt closed).
                        if let Err(e) = self.gw.store.forget_old_ceremonies(now).await {
                            e.log("cannot forget expired security-key ceremonies");
                        }
                        if let Err(e) = self.gw.store.sweep_session_index().await {
                            e.log("cannot tidy the index of users' sessions");
                        }
                    }
                    if !ticks.is_multiple_of(ticks_per(TIDY_EVERY)) {
                        continue;
                    }
                    if let Err(e) = self.gw.throttle.sweep(now).await {
                        e.log("cannot forget stale failure counters");
                    }
                    if let Some(sms) = &self.gw.sms {
                        if let Err(e) = sms.limit.sweep(now).await {
                            e.log("cannot forget expired SMS codes");
                        }
                    }
                    self.gw.sign_ins.sweep(now);
                }
            }
        }
    }
}
