//! Enrollment, codes and recovery codes over a real (temporary) store.

use super::*;
use crate::env::testing::{env_at, FixedClock};
use crate::env::Clock as _;
use crate::sms::Phone;
use crate::totp::{self, Secret};
use std::sync::Arc;

fn factors() -> (Factors, Arc<FixedClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (env, clock) = env_at(1_700_000_000);
    let (key, _) = SecretKey::generate(&env);
    let f = Factors {
        store: Store::open(dir.path()).unwrap(),
        env,
        key,
        issuer: "Test".into(),
        webauthn: None,
    };
    (f, clock, dir)
}

/// Decodes the RFC 4648 base32 secret an authenticator app would read.
fn secret_of(e: &Enrollment) -> Secret {
    let (mut bits, mut acc, mut out) = (0u32, 0u64, Vec::new());
    for c in e.secret_base32.bytes() {
        let v = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .iter()
            .position(|&a| a == c)
            .unwrap() as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Secret::from_bytes(&out).unwrap()
}

#[tokio::test]
async fn enrollment_needs_the_current_code_and_gives_ten_recovery_codes() {
    let (f, clock, _d) = factors();
    let e = f.begin_totp("u", "u@x").await.unwrap();
    assert!(matches!(
        f.confirm_totp("u", "000000").await,
        Err(FactorError::WrongCode)
    ));
    let now = clock.now();
    let codes = f.confirm_totp("u", &totp::code_at(&secret_of(&e), now)).await.unwrap();
    assert_eq!(codes.len(), 10);
    let status = f.status("u").await.unwrap();
    assert!(KindSet::of(&status).counting() && status.get::<crate::store::PendingTotp>().is_none());
    assert!(
        status.recovery().iter().all(|c| !codes.contains(&c.hash)),
        "only hashes are stored"
    );
}

#[tokio::test]
async fn secret_is_stored_encrypted() {
    let (f, _, _d) = factors();
    let e = f.begin_totp("u", "u@x").await.unwrap();
    let stored = f
        .status("u")
        .await
        .unwrap()
        .take::<crate::store::PendingTotp>()
        .unwrap()
        .sealed_secret;
    let raw = secret_of(&e);
    assert!(!stored.windows(raw.as_bytes().len()).any(|w| w == raw.as_bytes()));
}

#[tokio::test]
async fn login_code_is_accepted_once_and_older_codes_never() {
    let (f, clock, _d) = factors();
    let e = f.begin_totp("u", "u@x").await.unwrap();
    let s = secret_of(&e);
    f.confirm_totp("u", &totp::code_at(&s, clock.now())).await.unwrap();
    clock.advance(30);
    let code = totp::code_at(&s, clock.now());
    assert_eq!(f.verify_login("u", &code).await.unwrap(), Some(Passed::Totp));
    assert_eq!(f.verify_login("u", &code).await.unwrap(), None, "replayed");
    let older = totp::code_at(&s, clock.now() - 30);
    assert_eq!(
        f.verify_login("u", &older).await.unwrap(),
        None,
        "older than the last used"
    );
}

#[tokio::test]
async fn recovery_code_is_spent_and_regeneration_voids_the_rest() {
    let (f, clock, _d) = factors();
    let e = f.begin_totp("u", "u@x").await.unwrap();
    let codes = f
        .confirm_totp("u", &totp::code_at(&secret_of(&e), clock.now()))
        .await
        .unwrap();
    assert_eq!(
        f.verify_login("u", &codes[0]).await.unwrap(),
        Some(Passed::Recovery { left: 9 })
    );
    assert_eq!(f.verify_login("u", &codes[0]).await.unwrap(), None);
    let fresh = f.regenerate("u").await.unwrap();
    assert_eq!(f.verify_login("u", &codes[1]).await.unwrap(), None);
    assert_eq!(
        f.verify_login("u", &fresh[1]).await.unwrap(),
        Some(Passed::Recovery { left: 9 })
    );
}

#[tokio::test]
async fn stale_enrollment_cannot_be_confirmed() {
    let (f, clock, _d) = factors();
    let e = f.begin_totp("u", "u@x").await.unwrap();
    clock.advance(ENROLLMENT_TTL_SECS + 1);
    let code = totp::code_at(&secret_of(&e), clock.now());
    assert!(matches!(
        f.confirm_totp("u", &code).await,
        Err(FactorError::NoEnrollment)
    ));
}

#[tokio::test]
async fn sms_number_is_stored_encrypted_and_read_back() {
    let (f, _, _d) = factors();
    let phone = Phone::parse("GB", "07400 123456").unwrap();
    f.enable_sms("u", &phone).await.unwrap();
    let stored = f.status("u").await.unwrap().take::<crate::store::SmsFactor>().unwrap();
    assert_eq!(stored.masked, "+44••••••••56");
    assert!(!String::from_utf8_lossy(&stored.sealed_phone).contains("7400123456"));
    assert_eq!(f.sms_phone("u").await.unwrap(), Some(phone));
    f.disable_sms("u").await.unwrap();
    assert!(!KindSet::of(&f.status("u").await.unwrap()).counting());
}

#[tokio::test]
async fn rotated_key_opens_every_secret_and_the_old_one_none() {
    let (f, clock, dir) = factors();
    let e = f.begin_totp("u", "u@x").await.unwrap();
    f.confirm_totp("u", &totp::code_at(&secret_of(&e), clock.now()))
        .await
        .unwrap();
    f.enable_sms("v", &Phone::parse("GB", "07400 123456").unwrap())
        .await
        .unwrap();
    let (new_key, _) = SecretKey::generate(&f.env);
    assert_eq!(f.reseal_all(&new_key).await.unwrap(), 2);
    let rotated = Factors {
        key: new_key,
        store: f.store.clone(),
        env: f.env.clone(),
        issuer: "Test".into(),
        webauthn: None,
    };
    clock.advance(30);
    assert_eq!(
        rotated
            .verify_login("u", &totp::code_at(&secret_of(&e), clock.now()))
            .await
            .unwrap(),
        Some(Passed::Totp)
    );
    assert!(rotated.sms_phone("v").await.unwrap().is_some());
    assert!(f.sms_phone("v").await.is_err(), "the old key opens nothing any more");
    drop(dir);
}

#[tokio::test]
async fn disable_removes_everything() {
    let (f, clock, _d) = factors();
    let e = f.begin_totp("u", "u@x").await.unwrap();
    f.confirm_totp("u", &totp::code_at(&secret_of(&e), clock.now()))
        .await
        .unwrap();
    f.disable("u").await.unwrap();
    assert_eq!(f.status("u").await.unwrap(), FactorsRecord::default());
    assert!(matches!(f.disable("u").await, Err(FactorError::NotEnabled)));
}

#[test]
fn a_code_is_six_digits_or_a_recovery_code_and_anything_else_is_neither() {
    assert_eq!(CodeShape::of("123 456"), CodeShape::SixDigits);
    assert_eq!(CodeShape::of("ABCD-efgh-1234"), CodeShape::Recovery);
    assert_eq!(CodeShape::of("abcd efgh 1234"), CodeShape::Recovery);
    assert_eq!(
        CodeShape::of("123456789012"),
        CodeShape::Recovery,
        "12 digits are recovery symbols"
    );
    for neither in [
        "",
        "   ",
        "12345",
        "1234567",
        "abcdef",
        "uuuu-uuuu-uuuu",
        "123456\u{661}",
    ] {
        assert_eq!(CodeShape::of(neither), CodeShape::Neither, "{neither:?}");
    }
}
