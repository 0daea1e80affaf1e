//! SMS one-time codes and the limit on sending them, kept in the store so
//! that every replica shares them: a code sent through one replica is
//! accepted through any, once (spent by an atomic take), and sends through
//! all replicas count toward one limit. A code is stored only as a MAC
//! under the shared key; an enrollment's number only sealed; a number used
//! as a send-limit key only as a MAC, so the store holds no number in clear.

use subtle::ConstantTimeEq;

use super::Phone;
use crate::env::{Env, UnixSeconds};
use crate::secretbox::SecretKey;
use crate::store::{SmsCodeRecord, Store, StoreError};

/// Six random digits, uniform (rejection sampling, no modulo bias).
pub fn new_code(env: &Env) -> String {
    loop {
        let mut b = [0u8; 4];
        env.random.fill(&mut b);
        let n = u32::from_le_bytes(b);
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// What a code is for: enabling SMS on a number, or signing in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    Enroll(Phone),
    SignIn,
}

/// Codes in flight, one per user: a new one replaces the last.
pub struct Codes {
    key: SecretKey,
    store: Store,
    ttl_secs: u64,
}

/// What an enrollment's number is sealed to: the user, and this use.
fn phone_context(user_id: &str) -> Vec<u8> {
    [user_id.as_bytes(), b"\0sms enrollment"].concat()
}

impl Codes {
    pub fn new(key: SecretKey, store: Store, ttl_secs: u64) -> Self {
        Codes { key, store, ttl_secs }
    }

    fn mac(&self, user_id: &str, code: &str) -> [u8; 32] {
        self.key
            .tag(b"sms code", &[user_id.as_bytes(), b"\0", code.as_bytes()].concat())
    }

    /// Issues a new code for `user_id`; returns it for the message.
    pub async fn issue(&self, env: &Env, user_id: &str, purpose: Purpose) -> Result<String, StoreError> {
        let code = new_code(env);
        let sealed_enroll_phone = match &purpose {
            Purpose::Enroll(phone) => Some(
                self.key
                    .seal(env, phone.e164().as_bytes(), &phone_context(user_id))
                    .map_err(|e| StoreError::Encode(e.to_string()))?,
            ),
            Purpose::SignIn => None,
        };
        let record = SmsCodeRecord {
            mac: self.mac(user_id, &code),
            expires: env.now() + self.ttl_secs,
            sealed_enroll_phone,
        };
        self.store.put_sms_code(user_id, &record).await?;
        Ok(code)
    }

    /// Spends the user's code if `typed` is it, unexpired, and of the kind
    /// asked for (`sign_in`, or else an enrollment); returns its purpose.
    pub async fn redeem(
        &self,
        user_id: &str,
        typed: &str,
        sign_in: bool,
        now: UnixSeconds,
    ) -> Result<Option<Purpose>, StoreError> {
        let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        let Some(issued) = self.store.sms_code(user_id).await? else {
            return Ok(None);
        };
        let right: bool = issued.mac.ct_eq(&self.mac(user_id, &typed)).into();
        let purpose_ok = issued.sealed_enroll_phone.is_none() == sign_in;
        if !(right && purpose_ok && now < issued.expires) {
            return Ok(None);
        }
        if !self.store.take_sms_code(user_id, &issued).await? {
            return Ok(None);
        }
        Ok(Some(self.purpose(user_id, &issued)?))
    }

    fn purpose(&self, user_id: &str, issued: &SmsCodeRecord) -> Result<Purpose, StoreError> {
        match &issued.sealed_enroll_phone {
            None => Ok(Purpose::SignIn),
            Some(sealed) => {
                let opened = self
                    .key
                    .open(sealed, &phone_context(user_id))
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                let e164 = opened.ok_or_else(|| StoreError::Corrupt {
                    tree: "sms_codes",
                    detail: "an enrollment's number does not open".into(),
                })?;
                Ok(Purpose::Enroll(Phone::from_e164(e164)))
            }
        }
    }

    /// The number an enrollment code was sent to, while it is valid.
    pub async fn enrolling(&self, user_id: &str, now: UnixSeconds) -> Result<Option<Phone>, StoreError> {
        match self.store.sms_code(user_id).await? {
            Some(issued) if now < issued.expires && issued.sealed_enroll_phone.is_some() => {
                match self.purpose(user_id, &issued)? {
                    Purpose::Enroll(phone) => Ok(Some(phone)),
                    Purpose::SignIn => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    /// Whether a sign-in code sent to the user is still valid: the
    /// challenge then asks for the code from the message.
    pub async fn signing_in(&self, user_id: &str, now: UnixSeconds) -> Result<bool, StoreError> {
        let issued = self.store.sms_code(user_id).await?;
        Ok(issued.is_some_and(|i| i.sealed_enroll_phone.is_none() && now < i.expires))
    }
}

/// At most `max` codes per `window_secs`, per user and per number.
pub struct SendLimit {
    key: SecretKey,
    store: Store,
    max: usize,
    window_secs: u64,
}

impl SendLimit {
    pub fn new(key: SecretKey, store: Store, max: usize, window_secs: u64) -> Self {
        SendLimit {
            key,
            store,
            max,
            window_secs,
        }
    }

    /// Records a send for both the user and the number if both are under
    /// the limit; otherwise `Ok(Err(seconds))` until one more is allowed.
    pub async fn try_send(
        &self,
        user_id: &str,
        phone: &Phone,
        now: UnixSeconds,
    ) -> Result<Result<(), u64>, StoreError> {
        let number = self.key.tag(b"sms number", phone.e164().as_bytes());
        let number: String = number.iter().map(|b| format!("{b:02x}")).collect();
        let keys = [format!("u:{user_id}"), format!("n:{number}")];
        let (max, window) = (self.max, self.window_secs);
        let mut recorded: Vec<&str> = Vec::new();
        for key in &keys {
            let sent = self
                .store
                .update_sms_sends::<_, StoreError>(key, |s| {
                    s.at.retain(|t| t + window > now);
                    if s.at.len() >= max {
                        return Ok(Err(s.at[0] + window - now));
                    }
                    s.at.push(now);
                    Ok(Ok(()))
                })
                .await?;
            if let Err(wait) = sent {
                // Not sent after all: the send already recorded for the
                // other key is taken back.
                for done in &recorded {
                    self.store
                        .update_sms_sends::<_, StoreError>(done, |s| {
                            if let Some(i) = s.at.iter().rposition(|t| *t == now) {
                                s.at.remove(i);
                            }
                            Ok(())
                        })
                        .await?;
                }
                return Ok(Err(wait));
            }
            recorded.push(key);
        }
        Ok(Ok(()))
    }

    /// Forgets expired codes and old sends.
    pub async fn sweep(&self, now: UnixSeconds) -> Result<(), StoreError> {
        self.store.forget_old_sms(now, self.window_secs).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::env_at;

    fn parts() -> (
        Env,
        std::sync::Arc<crate::env::testing::FixedClock>,
        SecretKey,
        Store,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (env, clock) = env_at(1000);
        let (key, _) = SecretKey::generate(&env);
        let store = Store::open(dir.path()).unwrap();
        (env, clock, key, store, dir)
    }

    #[tokio::test]
    async fn a_sign_in_code_in_flight_is_known_until_it_expires_or_is_spent() {
        let (env, _clock, key, store, _d) = parts();
        let codes = Codes::new(key, store, 300);
        assert!(!codes.signing_in("dave", 1000).await.unwrap());
        let phone = Phone::from_e164("+447400123456".into());
        codes.issue(&env, "dave", Purpose::Enroll(phone.clone())).await.unwrap();
        assert!(
            !codes.signing_in("dave", 1000).await.unwrap(),
            "an enrollment code is not a sign-in code"
        );
        assert_eq!(codes.enrolling("dave", 1000).await.unwrap(), Some(phone));
        let c = codes.issue(&env, "dave", Purpose::SignIn).await.unwrap();
        assert!(codes.signing_in("dave", 1299).await.unwrap());
        assert!(!codes.signing_in("dave", 1300).await.unwrap(), "expired");
        codes.redeem("dave", &c, true, 1001).await.unwrap();
        assert!(!codes.signing_in("dave", 1001).await.unwrap(), "spent");
    }

    #[tokio::test]
    async fn code_is_single_use_expires_and_is_stored_only_as_a_mac() {
        let (env, _clock, key, store, _d) = parts();
        let codes = Codes::new(key, store.clone(), 300);
        let c = codes.issue(&env, "dave", Purpose::SignIn).await.unwrap();
        assert_eq!(c.len(), 6);
        let stored = store.sms_code("dave").await.unwrap().unwrap();
        assert!(!serde_json::to_string(&stored).unwrap().contains(&c));
        assert_eq!(codes.redeem("dave", "000000x", true, 1001).await.unwrap(), None);
        assert_eq!(
            codes.redeem("dave", &c, false, 1001).await.unwrap(),
            None,
            "a sign-in code does not enroll"
        );
        assert_eq!(
            codes.redeem("dave", &c, true, 1001).await.unwrap(),
            Some(Purpose::SignIn)
        );
        assert_eq!(codes.redeem("dave", &c, true, 1002).await.unwrap(), None, "reused");
        let c = codes.issue(&env, "dave", Purpose::SignIn).await.unwrap();
        assert_eq!(codes.redeem("dave", &c, true, 1300).await.unwrap(), None, "expired");
    }

    #[tokio::test]
    async fn sends_are_limited_per_user_and_per_number() {
        let (_env, _clock, key, store, _d) = parts();
        let limit = SendLimit::new(key, store, 3, 600);
        let a = Phone::from_e164("+447400123456".into());
        let b = Phone::from_e164("+447700900456".into());
        for t in 0..3 {
            assert!(limit.try_send("dave", &a, 100 + t).await.unwrap().is_ok());
        }
        assert_eq!(limit.try_send("dave", &b, 110).await.unwrap(), Err(590), "per user");
        assert_eq!(limit.try_send("eve", &a, 110).await.unwrap(), Err(590), "per number");
        assert!(limit.try_send("eve", &b, 110).await.unwrap().is_ok());
        assert!(
            limit.try_send("dave", &a, 700).await.unwrap().is_ok(),
            "the window moves on"
        );
    }
}
