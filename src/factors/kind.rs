//! The kinds of second factor: the registry's keys. Everything that asks
//! "which factors does this user have, and do they count" (the directory's
//! enforcement, the owner's toggle, the admin's counts, the status API)
//! asks this module, so a new kind is added here once rather than as a
//! flag in each of them.

use crate::store::{FactorsRecord, SmsFactor, TotpFactor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An authenticator app (RFC 6238).
    Totp,
    /// Codes by text message to a verified number (the legacy method).
    Sms,
    /// One-time recovery codes, the way back in when the other factors are
    /// lost.
    Recovery,
    /// Security keys and passkeys (WebAuthn).
    Webauthn,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Totp, Kind::Sms, Kind::Recovery, Kind::Webauthn];

    /// Its name in the JSON API and the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Totp => "totp",
            Kind::Sms => "sms",
            Kind::Recovery => "recovery",
            Kind::Webauthn => "webauthn",
        }
    }

    /// Whether having it meets an account's requirement. Recovery codes
    /// back another factor up and never count alone; SMS counts only where
    /// the operator offers it and no account of the user disallows it (the
    /// directory applies that rule).
    pub fn counts(self) -> bool {
        match self {
            Kind::Totp | Kind::Sms | Kind::Webauthn => true,
            Kind::Recovery => false,
        }
    }

    /// What the user has of this kind, as the JSON API shows it (`None`:
    /// nothing). Never a secret: no TOTP secret, no full number, no codes.
    pub fn describe(self, record: &FactorsRecord) -> Option<serde_json::Value> {
        use serde_json::json;
        let value = match self {
            Kind::Totp => json!({ "enabled_at": record.get::<TotpFactor>()?.enabled_at }),
            Kind::Sms => {
                let s = record.get::<SmsFactor>()?;
                json!({ "number": s.masked, "enabled_at": s.enabled_at })
            }
            Kind::Recovery if record.recovery().is_empty() => return None,
            Kind::Recovery => json!({ "left": record.recovery_left() }),
            Kind::Webauthn if record.webauthn_keys().is_empty() => return None,
            Kind::Webauthn => {
                let keys: Vec<_> = record
                    .webauthn_keys()
                    .iter()
                    .map(|k| json!({ "id": k.id, "name": k.name, "created": k.created, "last_used": k.last_used }))
                    .collect();
                json!({ "keys": keys })
            }
        };
        let mut value = value;
        value["kind"] = json!(self.name());
        Some(value)
    }

    /// Whether it counts for every user who has it; SMS counts only where
    /// the directory's rule allows it.
    pub fn always_counts(self) -> bool {
        matches!(self, Kind::Totp | Kind::Webauthn)
    }

    fn bit(self) -> u8 {
        match self {
            Kind::Totp => 1,
            Kind::Sms => 2,
            Kind::Recovery => 4,
            Kind::Webauthn => 8,
        }
    }
}

/// A set of kinds, small enough to keep per user in memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindSet(u8);

impl KindSet {
    /// The kinds a user's record holds, enabled (an enrollment in progress
    /// is not a factor yet).
    pub fn of(record: &FactorsRecord) -> KindSet {
        let mut set = KindSet::default();
        set.set(Kind::Totp, record.get::<TotpFactor>().is_some());
        set.set(Kind::Sms, record.get::<SmsFactor>().is_some());
        set.set(Kind::Recovery, !record.recovery().is_empty());
        set.set(Kind::Webauthn, !record.webauthn_keys().is_empty());
        set
    }

    /// Whether it holds a kind that counts (`Kind::counts`; the SMS rule
    /// for the user's accounts is the directory's): the user has two-factor
    /// authentication on.
    pub fn counting(self) -> bool {
        self.iter().any(Kind::counts)
    }

    pub fn contains(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }

    pub fn set(&mut self, kind: Kind, on: bool) {
        if on {
            self.0 |= kind.bit();
        } else {
            self.0 &= !kind.bit();
        }
    }

    pub fn without(mut self, kind: Option<Kind>) -> KindSet {
        if let Some(k) = kind {
            self.set(k, false);
        }
        self
    }

    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PendingTotp, RecoveryCode};

    #[test]
    fn a_record_holds_the_kinds_it_has_enabled() {
        let mut f = FactorsRecord::default();
        assert_eq!(KindSet::of(&f), KindSet::default());
        f.put(Some(PendingTotp {
            sealed_secret: vec![1],
            created: 1,
        }));
        assert!(
            !KindSet::of(&f).contains(Kind::Totp),
            "an enrollment in progress is no factor"
        );
        f.put(Some(TotpFactor {
            sealed_secret: vec![1],
            enabled_at: 1,
            last_step: None,
        }));
        f.set_recovery(vec![RecoveryCode {
            hash: "h".into(),
            used_at: None,
        }]);
        let set = KindSet::of(&f);
        assert_eq!(set.iter().collect::<Vec<_>>(), [Kind::Totp, Kind::Recovery]);
        assert_eq!(
            set.without(Some(Kind::Totp)).iter().collect::<Vec<_>>(),
            [Kind::Recovery]
        );
        assert!(!Kind::Recovery.counts() && Kind::Totp.counts() && Kind::Sms.counts());
        assert!(
            set.counting() && !set.without(Some(Kind::Totp)).counting(),
            "codes alone: off"
        );
    }
}
