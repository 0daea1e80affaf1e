//! A migration: factors kept in a tree of their own by earlier releases
//! move into their users' entries.

use sled::Transactional;

use super::{entries, set_half, untangle};
use crate::store::pair::Half;
use crate::store::StoreError;

/// Earlier releases kept factors in a tree of their own: they move into
/// their users' entries, a thousand users per transaction (so a crash half
/// way leaves every user whole and the next start goes on), and the old
/// tree goes once it is empty.
pub(super) fn fold_factors(db: &sled::Db, users: &sled::Tree) -> Result<(), StoreError> {
    const OLD: &[u8] = b"factors";
    if !db.tree_names().iter().any(|n| n == OLD) {
        return Ok(());
    }
    let factors = db.open_tree(OLD)?;
    let mut moved = 0usize;
    loop {
        let chunk = entries(factors.iter(), None, 1000)?;
        if chunk.is_empty() {
            break;
        }
        (users, &factors)
            .transaction(|(u, f)| {
                for (k, v) in &chunk {
                    let old = u.get(k)?;
                    set_half(u, Half::Factors, k, old.as_deref(), Some(v))?;
                    f.remove(k.as_slice())?;
                }
                Ok(())
            })
            .map_err(untangle)?;
        moved += chunk.len();
    }
    db.flush()?;
    db.drop_tree(OLD)?;
    if moved > 0 {
        tracing::info!(
            users = moved,
            "second factors moved into their users' records (one record per user)"
        );
    }
    Ok(())
}
