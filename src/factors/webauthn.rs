//! Security keys and passkeys (WebAuthn) as a second factor, several per
//! user, each named: registration (the browser's creation options, then its
//! answer), the check at sign-in (request options, then the signed
//! assertion), and removal. Each ceremony's state is kept in the store, not
//! in this process, so a ceremony begun through one replica finishes
//! through any; it is bound to the session that began it and spent once.
//!
//! The `securitykey` calls of webauthn-rs are the ones for a key that is a
//! second factor (the password is the first): user verification is
//! "preferred", so a key with a PIN keeps asking for it and a key without
//! one still works, and platform or synced passkeys register too.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::Digest as _;
use webauthn_rs::prelude::{
    AttestationCaList, CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

use super::{FactorError, Factors, KindSet, Passed};
use crate::config::WebauthnSettings;
use crate::store::{Ceremony, CeremonyPurpose, FactorsRecord, WebauthnKey};

/// Keys one user may register: enough for every device a person owns, few
/// enough that the sign-in options (which list them all) stay small.
pub const MAX_KEYS: usize = 10;
/// The longest name a key may have, in characters.
pub const MAX_NAME: usize = 64;

/// The relying party: this dashboard, as WebAuthn names it. Holds no
/// secret: every replica builds the same one from the configuration.
pub struct RelyingParty {
    webauthn: Webauthn,
    attestation: Option<AttestationCaList>,
    timeout_secs: u64,
}

impl RelyingParty {
    pub fn new(s: &WebauthnSettings) -> Result<RelyingParty, String> {
        let origin: &Url = &s.origin;
        let webauthn = WebauthnBuilder::new(&s.rp_id, origin)
            .map_err(|e| format!("relying party {:?} at {origin}: {e}", s.rp_id))?
            .rp_name(&s.rp_name)
            .timeout(std::time::Duration::from_secs(s.timeout_secs))
            .build()
            .map_err(|e| e.to_string())?;
        let attestation = match &s.attestation_roots {
            None => None,
            Some(roots) => {
                let mut list = AttestationCaList::default();
                for (path, pem) in roots {
                    let one = AttestationCaList::try_from(pem.as_slice())
                        .map_err(|e| format!("{}: not a PEM certificate: {e:?}", path.display()))?;
                    list.union(&one);
                }
                Some(list)
            }
        };
        Ok(RelyingParty {
            webauthn,
            attestation,
            timeout_secs: s.timeout_secs,
        })
    }
}

/// The id WebAuthn knows the user by: derived from the user id, so it is
/// stable, but not the id itself, which an authenticator need not learn.
fn handle(user_id: &str) -> Uuid {
    let digest = sha2::Sha256::digest(format!("tfa-gateway webauthn user\0{user_id}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// A key's id in the API and on the pages: its credential id, base64url.
fn key_id(key: &SecurityKey) -> String {
    URL_SAFE_NO_PAD.encode(key.cred_id())
}

fn stored(k: &WebauthnKey) -> Result<SecurityKey, FactorError> {
    serde_json::from_str(&k.credential).map_err(|e| FactorError::Task(format!("a stored key cannot be read: {e}")))
}

/// A key's name as given, trimmed; refused when empty, too long, or
/// holding control characters (it is shown on pages and in the audit).
pub fn key_name(typed: &str) -> Result<String, FactorError> {
    // Counted as sent, before trimming: the rule a client can check.
    let name = typed.trim();
    if name.is_empty() || typed.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(FactorError::BadName);
    }
    Ok(name.to_string())
}

/// Checks that `credential` has the shape every browser's answer has (the
/// fields the OpenAPI document requires, `response` holding `fields`), so
/// that a request without it is malformed (`400`) while one with it that
/// no key could have written is a refused key. What is inside the fields
/// (base64url, CBOR, signatures) is webauthn-rs's to judge.
fn outline(credential: &str, fields: &[&str]) -> Result<(), FactorError> {
    let malformed = |what: String| FactorError::NotAnAnswer(what);
    let value: serde_json::Value = serde_json::from_str(credential).map_err(|e| malformed(e.to_string()))?;
    let string = |v: &serde_json::Value, name: &str| match v.get(name) {
        Some(serde_json::Value::String(_)) => Ok(()),
        _ => Err(malformed(format!("`{name}` must be a string"))),
    };
    for name in ["id", "rawId", "type"] {
        string(&value, name)?;
    }
    let response = value
        .get("response")
        .filter(|r| r.is_object())
        .ok_or_else(|| malformed("`response` must be an object".into()))?;
    fields.iter().try_for_each(|name| string(response, name))
}

/// What a finished registration made.
pub struct Registered {
    pub id: String,
    pub name: String,
    /// New recovery codes, in clear only here: made when the user had none.
    pub recovery_codes: Option<Vec<String>>,
    /// The user's kinds after the change, for the directory.
    pub kinds: KindSet,
}

/// Chrome refuses webauthn-rs's security-key options as they are: they ask
/// for credProtect "userVerificationRequired" with user verification only
/// "preferred" (webauthn-rs issue #490). And the "security-key" hint would
/// keep the browser from offering a platform passkey.
fn for_browsers_creation(mut ccr: CreationChallengeResponse) -> serde_json::Value {
    ccr.public_key.hints = None;
    if let Some(ext) = ccr.public_key.extensions.as_mut() {
        ext.cred_protect = None;
    }
    serde_json::to_value(ccr).unwrap_or_default()
}

fn for_browsers_request(mut rcr: RequestChallengeResponse) -> serde_json::Value {
    rcr.public_key.hints = None;
    serde_json::to_value(rcr).unwrap_or_default()
}

impl Factors {
    fn relying_party(&self) -> Result<&RelyingParty, FactorError> {
        self.webauthn.as_ref().ok_or(FactorError::NotOffered)
    }

    /// Stores a new ceremony for `session`, replacing the one it began before.
    async fn begin_ceremony(
        &self,
        user_id: &str,
        session: [u8; 32],
        purpose: CeremonyPurpose,
        state: String,
    ) -> Result<(), FactorError> {
        let timeout = self.relying_party()?.timeout_secs;
        let ceremony = Ceremony {
            purpose,
            session,
            expires: self.env.now() + timeout,
            state,
        };
        Ok(self.store.put_ceremony(user_id, &ceremony).await?)
    }

    /// Takes the user's ceremony if `session` began it, for `purpose`, and
    /// it has not expired; once taken it cannot be finished again.
    async fn take_ceremony(&self, user_id: &str, session: [u8; 32], sign_in: bool) -> Result<Ceremony, FactorError> {
        let c = self
            .store
            .ceremony(user_id, &session)
            .await?
            .ok_or(FactorError::NoCeremony)?;
        let fits = matches!(c.purpose, CeremonyPurpose::SignIn) == sign_in;
        if c.session != session || !fits || c.expires <= self.env.now() {
            return Err(FactorError::NoCeremony);
        }
        if !self.store.take_ceremony(user_id, &c).await? {
            return Err(FactorError::NoCeremony);
        }
        Ok(c)
    }

    /// The browser's creation options for a new key named `name`.
    pub async fn begin_registration(
        &self,
        user_id: &str,
        email: &str,
        name: &str,
        session: [u8; 32],
    ) -> Result<serde_json::Value, FactorError> {
        let rp = self.relying_party()?;
        let name = key_name(name)?;
        let record = self.store.factors(user_id).await?;
        let keys = record.webauthn_keys();
        if keys.len() >= MAX_KEYS {
            return Err(FactorError::TooManyKeys);
        }
        let exclude = keys.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
        let exclude = exclude.iter().map(|k| k.cred_id().clone()).collect();
        let (ccr, state) = rp
            .webauthn
            .start_securitykey_registration(
                handle(user_id),
                email,
                email,
                Some(exclude),
                rp.attestation.clone(),
                None,
            )
            .map_err(|e| FactorError::Task(format!("cannot start a registration: {e}")))?;
        let state = serde_json::to_string(&state).map_err(|e| FactorError::Task(e.to_string()))?;
        self.begin_ceremony(user_id, session, CeremonyPurpose::Register { name }, state)
            .await?;
        Ok(for_browsers_creation(ccr))
    }

    /// Adds the key the browser created, if it answers this session's
    /// registration. The user's first factor also gets recovery codes.
    pub async fn finish_registration(
        &self,
        user_id: &str,
        session: [u8; 32],
        credential: &str,
    ) -> Result<Registered, FactorError> {
        let rp = self.relying_party()?;
        outline(credential, &["attestationObject", "clientDataJSON"])?;
        let answer: RegisterPublicKeyCredential = serde_json::from_str(credential)
            .map_err(|e| FactorError::KeyRefused(format!("the key's answer cannot be read: {e}")))?;
        let ceremony = self.take_ceremony(user_id, session, false).await?;
        let CeremonyPurpose::Register { name } = ceremony.purpose else {
            return Err(FactorError::NoCeremony);
        };
        let state: SecurityKeyRegistration =
            serde_json::from_str(&ceremony.state).map_err(|e| FactorError::Task(e.to_string()))?;
        let key = rp
            .webauthn
            .finish_securitykey_registration(&answer, &state)
            .map_err(|e| FactorError::KeyRefused(e.to_string()))?;
        let id = key_id(&key);
        let credential = serde_json::to_string(&key).map_err(|e| FactorError::Task(e.to_string()))?;
        let before = self.store.factors(user_id).await?;
        let fresh_codes = if needs_codes(&before) {
            Some(self.new_recovery_codes().await?)
        } else {
            None
        };
        let now = self.env.now();
        let made = self
            .store
            .update_factors(user_id, |f| {
                let mut keys = f.webauthn_keys().to_vec();
                if keys.iter().any(|k| k.id == id) {
                    return Err(FactorError::KeyRefused("this key is already registered".into()));
                }
                if keys.len() >= MAX_KEYS {
                    return Err(FactorError::TooManyKeys);
                }
                keys.push(WebauthnKey {
                    id: id.clone(),
                    name: name.clone(),
                    created: now,
                    last_used: None,
                    credential: credential.clone(),
                });
                let codes = match &fresh_codes {
                    Some((codes, hashes)) if needs_codes(f) => {
                        f.set_recovery(hashes.clone());
                        Some(codes.clone())
                    }
                    _ => None,
                };
                f.set_webauthn_keys(keys);
                Ok((codes, KindSet::of(f)))
            })
            .await?;
        Ok(Registered {
            id,
            name,
            recovery_codes: made.0,
            kinds: made.1,
        })
    }

    /// The browser's request options for the user's keys at sign-in.
    pub async fn begin_sign_in(&self, user_id: &str, session: [u8; 32]) -> Result<serde_json::Value, FactorError> {
        let rp = self.relying_party()?;
        let record = self.store.factors(user_id).await?;
        let keys = record
            .webauthn_keys()
            .iter()
            .map(stored)
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(FactorError::NotEnabled);
        }
        let (rcr, state) = rp
            .webauthn
            .start_securitykey_authentication(&keys)
            .map_err(|e| FactorError::Task(format!("cannot start a sign-in: {e}")))?;
        let state = serde_json::to_string(&state).map_err(|e| FactorError::Task(e.to_string()))?;
        self.begin_ceremony(user_id, session, CeremonyPurpose::SignIn, state)
            .await?;
        Ok(for_browsers_request(rcr))
    }

    /// Checks the browser's signed answer to this session's sign-in
    /// ceremony. `Ok(None)`: not a valid signature of one of the user's keys
    /// (a wrong guess). The key's signature counter is kept, so a cloned key
    /// that falls behind is refused.
    pub async fn finish_sign_in(
        &self,
        user_id: &str,
        session: [u8; 32],
        credential: &str,
    ) -> Result<Option<Passed>, FactorError> {
        let rp = self.relying_party()?;
        outline(credential, &["authenticatorData", "clientDataJSON", "signature"])?;
        let ceremony = self.take_ceremony(user_id, session, true).await?;
        let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(credential) else {
            // Shaped like an answer but not one any key wrote: a wrong guess.
            return Ok(None);
        };
        let state: SecurityKeyAuthentication =
            serde_json::from_str(&ceremony.state).map_err(|e| FactorError::Task(e.to_string()))?;
        let result = match rp.webauthn.finish_securitykey_authentication(&answer, &state) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(reason = %e, "a security key's answer was refused");
                return Ok(None);
            }
        };
        let now = self.env.now();
        let result = self
            .store
            .update_factors(user_id, |f| {
                let mut keys = f.webauthn_keys().to_vec();
                let mut found = false;
                for k in &mut keys {
                    let mut key = stored(k)?;
                    if let Some(changed) = key.update_credential(&result) {
                        found = true;
                        k.last_used = Some(now);
                        if changed {
                            k.credential = serde_json::to_string(&key).map_err(|e| FactorError::Task(e.to_string()))?;
                        }
                    }
                }
                if !found {
                    // Removed between the options and the answer.
                    return Err(FactorError::WrongCode);
                }
                f.set_webauthn_keys(keys);
                Ok(())
            })
            .await;
        super::judged(result, |()| Passed::Webauthn)
    }

    /// Removes one key and returns its name and the user's kinds after;
    /// the recovery codes go too unless a factor that counts remains.
    pub async fn remove_key(&self, user_id: &str, id: &str) -> Result<(String, KindSet), FactorError> {
        self.store
            .update_factors(user_id, |f| {
                let mut keys = f.webauthn_keys().to_vec();
                let i = keys.iter().position(|k| k.id == id).ok_or(FactorError::NoSuchKey)?;
                let gone = keys.remove(i);
                f.set_webauthn_keys(keys);
                super::codes_follow(f);
                Ok((gone.name, KindSet::of(f)))
            })
            .await
    }
}

/// A user without recovery codes gets them with a new key (their first
/// factor, or one added after the codes were dropped).
fn needs_codes(f: &FactorsRecord) -> bool {
    f.recovery().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(key_name("  Work key ").unwrap(), "Work key");
        assert!(matches!(key_name("   "), Err(FactorError::BadName)));
        assert!(matches!(key_name("a\nb"), Err(FactorError::BadName)));
        assert!(key_name(&"é".repeat(MAX_NAME)).is_ok());
        assert!(key_name(&"é".repeat(MAX_NAME + 1)).is_err());
    }

    #[test]
    fn the_handle_is_stable_and_not_the_user_id() {
        assert_eq!(handle("u1"), handle("u1"));
        assert_ne!(handle("u1"), handle("u2"));
        assert!(!handle("u1").to_string().contains("u1"));
    }

    #[test]
    fn options_sent_to_browsers_carry_neither_cred_protect_nor_hints() {
        let s = WebauthnSettings {
            rp_id: "localhost".into(),
            origin: Url::parse("http://localhost:8080").unwrap(),
            rp_name: "Test".into(),
            timeout_secs: 60,
            attestation_roots: None,
        };
        let rp = RelyingParty::new(&s).unwrap();
        let (ccr, _) = rp
            .webauthn
            .start_securitykey_registration(handle("u"), "a@b", "a@b", None, None, None)
            .unwrap();
        let raw = serde_json::to_string(&ccr).unwrap();
        assert!(
            raw.contains("credentialProtectionPolicy") && raw.contains("hints"),
            "{raw}"
        );
        let sent = for_browsers_creation(ccr).to_string();
        assert!(!sent.contains("credentialProtectionPolicy"), "{sent}");
        assert!(!sent.contains("hints"), "{sent}");
        assert!(sent.contains(r#""rp":{"id":"localhost","name":"Test"}"#) || sent.contains(r#""id":"localhost""#));
    }
}
