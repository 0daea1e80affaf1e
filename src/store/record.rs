//! The on-disk encoding of every record: one version byte, then JSON. The
//! version lets a later release read what an earlier one wrote and migrate it.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

pub fn encode<T: Serialize>(version: u8, value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![version];
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Encode(e.to_string()))?;
    Ok(out)
}

/// Decodes a record written at `expected` version; older versions get a
/// migration arm here when the format changes.
pub fn decode<T: DeserializeOwned>(tree: &'static str, expected: u8, bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((v, body)) if *v == expected => serde_json::from_slice(body).map_err(|e| StoreError::Corrupt {
            tree,
            detail: e.to_string(),
        }),
        Some((v, _)) => Err(StoreError::Corrupt {
            tree,
            detail: format!("unknown record version {v}"),
        }),
        None => Err(StoreError::Corrupt {
            tree,
            detail: "empty record".into(),
        }),
    }
}
