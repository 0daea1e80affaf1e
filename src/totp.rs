//! Time-based one-time passwords (RFC 6238) as authenticator apps implement
//! them: SHA-1, 6 digits, 30-second steps, 160-bit secrets. Those parameters
//! are the only ones every app honours (some silently ignore the others), so
//! they are fixed here rather than configurable. The module also owns the
//! replay guard RFC 6238 §5.2 asks for, which totp-rs leaves to its callers.

use std::fmt;

use qrcode::render::svg;
use qrcode::QrCode;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::env::Env;

pub const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
const SECRET_LEN: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("a TOTP secret must be {SECRET_LEN} bytes, got {0}")]
    SecretLength(usize),
    #[error("the {0} in a key URI must be non-empty and contain no colon")]
    BadLabel(&'static str),
    #[error("cannot draw the QR code: {0}")]
    Qr(#[from] qrcode::types::QrError),
}

/// A TOTP secret: 20 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; SECRET_LEN]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug output ends up in logs; the secret must not.
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    pub fn generate(env: &Env) -> Secret {
        let mut bytes = [0u8; SECRET_LEN];
        env.random.fill(&mut bytes);
        Secret(bytes)
    }

    /// Exactly 20 bytes: anything else did not come from [`Secret::generate`]
    /// and points at a corrupted or foreign record.
    pub fn from_bytes(b: &[u8]) -> Result<Secret, TotpError> {
        <[u8; SECRET_LEN]>::try_from(b)
            .map(Secret)
            .map_err(|_| TotpError::SecretLength(b.len()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32, upper case, without padding: the form `oathtool -b`
    /// and the manual-entry screens of authenticator apps accept.
    pub fn base32(&self) -> String {
        totp_rs::Secret::from(self.0).to_base32()
    }

    fn generator(&self) -> totp_rs::Totp {
        // `build` would only re-check the constants below (digits 6..=8,
        // secret >= 128 bits, non-zero step), which hold by construction, so
        // the infallible builder saves an error path that cannot be taken.
        totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_skew(0)
            .with_step_duration(STEP_SECS)
            .with_secret(self.0)
            .build_noncompliant()
    }
}

/// The key URI in the Google Authenticator format:
/// `otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`
/// with issuer and account percent-encoded. totp-rs's `to_url` leaves out the
/// parameters that equal the defaults; some apps guess wrong without them,
/// so the URI is written out in full here.
pub fn key_uri(secret: &Secret, issuer: &str, account: &str) -> Result<String, TotpError> {
    // A colon separates issuer from account in the label, and parsers split
    // on an encoded `%3A` too, so neither half may contain one.
    if issuer.is_empty() || issuer.contains(':') {
        return Err(TotpError::BadLabel("issuer"));
    }
    if account.is_empty() || account.contains(':') {
        return Err(TotpError::BadLabel("account"));
    }
    let issuer = percent_encode(issuer);
    Ok(format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        account = percent_encode(account),
        secret = secret.base32(),
    ))
}

/// Everything but RFC 3986 unreserved characters is escaped, so a space is
/// `%20` (never `+`, which apps would show literally).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The key URI as an inline SVG QR code: an `<svg>` element without XML
/// prolog (the prolog is invalid inside HTML), dark modules on white, with
/// the quiet zone scanners need, at least 200 px wide.
pub fn qr_svg(uri: &str) -> Result<String, TotpError> {
    let image = QrCode::new(uri.as_bytes())?
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    // Should a later renderer drop the prolog itself, the whole output is the element.
    let start = image.find("<svg").unwrap_or(0);
    Ok(image[start..].to_string())
}

/// The code for the time step containing `unix`.
pub fn code_at(secret: &Secret, unix: u64) -> String {
    secret.generator().generate(unix).to_string()
}

/// Verifies `code` against the steps before, at and after `now`'s, returning
/// the matched step (`unix / 30`) only if it is later than `last_used_step`.
///
/// Whitespace in the code is ignored (apps display "123 456"); any other
/// non-digit means no match. The caller stores the returned step as the new
/// `last_used_step`, which makes a code single-use and also refuses any code
/// older than one already accepted (RFC 6238 §5.2).
pub fn verify(secret: &Secret, code: &str, now: u64, last_used_step: Option<u64>) -> Option<u64> {
    let typed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let generator = secret.generator();
    let current = now / STEP_SECS;
    let mut found = Choice::from(0);
    let mut matched = 0u64;
    // Every candidate is computed and compared so that the time taken does
    // not tell which step (if any) matched. Later steps override earlier
    // ones, so the newest unused match wins.
    for step in current.saturating_sub(1)..=current.saturating_add(1) {
        let expected = generator.generate(step.saturating_mul(STEP_SECS)).to_string();
        let fresh = Choice::from(u8::from(last_used_step.is_none_or(|last| step > last)));
        let hit = expected.as_bytes().ct_eq(typed.as_bytes()) & fresh;
        matched = u64::conditional_select(&matched, &step, hit);
        found |= hit;
    }
    bool::from(found).then_some(matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::env_at;
    use crate::env::Clock;

    /// The RFC 6238 test vector time whose SHA-1 code is 081804.
    const T: u64 = 1_111_111_109;

    fn rfc_secret() -> Secret {
        Secret(*b"12345678901234567890")
    }

    #[test]
    fn rfc6238_sha1_vectors_are_reproduced() {
        assert_eq!(code_at(&rfc_secret(), 59), "287082");
        assert_eq!(code_at(&rfc_secret(), T), "081804");
    }

    #[test]
    fn codes_from_the_neighbouring_steps_are_accepted() {
        let s = rfc_secret();
        let step = T / STEP_SECS;
        assert_eq!(verify(&s, &code_at(&s, T), T, None), Some(step));
        assert_eq!(verify(&s, &code_at(&s, T - STEP_SECS), T, None), Some(step - 1));
        assert_eq!(verify(&s, &code_at(&s, T + STEP_SECS), T, None), Some(step + 1));
    }

    #[test]
    fn codes_two_steps_off_are_refused() {
        let s = rfc_secret();
        assert_eq!(verify(&s, &code_at(&s, T - 2 * STEP_SECS), T, None), None);
        assert_eq!(verify(&s, &code_at(&s, T + 2 * STEP_SECS), T, None), None);
    }

    #[test]
    fn replayed_code_is_refused() {
        let s = rfc_secret();
        let code = code_at(&s, T);
        let used = verify(&s, &code, T, None);
        assert!(used.is_some());
        assert_eq!(verify(&s, &code, T + 5, used), None);
    }

    #[test]
    fn older_code_after_a_newer_one_is_refused() {
        let s = rfc_secret();
        let used = verify(&s, &code_at(&s, T), T, None);
        assert_eq!(verify(&s, &code_at(&s, T - STEP_SECS), T, used), None);
    }

    #[test]
    fn newer_code_after_an_older_one_is_accepted() {
        let s = rfc_secret();
        let used = verify(&s, &code_at(&s, T - STEP_SECS), T, None);
        assert_eq!(verify(&s, &code_at(&s, T), T, used), Some(T / STEP_SECS));
    }

    #[test]
    fn spaces_are_ignored_but_other_characters_are_refused() {
        let s = rfc_secret();
        assert_eq!(verify(&s, "081 804", T, None), Some(T / STEP_SECS));
        for bad in ["08180a", "+81804", "0818040", "08180", "", "０８１８０４", "081-804"] {
            assert_eq!(verify(&s, bad, T, None), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_round_trips() {
        let (env, _) = env_at(0);
        let s = Secret::generate(&env);
        let text = s.base32();
        assert_eq!(text.len(), 32);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        let back = totp_rs::Secret::try_from_base32(&text).map(|b| b.as_bytes().to_vec());
        assert_eq!(back.ok().as_deref(), Some(s.as_bytes()));
        assert_eq!(rfc_secret().base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn from_bytes_insists_on_twenty_bytes() {
        assert!(matches!(Secret::from_bytes(&[0; 19]), Err(TotpError::SecretLength(19))));
        assert_eq!(Secret::from_bytes(b"12345678901234567890").ok(), Some(rfc_secret()));
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let shown = format!("{:?}", rfc_secret());
        assert!(!shown.contains("49") && !shown.contains("12345"), "{shown}");
    }

    #[test]
    fn key_uri_has_every_parameter_and_parses_back() {
        let s = rfc_secret();
        let uri = key_uri(&s, "Acme Corp", "alice@example.com").unwrap();
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"
        );
        let parsed = totp_rs::Totp::from_url(&uri).unwrap();
        assert_eq!(parsed.issuer(), Some("Acme Corp"));
        assert_eq!(parsed.account_name(), "alice@example.com");
        assert_eq!(parsed.secret().as_bytes(), s.as_bytes());
        assert_eq!(parsed.generate(T).to_string(), "081804");
    }

    #[test]
    fn key_uri_refuses_colons_and_empty_names() {
        let s = rfc_secret();
        assert!(matches!(key_uri(&s, "a:b", "c"), Err(TotpError::BadLabel("issuer"))));
        assert!(matches!(key_uri(&s, "a", ""), Err(TotpError::BadLabel("account"))));
    }

    #[test]
    fn qr_svg_is_a_bare_svg_element() {
        let svg = qr_svg(&key_uri(&rfc_secret(), "Acme", "alice").unwrap()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.ends_with("</svg>"));
    }

    /// Optional external checks: skipped (with a note) where the tools are missing.
    fn run(cmd: &str, args: &[&str]) -> Option<String> {
        match std::process::Command::new(cmd).args(args).output() {
            Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).trim().to_string()),
            Ok(out) => panic!("{cmd} failed: {}", String::from_utf8_lossy(&out.stderr)),
            Err(_) => {
                eprintln!("note: {cmd} not installed, skipping");
                None
            }
        }
    }

    #[test]
    fn oathtool_agrees_on_the_current_code() {
        let (env, _) = env_at(0);
        let s = Secret::generate(&env);
        let now = || crate::env::SystemClock.now();
        let before = code_at(&s, now());
        let Some(theirs) = run("oathtool", &["--totp", "-b", &s.base32()]) else {
            return;
        };
        // The step may roll over between the two calls.
        assert!(theirs == before || theirs == code_at(&s, now()), "{theirs} vs {before}");
    }

    #[test]
    fn zbarimg_reads_the_key_uri_back_from_the_qr_code() {
        let uri = key_uri(&rfc_secret(), "Acme Corp", "alice@example.com").unwrap();
        let dir = std::env::temp_dir().join(format!("totp-qr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (svg, png) = (dir.join("qr.svg"), dir.join("qr.png"));
        std::fs::write(&svg, qr_svg(&uri).unwrap()).unwrap();
        let (svg, png) = (svg.to_string_lossy().to_string(), png.to_string_lossy().to_string());
        if run("rsvg-convert", &["-o", &png, &svg]).is_some() {
            if let Some(out) = run("zbarimg", &["--raw", "-q", &png]) {
                assert_eq!(out, uri);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
