//! One-time recovery codes: the way back in when the authenticator is lost.
//! They are handed out once, in readable form, and stored only as argon2id
//! hashes, so a leaked database does not hand out second factors. Typed
//! input is forgiving (case, dashes, look-alike letters) because people copy
//! these from paper.

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::password_hash::{CustomizedPasswordHasher, PasswordHasher};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::env::Env;

pub const COUNT: usize = 10;
const SYMBOLS: usize = 12;
const GROUP: usize = 4;
/// Crockford's base32 alphabet: no i, l, o, u, so nothing reads as another symbol.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane). Each code carries
/// 60 random bits, so the cost is not there to make up for weak secrets but
/// to make each guess against a stolen database dear. A set of codes shares
/// one salt, so checking a typed code costs one hash, not one per slot;
/// sharing it lets a thief test a guess against ten codes at once, which
/// 60-bit codes can afford.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const SALT_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("not a recovery code (expected {SYMBOLS} symbols like xxxx-xxxx-xxxx)")]
    NotACode,
    #[error("argon2 parameters rejected: {0}")]
    Params(#[from] argon2::Error),
    #[error("hashing a recovery code failed: {0}")]
    Hash(#[from] argon2::password_hash::Error),
}

/// Generates COUNT codes of 12 Crockford base32 symbols (60 bits each),
/// shown grouped as `xxxx-xxxx-xxxx`.
pub fn generate(env: &Env) -> Vec<String> {
    (0..COUNT).map(|_| one_code(env)).collect()
}

fn one_code(env: &Env) -> String {
    let mut bytes = [0u8; 8];
    env.random.fill(&mut bytes);
    let mut bits = u64::from_le_bytes(bytes);
    let mut code = String::with_capacity(SYMBOLS + SYMBOLS / GROUP);
    for i in 0..SYMBOLS {
        if i > 0 && i % GROUP == 0 {
            code.push('-');
        }
        // 32 symbols are exactly 5 bits, so the mapping has no modulo bias.
        code.push(char::from(ALPHABET[(bits & 0x1f) as usize]));
        bits >>= 5;
    }
    code
}

/// Canonical form of what a user typed: lower case, whitespace and dashes
/// removed, look-alikes decoded the Crockford way (o -> 0, i and l -> 1).
/// None unless exactly 12 alphabet symbols remain.
pub fn normalize(input: &str) -> Option<String> {
    let mut out = String::with_capacity(SYMBOLS);
    for c in input.chars() {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        let c = match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || out.len() == SYMBOLS {
            return None;
        }
        out.push(c);
    }
    (out.len() == SYMBOLS).then_some(out)
}

fn hasher() -> Result<Argon2<'static>, RecoveryError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// argon2id hashes (PHC strings) of the normalized codes, under one fresh
/// salt. Takes tens of milliseconds of CPU per code in release builds:
/// callers run it on a blocking thread.
pub fn hash_set(env: &Env, codes: &[String]) -> Result<Vec<String>, RecoveryError> {
    let mut salt = [0u8; SALT_LEN];
    env.random.fill(&mut salt);
    let hasher = hasher()?;
    codes
        .iter()
        .map(|code| {
            let code = normalize(code).ok_or(RecoveryError::NotACode)?;
            Ok(hasher.hash_password_with_salt(code.as_bytes(), &salt)?.to_string())
        })
        .collect()
}

/// Which of `hashes` (None = already used) the typed code matches.
///
/// The typed code is hashed once per distinct salt and parameters (once
/// for a set made by `hash_set`), then compared with every unused slot in
/// constant time, so neither the time taken nor an early exit reveals the
/// matching slot. The parameters recorded in each PHC string are used, so
/// hashes made with other costs keep working. An unparsable stored hash
/// simply never matches.
pub fn find(typed: &str, hashes: &[Option<&str>]) -> Option<usize> {
    // Malformed input is refused before any hashing; its shape is not secret.
    let code = normalize(typed)?;
    let mut typed_hashes: Vec<(String, Output)> = Vec::new();
    let mut found = None;
    for (index, stored) in hashes.iter().enumerate() {
        let Some(stored) = stored.and_then(|s| PasswordHash::new(s).ok()) else {
            continue;
        };
        let (Some(salt), Some(want)) = (&stored.salt, stored.hash) else {
            continue;
        };
        // Algorithm, version, parameters and salt decide the typed code's hash.
        let key = format!("{}${:?}${}${salt}", stored.algorithm, stored.version, stored.params);
        let known = typed_hashes.iter().find(|(k, _)| *k == key).map(|(_, h)| *h);
        let got = match known {
            Some(h) => h,
            None => {
                let Some(h) = hash_like(&code, &stored) else { continue };
                typed_hashes.push((key, h));
                h
            }
        };
        // Output's equality is constant-time.
        if got == want && found.is_none() {
            found = Some(index);
        }
    }
    found
}

/// The typed code hashed as `stored` was: same algorithm, parameters, salt.
fn hash_like(code: &str, stored: &PasswordHash) -> Option<Output> {
    let params = Params::try_from(stored).ok()?;
    let salt = stored.salt.as_ref()?;
    Argon2::default()
        .hash_password_customized(
            code.as_bytes(),
            salt.as_ref(),
            Some(stored.algorithm.as_str()),
            stored.version,
            params,
        )
        .ok()?
        .hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::env_at;
    use std::collections::HashSet;

    #[test]
    fn ten_distinct_grouped_codes_are_generated() {
        let (env, _) = env_at(0);
        let codes = generate(&env);
        assert_eq!(codes.len(), COUNT);
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), COUNT);
        for code in &codes {
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 3, "{code}");
            assert!(groups.iter().all(|g| g.len() == GROUP), "{code}");
            assert!(code.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalize(code).as_deref(), Some(code.replace('-', "").as_str()));
        }
    }

    #[test]
    fn real_randomness_gives_distinct_codes() {
        let codes = generate(&Env::real());
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), COUNT);
    }

    #[test]
    fn normalize_forgives_case_spacing_dashes_and_look_alikes() {
        assert_eq!(normalize("ABCD-EFGH-JKMN").as_deref(), Some("abcdefghjkmn"));
        assert_eq!(normalize(" abcd efgh\tjkmn ").as_deref(), Some("abcdefghjkmn"));
        assert_eq!(normalize("abcd--efghjkmn").as_deref(), Some("abcdefghjkmn"));
        assert_eq!(normalize("OoIi-Ll00-1111").as_deref(), Some("001111001111"));
    }

    #[test]
    fn normalize_refuses_what_is_not_a_code() {
        for bad in [
            "",
            "abcd-efgh-jkm",
            "abcd-efgh-jkmnp",
            "abcd-efgh-jkmu",
            "abcd_efgh_jkmn",
            "abcd-efgh-jkmé",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hashed_code_is_found_in_any_typed_form() {
        let (env, _) = env_at(0);
        let codes = generate(&env);
        let stored = hash_set(&env, &codes[..3]).unwrap();
        assert!(
            stored[0].starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            stored[0]
        );
        let slots: Vec<Option<&str>> = stored.iter().map(|s| Some(s.as_str())).collect();
        assert_eq!(find(&codes[1], &slots), Some(1));
        assert_eq!(find(&codes[2].to_uppercase().replace('-', " "), &slots), Some(2));
    }

    #[test]
    fn used_slot_is_never_matched() {
        let (env, _) = env_at(0);
        let code = &generate(&env)[0];
        let stored = hash_set(&env, std::slice::from_ref(code)).unwrap().remove(0);
        assert_eq!(find(code, &[None, Some(stored.as_str())]), Some(1));
        assert_eq!(find(code, &[None, None]), None);
    }

    #[test]
    fn wrong_code_matches_nothing() {
        let (env, _) = env_at(0);
        let codes = generate(&env);
        let stored = hash_set(&env, &codes[..1]).unwrap().remove(0);
        assert_eq!(find(&codes[1], &[Some(stored.as_str())]), None);
        assert_eq!(find("not a code", &[Some(stored.as_str())]), None);
        assert_eq!(find(&codes[1], &[Some("garbage")]), None);
    }

    #[test]
    fn hashing_refuses_input_that_is_not_a_code() {
        let (env, _) = env_at(0);
        assert!(matches!(
            hash_set(&env, &["hunter2".to_string()]),
            Err(RecoveryError::NotACode)
        ));
    }

    #[test]
    fn codes_hashed_under_other_salts_and_costs_are_still_found() {
        let (env, _) = env_at(0);
        let codes = generate(&env);
        let ours = hash_set(&env, &codes[..1]).unwrap().remove(0);
        let salt = [9u8; SALT_LEN];
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 2, 1, None).unwrap(),
        );
        let older = cheap
            .hash_password_with_salt(normalize(&codes[1]).unwrap().as_bytes(), &salt)
            .unwrap()
            .to_string();
        let slots = [Some(ours.as_str()), Some(older.as_str())];
        assert_eq!(find(&codes[0], &slots), Some(0));
        assert_eq!(find(&codes[1], &slots), Some(1));
        assert_eq!(find(&codes[2], &slots), None);
    }
}
