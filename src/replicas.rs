//! What a replica does with the changes other replicas announce through
//! the store (`store::Change`): a session ended elsewhere leaves this
//! replica's table, a user's or an account's new record replaces the
//! cached one, and after a lost connection everything cached is checked
//! against the store again. Changes this replica made itself come back
//! too; applying them twice changes nothing.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use crate::gateway::Gateway;
use crate::store::{Change, StoreError};

/// Applies announced changes until the store's stream closes.
pub async fn follow(gw: Arc<Gateway>) {
    let mut changes = gw.store.subscribe();
    loop {
        let change = match changes.recv().await {
            Ok(change) => change,
            // Fell behind: some changes are lost, as after a disconnection.
            Err(RecvError::Lagged(_)) => Change::Resync,
            Err(RecvError::Closed) => return,
        };
        if let Err(e) = apply(&gw, change).await {
            // The store will announce `Resync` when it is back.
            tracing::debug!(error = %e, "cannot apply a change announced by another replica");
        }
    }
}

async fn apply(gw: &Arc<Gateway>, change: Change) -> Result<(), StoreError> {
    match change {
        Change::SessionEnded(hash) => {
            // The replica that ended it signed the dashboard session out
            // and wrote the audit; here it only leaves memory.
            gw.sessions.end(&hash);
            gw.sessions.mark_absent(hash, gw.env.now());
        }
        Change::UserChanged(id) => {
            if gw.directory.knows(&id) {
                load_user(gw, &id).await?;
            }
        }
        Change::AccountChanged(id) => {
            if let Some(account) = gw.store.account(&id).await? {
                gw.directory.put_account(&account);
            }
        }
        Change::Resync => resync(gw).await?,
    }
    Ok(())
}

/// Reads a user's memberships and factors from the store into the
/// directory, keeping when they were last refreshed from the upstream.
pub async fn load_user(gw: &Gateway, id: &str) -> Result<(), StoreError> {
    gw.directory.load_user(&gw.store, id, gw.env.now()).await
}

/// After notifications may have been lost: sessions ended meanwhile leave,
/// and the accounts and the users with sessions here are read again.
async fn resync(gw: &Arc<Gateway>) -> Result<(), StoreError> {
    let cached = gw.sessions.hashes();
    let present = gw.store.sessions_present(&cached).await?;
    let present: std::collections::HashSet<_> = present.into_iter().collect();
    let mut ended = 0;
    for hash in cached.iter().filter(|h| !present.contains(*h)) {
        ended += usize::from(gw.sessions.end(hash).is_some());
    }
    for account in gw.store.accounts().await? {
        gw.directory.put_account(&account);
    }
    for user in gw.sessions.users() {
        load_user(gw, &user).await?;
    }
    tracing::info!(ended, "caught up with the store after a lost connection");
    Ok(())
}
