//! The browser's gateway token: random bytes followed by a MAC under the
//! shared secret key, so any replica can tell a token the gateway issued
//! from a forged or random one without a database read, and only the
//! former may cost a look-up in the store. Only a hash of the token is
//! ever kept. The CSRF token of a session is derived from that hash under
//! the same key, so every replica computes the same one and none stores it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::env::Env;
use crate::secretbox::SecretKey;

pub type TokenHash = [u8; 32];

const RANDOM_LEN: usize = 24;
const TAG_LEN: usize = 16;
const TOKEN_PURPOSE: &[u8] = b"session token";
const CSRF_PURPOSE: &[u8] = b"csrf token";

pub fn hash(value: &str) -> TokenHash {
    Sha256::digest(value.as_bytes()).into()
}

/// Hashes a `TokenHash` for the in-memory tables by its first eight bytes.
/// It is already SHA-256 of a token, and the tables only ever hold tokens
/// the gateway issued at random (a client's unknown token is looked up,
/// never inserted), so its bits are uniform and no client chooses them:
/// SipHash over it again guarded against nothing, on every request.
#[derive(Debug, Default, Clone, Copy)]
pub struct BuildTokenHasher;

impl std::hash::BuildHasher for BuildTokenHasher {
    type Hasher = TokenHasher;

    fn build_hasher(&self) -> TokenHasher {
        TokenHasher(0)
    }
}

#[derive(Debug)]
pub struct TokenHasher(u64);

impl std::hash::Hasher for TokenHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(first);
    }

    /// The array's length, written before its bytes: always 32.
    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A new token and its hash.
pub fn issue(env: &Env, key: &SecretKey) -> (String, TokenHash) {
    let mut bytes = [0u8; RANDOM_LEN + TAG_LEN];
    env.random.fill(&mut bytes[..RANDOM_LEN]);
    let tag = key.tag(TOKEN_PURPOSE, &bytes[..RANDOM_LEN]);
    bytes[RANDOM_LEN..].copy_from_slice(&tag[..TAG_LEN]);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let h = hash(&token);
    (token, h)
}

/// Whether `token` was issued under `key`; its MAC compared in constant time.
pub fn is_ours(key: &SecretKey, token: &str) -> bool {
    let mut bytes = [0u8; RANDOM_LEN + TAG_LEN];
    match URL_SAFE_NO_PAD.decode_slice(token.as_bytes(), &mut bytes) {
        Ok(n) if n == bytes.len() && token.len() == URL_SAFE_NO_PAD.encode(bytes).len() => {}
        _ => return false,
    }
    let tag = key.tag(TOKEN_PURPOSE, &bytes[..RANDOM_LEN]);
    tag[..TAG_LEN].ct_eq(&bytes[RANDOM_LEN..]).into()
}

/// The CSRF token every form of the session with `token_hash` carries.
pub fn csrf(key: &SecretKey, token_hash: &TokenHash) -> String {
    URL_SAFE_NO_PAD.encode(&key.tag(CSRF_PURPOSE, token_hash)[..18])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::env_at;

    #[test]
    fn a_token_hash_is_hashed_by_its_own_first_bytes() {
        use std::hash::BuildHasher as _;
        let (env, _) = env_at(1);
        let (key, _) = SecretKey::generate(&env);
        let (_, h) = issue(&env, &key);
        let first = u64::from_le_bytes(h[..8].try_into().expect("eight bytes"));
        assert_eq!(BuildTokenHasher.hash_one(h), first);
        let (_, other) = issue(&env, &key);
        assert_ne!(BuildTokenHasher.hash_one(other), first);
    }

    #[test]
    fn issued_tokens_are_recognised_and_altered_or_foreign_ones_are_not() {
        let (env, _) = env_at(1);
        let (key, _) = SecretKey::generate(&env);
        let (other, _) = SecretKey::generate(&env);
        let (token, h) = issue(&env, &key);
        assert_eq!(h, hash(&token));
        assert!(is_ours(&key, &token));
        assert!(!is_ours(&other, &token), "another key's token");
        let mut altered = token.clone().into_bytes();
        altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
        assert!(!is_ours(&key, std::str::from_utf8(&altered).unwrap()));
        for junk in [
            "",
            "x",
            &token[..token.len() - 1],
            &format!("{token}A"),
            &env.token::<40>(),
        ] {
            assert!(!is_ours(&key, junk), "{junk:?}");
        }
    }

    #[test]
    fn csrf_is_the_same_for_every_replica_and_differs_per_session() {
        let (env, _) = env_at(1);
        let (key, text) = SecretKey::generate(&env);
        let replica = SecretKey::parse(&text).unwrap();
        let (_, a) = issue(&env, &key);
        let (_, b) = issue(&env, &key);
        assert_eq!(csrf(&key, &a), csrf(&replica, &a));
        assert_ne!(csrf(&key, &a), csrf(&key, &b));
    }
}
