//! Failure counters (see `throttle`), per user and per client address, as
//! records every replica updates atomically: a wrong code through any
//! replica counts toward the same lockout.

use super::record::Record;
use super::{Store, StoreError, Table};
use crate::env::UnixSeconds;
use crate::throttle::{ClientCounter, Counter};

impl Record for Counter {
    const VERSION: u8 = 1;
}

impl Record for ClientCounter {
    const VERSION: u8 = 1;
}

impl Store {
    /// Changes a user's counter atomically; see `update` for the rules of
    /// `change`.
    pub async fn update_user_counter<T, E: From<StoreError>>(
        &self,
        user_id: &str,
        change: impl FnMut(&mut Counter) -> Result<T, E>,
    ) -> Result<T, E> {
        let table = (Table::Throttle, None);
        self.update(table, user_id.as_bytes(), Counter::default, change).await
    }

    pub async fn client_counter(&self, key: &str) -> Result<Option<ClientCounter>, StoreError> {
        self.get(Table::ClientThrottle, key.as_bytes()).await
    }

    /// Changes an address's counter atomically.
    pub async fn update_client_counter<T, E: From<StoreError>>(
        &self,
        key: &str,
        change: impl FnMut(&mut ClientCounter) -> Result<T, E>,
    ) -> Result<T, E> {
        let table = (Table::ClientThrottle, None);
        self.update(table, key.as_bytes(), ClientCounter::default, change).await
    }

    /// Removes counters that have nothing left to say (see
    /// `Counter::stale`); each only if unchanged since it was read, so a
    /// failure counted meanwhile is never lost.
    pub async fn forget_stale_counters(&self, now: UnixSeconds) -> Result<(), StoreError> {
        self.remove_where(Table::Throttle, |c: &Counter| c.stale(now)).await?;
        self.remove_where(Table::ClientThrottle, |c: &ClientCounter| c.stale(now))
            .await
    }
}
