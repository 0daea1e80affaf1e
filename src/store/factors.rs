//! Second-factor records: one per user, a set of entries (the sealed TOTP
//! secret with its replay guard, the last accepted time step; an enrollment
//! in progress; the sealed SMS number; the recovery code hashes; security
//! keys). Updates are compare-and-swap, so two sessions
//! (or replicas) racing with the same code cannot both consume it, and are
//! durable before the caller answers: a consumed code must stay consumed
//! after a crash.

use serde::{Deserialize, Serialize};

use super::record::Record;
use super::{Change, Store, StoreError, Table};
use crate::env::UnixSeconds;

/// A user's second factors: a set of entries, at most one of each kind
/// (vaultwarden's `TwoFactorType` rows are the model), so a new kind of
/// factor is a new variant of `FactorEntry`, not a new field every reader
/// must know. Written `{"factors":[{"kind":"totp",...},...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Wire")]
pub struct FactorsRecord {
    /// In `FactorEntry::rank` order, so equal sets encode the same.
    factors: Vec<FactorEntry>,
}

/// One entry of the set: a second factor, or one being set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FactorEntry {
    Totp(TotpFactor),
    /// A TOTP enrollment waiting for its first code.
    TotpEnrollment(PendingTotp),
    /// SMS codes to a verified number (the legacy method).
    Sms(SmsFactor),
    Recovery(RecoveryCodes),
    /// Security keys and passkeys.
    Webauthn(WebauthnKeys),
    /// Browsers that skip the challenge for a while. Not a factor: what a
    /// passed factor let the user choose.
    Devices(RememberedDevices),
}

impl FactorEntry {
    fn rank(&self) -> u8 {
        match self {
            FactorEntry::Totp(_) => 0,
            FactorEntry::TotpEnrollment(_) => 1,
            FactorEntry::Sms(_) => 2,
            FactorEntry::Recovery(_) => 3,
            FactorEntry::Webauthn(_) => 4,
            FactorEntry::Devices(_) => 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsFactor {
    /// The E.164 number, encrypted with the gateway's key.
    pub sealed_phone: Vec<u8>,
    /// The number as shown to people, e.g. `+44••••••••56`.
    pub masked: String,
    pub enabled_at: UnixSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpFactor {
    /// The secret, encrypted with the gateway's key (see `secretbox`).
    pub sealed_secret: Vec<u8>,
    pub enabled_at: UnixSeconds,
    /// The last accepted time step; only later steps are accepted.
    pub last_step: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTotp {
    pub sealed_secret: Vec<u8>,
    pub created: UnixSeconds,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub codes: Vec<RecoveryCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCode {
    /// argon2 PHC string of the code; the code itself is never stored.
    pub hash: String,
    pub used_at: Option<UnixSeconds>,
}

/// A user's security keys and passkeys, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebauthnKeys {
    pub keys: Vec<WebauthnKey>,
}

/// One registered key. Its credential holds a public key and a signature
/// counter, nothing secret, so it is stored as the WebAuthn library wrote
/// it (JSON), which keeps the store independent of that library's types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebauthnKey {
    /// The id the API and the pages use: the credential id, base64url.
    pub id: String,
    /// The name its owner gave it ("Work laptop").
    pub name: String,
    pub created: UnixSeconds,
    pub last_used: Option<UnixSeconds>,
    pub credential: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedDevices {
    pub devices: Vec<RememberedDevice>,
}

/// One remembered browser: its cookie holds a random token, of which only
/// the SHA-256 is kept, so the store cannot let anyone in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedDevice {
    /// The id the API and the pages use (random, not the token).
    pub id: String,
    pub hash: [u8; 32],
    /// The browser, as its `User-Agent` said (cleaned).
    pub label: String,
    pub created: UnixSeconds,
    pub last_used: Option<UnixSeconds>,
    pub expires: UnixSeconds,
}

/// A type that is one kind of entry of the set.
pub trait Slot: Sized {
    fn of(e: &FactorEntry) -> Option<&Self>;
    fn of_mut(e: &mut FactorEntry) -> Option<&mut Self>;
    fn into_entry(self) -> FactorEntry;
    fn from_entry(e: FactorEntry) -> Option<Self>;
}

macro_rules! slot {
    ($t:ty, $variant:ident) => {
        impl Slot for $t {
            fn of(e: &FactorEntry) -> Option<&Self> {
                match e {
                    FactorEntry::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn of_mut(e: &mut FactorEntry) -> Option<&mut Self> {
                match e {
                    FactorEntry::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn into_entry(self) -> FactorEntry {
                FactorEntry::$variant(self)
            }
            fn from_entry(e: FactorEntry) -> Option<Self> {
                match e {
                    FactorEntry::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

slot!(TotpFactor, Totp);
slot!(PendingTotp, TotpEnrollment);
slot!(SmsFactor, Sms);
slot!(RecoveryCodes, Recovery);
slot!(WebauthnKeys, Webauthn);
slot!(RememberedDevices, Devices);

/// The set as stored, checked on the way in: two entries of one kind are a
/// damaged record, not a choice to make.
#[derive(Deserialize)]
struct Wire {
    factors: Vec<FactorEntry>,
}

impl TryFrom<Wire> for FactorsRecord {
    type Error = String;

    fn try_from(w: Wire) -> Result<Self, String> {
        let mut record = FactorsRecord::default();
        for e in w.factors {
            if record.factors.iter().any(|o| o.rank() == e.rank()) {
                return Err(format!("two entries of one kind (rank {})", e.rank()));
            }
            record.factors.push(e);
        }
        record.factors.sort_by_key(FactorEntry::rank);
        Ok(record)
    }
}

/// Version 1 had a field per factor.
#[derive(Deserialize)]
struct V1 {
    totp: Option<TotpFactor>,
    pending_totp: Option<PendingTotp>,
    recovery: Vec<RecoveryCode>,
    #[serde(default)]
    sms: Option<SmsFactor>,
}

impl Record for FactorsRecord {
    const VERSION: u8 = 2;

    fn read_older(version: u8, body: &[u8]) -> Option<Result<Self, serde_json::Error>> {
        (version == 1).then(|| {
            let old: V1 = serde_json::from_slice(body)?;
            let mut f = FactorsRecord::default();
            f.put(old.totp);
            f.put(old.pending_totp);
            f.put(old.sms);
            f.set_recovery(old.recovery);
            Ok(f)
        })
    }
}

impl FactorsRecord {
    pub fn get<T: Slot>(&self) -> Option<&T> {
        self.factors.iter().find_map(T::of)
    }

    pub fn get_mut<T: Slot>(&mut self) -> Option<&mut T> {
        self.factors.iter_mut().find_map(T::of_mut)
    }

    /// Sets (`None`: removes) the entry of `T`'s kind.
    pub fn put<T: Slot>(&mut self, value: Option<T>) {
        self.take::<T>();
        if let Some(v) = value {
            self.factors.push(v.into_entry());
            self.factors.sort_by_key(FactorEntry::rank);
        }
    }

    /// Removes the entry of `T`'s kind and returns it.
    pub fn take<T: Slot>(&mut self) -> Option<T> {
        let i = self.factors.iter().position(|e| T::of(e).is_some())?;
        T::from_entry(self.factors.remove(i))
    }

    pub fn entries(&self) -> &[FactorEntry] {
        &self.factors
    }

    pub fn recovery(&self) -> &[RecoveryCode] {
        self.get::<RecoveryCodes>().map_or(&[], |r| &r.codes)
    }

    /// Replaces the recovery codes; an empty set removes the entry.
    pub fn set_recovery(&mut self, codes: Vec<RecoveryCode>) {
        self.put((!codes.is_empty()).then_some(RecoveryCodes { codes }));
    }

    pub fn totp_on(&self) -> bool {
        self.get::<TotpFactor>().is_some()
    }

    pub fn sms_on(&self) -> bool {
        self.get::<SmsFactor>().is_some()
    }

    /// The user's remembered browsers (none: an empty list).
    pub fn devices(&self) -> &[RememberedDevice] {
        self.get::<RememberedDevices>().map_or(&[], |d| &d.devices)
    }

    /// Replaces the remembered browsers; none removes the entry.
    pub fn set_devices(&mut self, devices: Vec<RememberedDevice>) {
        self.put((!devices.is_empty()).then_some(RememberedDevices { devices }));
    }

    /// The user's security keys (none: an empty list).
    pub fn webauthn_keys(&self) -> &[WebauthnKey] {
        self.get::<WebauthnKeys>().map_or(&[], |w| &w.keys)
    }

    /// Replaces the keys; none removes the entry.
    pub fn set_webauthn_keys(&mut self, keys: Vec<WebauthnKey>) {
        self.put((!keys.is_empty()).then_some(WebauthnKeys { keys }));
    }

    pub fn recovery_left(&self) -> usize {
        self.recovery().iter().filter(|c| c.used_at.is_none()).count()
    }
}

impl Store {
    /// The ids of every user with a second-factor record.
    pub async fn factor_users(&self) -> Result<Vec<String>, StoreError> {
        self.count_read();
        Ok(self
            .backend
            .keys(Table::Factors)
            .await?
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect())
    }

    pub async fn factors(&self, user_id: &str) -> Result<FactorsRecord, StoreError> {
        Ok(self.get(Table::Factors, user_id.as_bytes()).await?.unwrap_or_default())
    }

    /// Applies `change` atomically to the user's record and commits it
    /// before returning. `change` may run more than once if another update
    /// wins the race, so it must only compute from its input. Its error
    /// aborts without writing.
    pub async fn update_factors<T, E: From<StoreError>>(
        &self,
        user_id: &str,
        change: impl FnMut(&mut FactorsRecord) -> Result<T, E>,
    ) -> Result<T, E> {
        let announce = Some(Change::UserChanged(user_id.to_string()));
        self.update(
            (Table::Factors, announce),
            user_id.as_bytes(),
            FactorsRecord::default,
            change,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn factors_default_to_nothing_and_updates_persist() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(!s.factors("u").await.unwrap().totp_on());
        s.update_factors::<_, StoreError>("u", |f| {
            f.put(Some(TotpFactor {
                sealed_secret: vec![1],
                enabled_at: 5,
                last_step: None,
            }));
            f.set_recovery(vec![RecoveryCode {
                hash: "h".into(),
                used_at: None,
            }]);
            Ok(())
        })
        .await
        .unwrap();
        drop(s);
        let s = super::super::tests::reopen(dir.path());
        let f = s.factors("u").await.unwrap();
        assert!(f.totp_on());
        assert_eq!(f.recovery_left(), 1);
    }

    /// What an earlier release wrote: a field per factor, at version 1.
    const V1: &str = r#"{"totp":{"sealed_secret":[1,2],"enabled_at":5,"last_step":7},"pending_totp":{"sealed_secret":[3],"created":6},"recovery":[{"hash":"h1","used_at":null},{"hash":"h2","used_at":9}],"sms":{"sealed_phone":[4],"masked":"+44...56","enabled_at":8}}"#;

    #[tokio::test]
    async fn a_record_from_an_earlier_release_reads_as_a_set_and_is_written_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let mut old = vec![1u8];
        old.extend_from_slice(V1.as_bytes());
        s.backend().put(Table::Factors, b"u", old).await.unwrap();

        let f = s.factors("u").await.unwrap();
        assert_eq!(f.get::<TotpFactor>().unwrap().last_step, Some(7));
        assert_eq!(f.get::<PendingTotp>().unwrap().sealed_secret, [3]);
        assert_eq!(f.get::<SmsFactor>().unwrap().masked, "+44...56");
        assert_eq!((f.recovery().len(), f.recovery_left()), (2, 1));

        s.update_factors::<_, StoreError>("u", |f| {
            f.get_mut::<TotpFactor>().unwrap().last_step = Some(8);
            Ok(())
        })
        .await
        .unwrap();
        let bytes = s.backend().get(Table::Factors, b"u").await.unwrap().unwrap();
        assert_eq!(bytes[0], 2, "written at the current version");
        let text = std::str::from_utf8(&bytes[1..]).unwrap();
        assert!(text.starts_with(r#"{"factors":[{"kind":"totp","#), "{text}");
        let again = s.factors("u").await.unwrap();
        assert_eq!(again.get::<TotpFactor>().unwrap().last_step, Some(8));
        assert_eq!(again.entries().len(), 4, "nothing lost: {again:?}");
    }

    #[test]
    fn two_entries_of_one_kind_are_a_damaged_record() {
        let body = r#"{"factors":[{"kind":"recovery","codes":[]},{"kind":"recovery","codes":[]}]}"#;
        let mut bytes = vec![FactorsRecord::VERSION];
        bytes.extend_from_slice(body.as_bytes());
        let err = super::super::record::decode::<FactorsRecord>("factors", &bytes).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn the_same_set_encodes_the_same_whatever_order_it_was_built_in() {
        let totp = TotpFactor {
            sealed_secret: vec![1],
            enabled_at: 1,
            last_step: None,
        };
        let codes = vec![RecoveryCode {
            hash: "h".into(),
            used_at: None,
        }];
        let mut a = FactorsRecord::default();
        a.put(Some(totp.clone()));
        a.set_recovery(codes.clone());
        let mut b = FactorsRecord::default();
        b.set_recovery(codes);
        b.put(Some(totp));
        let enc = |f: &FactorsRecord| super::super::record::encode(f).unwrap();
        assert_eq!(enc(&a), enc(&b));
        b.set_recovery(Vec::new());
        assert_eq!(b.entries().len(), 1, "an empty set of codes is no entry");
    }

    #[tokio::test]
    async fn failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let r: Result<(), StoreError> = s
            .update_factors("u", |f| {
                f.set_recovery(vec![RecoveryCode {
                    hash: "h".into(),
                    used_at: None,
                }]);
                Err(StoreError::Encode("no".into()))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(s.factors("u").await.unwrap().recovery_left(), 0);
    }
}
