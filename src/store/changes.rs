//! What one replica tells the others after a change they may have cached:
//! a session ended, a user's or an account's record changed. PostgreSQL
//! carries these as `NOTIFY` payloads; the embedded store has one process
//! and no one to tell, so its stream only ever reports itself up. After a
//! lost connection the stream says `Resync`: notifications sent meanwhile
//! are gone, and the replica re-reads what it caches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The PostgreSQL channel every replica listens on.
pub const CHANNEL: &str = "tfa_changes";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    SessionEnded([u8; 32]),
    UserChanged(String),
    AccountChanged(String),
    /// Changes may have been missed: re-read everything cached.
    Resync,
}

impl Change {
    /// The `NOTIFY` payload: a letter, ':', then the hash in hex or the id.
    pub fn encode(&self) -> String {
        match self {
            Change::SessionEnded(h) => format!("s:{}", hex(h)),
            Change::UserChanged(id) => format!("u:{id}"),
            Change::AccountChanged(id) => format!("a:{id}"),
            Change::Resync => "r:".into(),
        }
    }

    /// `None` for a payload this release does not know (a newer replica's).
    pub fn decode(payload: &str) -> Option<Change> {
        let (kind, rest) = payload.split_once(':')?;
        match kind {
            "s" => unhex(rest).map(Change::SessionEnded),
            "u" => Some(Change::UserChanged(rest.to_string())),
            "a" => Some(Change::AccountChanged(rest.to_string())),
            "r" => Some(Change::Resync),
            _ => None,
        }
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Whether the store answers, as the last attempt found; shared with the
/// metrics. Transitions are logged once each, never per request.
#[derive(Debug, Clone)]
pub struct Health(Arc<AtomicBool>);

impl Default for Health {
    fn default() -> Self {
        Health(Arc::new(AtomicBool::new(true)))
    }
}

impl Health {
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Records the state; returns whether it changed.
    pub fn set(&self, up: bool, what: &str) -> bool {
        let changed = self.0.swap(up, Ordering::Relaxed) != up;
        if changed && up {
            tracing::warn!(store = %what, "the store is reachable again");
        } else if changed {
            tracing::error!(store = %what, "the store is unreachable: signed-in sessions go on, sign-ins and changes answer 503 until it is back");
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_reads_back_and_unknown_payloads_are_ignored() {
        for c in [
            Change::SessionEnded([0xab; 32]),
            Change::UserChanged("u-1:x".into()),
            Change::AccountChanged("acme".into()),
            Change::Resync,
        ] {
            assert_eq!(Change::decode(&c.encode()), Some(c));
        }
        for junk in ["", "s:12", "z:1", "nocolon", &format!("s:{}", "g".repeat(64))] {
            assert_eq!(Change::decode(junk), None, "{junk:?}");
        }
    }
}
