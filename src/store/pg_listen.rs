//! Each replica's ear on PostgreSQL: one connection of its own (not from
//! the pool, since `LISTEN` belongs to a connection) that listens on the
//! changes channel and forwards every notification to the replica's
//! subscribers. It also pings the database, so the health gauge and the
//! one log line follow an outage within seconds. When the connection comes
//! back after a loss, subscribers get `Resync`: what was announced
//! meanwhile is gone, and they re-read what they cache.

use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::changes::{Change, Health, CHANNEL};

/// How often the listener checks that the database still answers.
const PING_EVERY: Duration = Duration::from_secs(2);
/// How long a ping or a connection attempt may take before the database
/// counts as unreachable.
const PATIENCE: Duration = Duration::from_secs(3);

pub(super) async fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    changes: broadcast::Sender<Change>,
    health: Health,
    what: String,
) {
    // Named apart from the pool's connections, so an operator (or a test)
    // can tell the listener in pg_stat_activity.
    let mut config = config;
    config.application_name("tfa-gateway listener");
    let mut lost = false;
    loop {
        let connected = tokio::time::timeout(PATIENCE, config.connect(tls.clone())).await;
        let Ok(Ok((client, mut connection))) = connected else {
            health.set(false, &what);
            lost = true;
            tokio::time::sleep(PING_EVERY).await;
            continue;
        };
        let (heard, mut notes) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(n) = message {
                    if heard.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        if client.batch_execute(&format!("LISTEN {CHANNEL}")).await.is_ok() {
            health.set(true, &what);
            if lost {
                let _ = changes.send(Change::Resync);
            }
            let mut ping = tokio::time::interval(PING_EVERY);
            loop {
                tokio::select! {
                    note = notes.recv() => match note {
                        Some(payload) => {
                            if let Some(change) = Change::decode(&payload) {
                                let _ = changes.send(change);
                            }
                        }
                        None => break,
                    },
                    _ = ping.tick() => {
                        let alive = tokio::time::timeout(PATIENCE, client.simple_query("SELECT 1")).await;
                        if !matches!(alive, Ok(Ok(_))) {
                            break;
                        }
                    }
                }
            }
        }
        driver.abort();
        health.set(false, &what);
        lost = true;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
