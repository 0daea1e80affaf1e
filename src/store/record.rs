//! The on-disk encoding of every record: one version byte, then JSON. The
//! version is a property of the record's type (`Record::VERSION`), so a
//! type cannot be written or read at another's version; a type whose shape
//! changes bumps it and reads its older versions in `Record::read_older`.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// A kind of record the store keeps.
pub trait Record: DeserializeOwned {
    /// The version this release writes.
    const VERSION: u8;

    /// Reads a record an earlier release wrote at `version` (below
    /// `VERSION`); `None` when there is no such version.
    fn read_older(version: u8, body: &[u8]) -> Option<Result<Self, serde_json::Error>> {
        let _ = (version, body);
        None
    }
}

pub fn encode<T: Record + Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![T::VERSION];
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Encode(e.to_string()))?;
    Ok(out)
}

/// Decodes a record of `tree` written at its type's version or, through
/// `read_older`, at an earlier one.
pub fn decode<T: Record>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { tree, detail };
    let Some((v, body)) = bytes.split_first() else {
        return Err(corrupt("empty record".into()));
    };
    let read = if *v == T::VERSION {
        serde_json::from_slice(body)
    } else {
        T::read_older(*v, body).ok_or_else(|| corrupt(format!("unknown record version {v}")))?
    };
    read.map_err(|e| corrupt(e.to_string()))
}
