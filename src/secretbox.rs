//! Encryption at rest for secrets the gateway must be able to read back
//! (TOTP secrets cannot be hashed: verifying a code needs the secret itself).
//! A copy of the database alone then yields nothing without the key file,
//! and binding each ciphertext to its owner stops a record from being
//! swapped into another user's row.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;

use crate::env::Env;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SecretBoxError {
    /// The message says what is wrong with the key text, never what it contains.
    #[error("bad secret key: {0}")]
    BadKey(String),
    #[error("sealed secret does not open: tampered, moved from another record, or sealed with another key")]
    Tampered,
    #[error("secret too large to seal")]
    TooLarge,
}

/// A 256-bit AES-GCM key for secrets at rest, and a MAC key derived from
/// it for values the gateway hands out and must recognise as its own.
#[derive(Clone)]
pub struct SecretKey {
    cipher: Aes256Gcm,
    mac: [u8; 32],
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug output ends up in logs; the key must not.
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        // A separate key for MACs, so no value is ever both encrypted and
        // authenticated under the same key.
        let mac = hmac_sha256(&bytes, b"tfa-gateway mac key v1");
        SecretKey {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(bytes)),
            mac,
        }
    }

    /// A MAC of `data` for `purpose` (a fixed label per use, so a tag made
    /// for one use is never valid for another).
    pub fn tag(&self, purpose: &[u8], data: &[u8]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.mac).expect("HMAC takes any key length");
        m.update(purpose);
        m.update(&[0]);
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// Parses a key written as base64 (standard or url-safe, padding
    /// optional) or as 64 hex digits; surrounding whitespace, such as the
    /// newline at the end of a key file, is ignored.
    pub fn parse(text: &str) -> Result<SecretKey, SecretBoxError> {
        let text = text.trim();
        // 64 hex digits are also valid base64 (of 48 bytes), so hex goes first.
        let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            decode_hex(text)
        } else {
            let unpadded = text.trim_end_matches('=');
            let engine = if unpadded.contains(['-', '_']) {
                &URL_SAFE_NO_PAD
            } else {
                &STANDARD_NO_PAD
            };
            engine
                .decode(unpadded)
                .map_err(|_| SecretBoxError::BadKey("neither 64 hex digits nor valid base64".into()))?
        };
        let bytes = <[u8; KEY_LEN]>::try_from(bytes.as_slice())
            .map_err(|_| SecretBoxError::BadKey(format!("expected {KEY_LEN} bytes, got {}", bytes.len())))?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// A new random key and its text form (padded standard base64) for a key file.
    pub fn generate(env: &Env) -> (SecretKey, String) {
        let mut bytes = [0u8; KEY_LEN];
        env.random.fill(&mut bytes);
        let text = STANDARD.encode(bytes);
        (SecretKey::from_bytes(bytes), text)
    }

    /// Encrypts `plaintext`; the output is the 12-byte nonce followed by
    /// ciphertext and tag. `context` (e.g. the user id) is bound as
    /// associated data, so the result only opens with the same context.
    pub fn seal(&self, env: &Env, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        // Random 96-bit nonces are safe far beyond the number of secrets one
        // gateway will ever seal under a key (the bound is ~2^32 messages).
        let mut nonce = [0u8; NONCE_LEN];
        env.random.fill(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context,
        };
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SecretBoxError::TooLarge)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`SecretKey::seal`] produced under the same `context`.
    /// Any mismatch (key, context, a changed byte, truncation) is `Tampered`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretBoxError::Tampered);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretBoxError::Tampered)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .map_err(|_| SecretBoxError::Tampered)
    }
}

/// Callers check the length and digits first, so nothing here can fail.
fn decode_hex(text: &str) -> Vec<u8> {
    let digit = |b: u8| char::from(b).to_digit(16).unwrap_or(0) as u8;
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| digit(pair[0]) << 4 | digit(pair[1]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::env_at;

    fn key() -> (Env, SecretKey, String) {
        let (env, _) = env_at(0);
        let (key, text) = SecretKey::generate(&env);
        (env, key, text)
    }

    #[test]
    fn sealed_secret_opens_again() {
        let (env, key, _) = key();
        let sealed = key.seal(&env, b"totp secret", b"user-1").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + b"totp secret".len() + TAG_LEN);
        assert_eq!(key.open(&sealed, b"user-1").unwrap(), b"totp secret");
    }

    #[test]
    fn sealing_twice_uses_fresh_nonces() {
        let (env, key, _) = key();
        assert_ne!(key.seal(&env, b"x", b"u").unwrap(), key.seal(&env, b"x", b"u").unwrap());
    }

    #[test]
    fn secret_moved_to_another_user_does_not_open() {
        let (env, key, _) = key();
        let sealed = key.seal(&env, b"totp secret", b"user-1").unwrap();
        assert!(matches!(key.open(&sealed, b"user-2"), Err(SecretBoxError::Tampered)));
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let (env, key, _) = key();
        let sealed = key.seal(&env, b"totp secret", b"user-1").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                matches!(key.open(&bad, b"user-1"), Err(SecretBoxError::Tampered)),
                "byte {i}"
            );
        }
        assert!(matches!(
            key.open(&sealed[..20], b"user-1"),
            Err(SecretBoxError::Tampered)
        ));
    }

    #[test]
    fn another_key_does_not_open() {
        let (env, key, _) = key();
        let (other, _) = SecretKey::generate(&env);
        let sealed = key.seal(&env, b"totp secret", b"user-1").unwrap();
        assert!(matches!(other.open(&sealed, b"user-1"), Err(SecretBoxError::Tampered)));
    }

    #[test]
    fn parse_accepts_base64_and_hex_forms_of_the_same_key() {
        let (env, key, text) = key();
        let sealed = key.seal(&env, b"s", b"c").unwrap();
        let raw = STANDARD.decode(&text).unwrap();
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let forms = [
            format!("{text}\n"),
            STANDARD_NO_PAD.encode(&raw),
            base64::engine::general_purpose::URL_SAFE.encode(&raw),
            URL_SAFE_NO_PAD.encode(&raw),
            format!("  {hex}  "),
            hex.to_uppercase(),
        ];
        for form in forms {
            let parsed = SecretKey::parse(&form).unwrap();
            assert_eq!(parsed.open(&sealed, b"c").unwrap(), b"s", "{form:?}");
        }
    }

    #[test]
    fn parse_rejects_keys_of_the_wrong_size_or_form() {
        assert!(matches!(
            SecretKey::parse(&STANDARD.encode([7u8; 31])),
            Err(SecretBoxError::BadKey(_))
        ));
        assert!(matches!(
            SecretKey::parse(&"ab".repeat(31)),
            Err(SecretBoxError::BadKey(_))
        ));
        assert!(matches!(SecretKey::parse("not a key!"), Err(SecretBoxError::BadKey(_))));
        assert!(matches!(SecretKey::parse(""), Err(SecretBoxError::BadKey(_))));
    }

    #[test]
    fn debug_does_not_reveal_the_key() {
        let (_, key, text) = key();
        let shown = format!("{key:?}");
        assert_eq!(shown, "SecretKey(<redacted>)");
        assert!(!shown.contains(&text[..8]));
        let err = SecretKey::parse(&STANDARD.encode([7u8; 31])).unwrap_err().to_string();
        assert!(!err.contains("Bwc"), "{err}");
    }
}
