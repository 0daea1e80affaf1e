//! The legacy SMS second factor's own rules, kept apart from any provider:
//! phone numbers validated and normalised to E.164 by libphonenumber's data,
//! one-time codes that expire, are single use and are held only as HMACs,
//! and a limit on how many codes are sent per user and per number.
//! Codes in flight live in memory only: after a restart a user asks again.

pub mod providers;

use std::collections::VecDeque;

use dashmap::DashMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::env::{Env, UnixSeconds};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmsError {
    #[error("Choose a country.")]
    UnknownCountry,
    #[error("That is not a valid phone number for the chosen country.")]
    InvalidNumber,
    #[error("That number cannot receive text messages: enter a mobile number.")]
    NotMobile,
}

/// A phone number in E.164 form, e.g. `+447400123456`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Validates `number` as typed by a user of `country` (ISO 3166 code);
    /// an international number with `+` is accepted too.
    pub fn parse(country: &str, number: &str) -> Result<Phone, SmsError> {
        let id: phonenumber::country::Id = country
            .trim()
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| SmsError::UnknownCountry)?;
        let parsed = phonenumber::parse(Some(id), number.trim()).map_err(|_| SmsError::InvalidNumber)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(SmsError::InvalidNumber);
        }
        // A landline or a service number is valid but never gets the code.
        // Where a country's plan cannot tell mobiles from landlines (the
        // US, say), the number is given the benefit of the doubt.
        use phonenumber::Type;
        match parsed.number_type(&phonenumber::metadata::DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile => {}
            _ => return Err(SmsError::NotMobile),
        }
        Ok(Phone(parsed.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// A number already in E.164 form, as stored.
    pub fn from_e164(e164: String) -> Phone {
        Phone(e164)
    }

    pub fn e164(&self) -> &str {
        &self.0
    }

    /// `+44••••••••56`: enough to recognise, not enough to reveal.
    pub fn masked(&self) -> String {
        let digits: Vec<char> = self.0.chars().collect();
        let keep_start = 3.min(digits.len());
        let keep_end = digits.len().saturating_sub(2).max(keep_start);
        let mut out: String = digits[..keep_start].iter().collect();
        out.extend(std::iter::repeat_n('•', keep_end - keep_start));
        out.extend(&digits[keep_end..]);
        out
    }
}

/// Countries offered in the number form (ISO code, name), most users first.
pub const COUNTRIES: &[(&str, &str)] = &[
    ("GB", "United Kingdom"),
    ("US", "United States"),
    ("CA", "Canada"),
    ("IE", "Ireland"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("NL", "Netherlands"),
    ("BE", "Belgium"),
    ("CH", "Switzerland"),
    ("AT", "Austria"),
    ("SE", "Sweden"),
    ("NO", "Norway"),
    ("DK", "Denmark"),
    ("FI", "Finland"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("CZ", "Czechia"),
    ("AU", "Australia"),
    ("NZ", "New Zealand"),
    ("IN", "India"),
    ("JP", "Japan"),
    ("SG", "Singapore"),
    ("BR", "Brazil"),
    ("MX", "Mexico"),
    ("ZA", "South Africa"),
];

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

struct Issued {
    mac: [u8; 32],
    expires: UnixSeconds,
    purpose: Purpose,
}

/// Codes in flight, one per user: a new one replaces the last.
pub struct Codes {
    pepper: [u8; 32],
    ttl_secs: u64,
    issued: DashMap<String, Issued>,
}

impl Codes {
    pub fn new(env: &Env, ttl_secs: u64) -> Self {
        let mut pepper = [0u8; 32];
        env.random.fill(&mut pepper);
        Codes {
            pepper,
            ttl_secs,
            issued: DashMap::new(),
        }
    }

    fn mac(&self, user_id: &str, code: &str) -> [u8; 32] {
        // The pepper is 32 bytes, a valid HMAC key of any length; the
        // fallback can only run if that changed.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.pepper) else {
            return [0; 32];
        };
        m.update(user_id.as_bytes());
        m.update(&[0]);
        m.update(code.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// Issues a new code for `user_id`; returns it for the message.
    pub fn issue(&self, env: &Env, user_id: &str, purpose: Purpose) -> String {
        let code = new_code(env);
        let issued = Issued {
            mac: self.mac(user_id, &code),
            expires: env.now() + self.ttl_secs,
            purpose,
        };
        self.issued.insert(user_id.to_string(), issued);
        code
    }

    /// Spends the user's code if `typed` is it, unexpired, and of the kind
    /// asked for (`sign_in`, or else an enrollment); returns its purpose.
    pub fn redeem(&self, user_id: &str, typed: &str, sign_in: bool, now: UnixSeconds) -> Option<Purpose> {
        let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        let mac = self.mac(user_id, &typed);
        let matched = {
            let entry = self.issued.get(user_id)?;
            let right: bool = entry.mac.ct_eq(&mac).into();
            let purpose_ok = (entry.purpose == Purpose::SignIn) == sign_in;
            right && purpose_ok && now < entry.expires
        };
        if !matched {
            return None;
        }
        self.issued.remove(user_id).map(|(_, i)| i.purpose)
    }

    /// The number an enrollment code was sent to, while it is valid.
    pub fn enrolling(&self, user_id: &str, now: UnixSeconds) -> Option<Phone> {
        let entry = self.issued.get(user_id)?;
        match &entry.purpose {
            Purpose::Enroll(p) if now < entry.expires => Some(p.clone()),
            _ => None,
        }
    }

    /// Whether a sign-in code sent to the user is still valid: the
    /// challenge then asks for the code from the message.
    pub fn signing_in(&self, user_id: &str, now: UnixSeconds) -> bool {
        self.issued
            .get(user_id)
            .is_some_and(|i| i.purpose == Purpose::SignIn && now < i.expires)
    }

    /// Forgets expired codes.
    pub fn sweep(&self, now: UnixSeconds) {
        self.issued.retain(|_, i| i.expires > now);
    }
}

/// Everything the SMS factor needs at run time.
pub struct SmsService {
    pub provider: Box<dyn providers::SmsProvider>,
    pub codes: Codes,
    pub limit: SendLimit,
}

/// At most `max` codes per `window_secs`, per user and per number.
pub struct SendLimit {
    max: usize,
    window_secs: u64,
    sent: DashMap<String, VecDeque<UnixSeconds>>,
}

impl SendLimit {
    pub fn new(max: usize, window_secs: u64) -> Self {
        SendLimit {
            max,
            window_secs,
            sent: DashMap::new(),
        }
    }

    /// Records a send for both keys if both are under the limit; otherwise
    /// the seconds until one more is allowed.
    pub fn try_send(&self, user_id: &str, phone: &Phone, now: UnixSeconds) -> Result<(), u64> {
        let keys = [format!("u:{user_id}"), format!("n:{}", phone.e164())];
        let mut wait = 0;
        for k in &keys {
            let mut q = self.sent.entry(k.clone()).or_default();
            while q.front().is_some_and(|t| t + self.window_secs <= now) {
                q.pop_front();
            }
            if q.len() >= self.max {
                wait = wait.max(q.front().map_or(0, |t| t + self.window_secs - now));
            }
        }
        if wait > 0 {
            return Err(wait);
        }
        for k in keys {
            self.sent.entry(k).or_default().push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::env_at;

    #[test]
    fn national_numbers_become_e164() {
        assert_eq!(Phone::parse("GB", "07400 123456").unwrap().e164(), "+447400123456");
        assert_eq!(Phone::parse("gb", "+44 7400 123456").unwrap().e164(), "+447400123456");
        assert_eq!(Phone::parse("GB", "12"), Err(SmsError::InvalidNumber));
        assert_eq!(Phone::parse("XX", "07400 123456"), Err(SmsError::UnknownCountry));
    }

    #[test]
    fn only_numbers_that_can_receive_texts_are_accepted() {
        assert_eq!(
            Phone::parse("GB", "+44 20 7946 0958"),
            Err(SmsError::NotMobile),
            "a London landline"
        );
        assert_eq!(
            Phone::parse("GB", "0800 123 4567"),
            Err(SmsError::NotMobile),
            "freephone"
        );
        assert_eq!(
            Phone::parse("DE", "030 123456"),
            Err(SmsError::NotMobile),
            "a Berlin landline"
        );
        assert!(Phone::parse("DE", "01512 3456789").is_ok(), "a German mobile");
        assert!(
            Phone::parse("US", "201 555 0123").is_ok(),
            "the US plan cannot tell mobiles from landlines"
        );
    }

    #[test]
    fn a_sign_in_code_in_flight_is_known_until_it_expires_or_is_spent() {
        let (env, _clock) = env_at(1000);
        let codes = Codes::new(&env, 300);
        assert!(!codes.signing_in("dave", 1000));
        let phone = Phone::from_e164("+447400123456".into());
        codes.issue(&env, "dave", Purpose::Enroll(phone));
        assert!(
            !codes.signing_in("dave", 1000),
            "an enrollment code is not a sign-in code"
        );
        let c = codes.issue(&env, "dave", Purpose::SignIn);
        assert!(codes.signing_in("dave", 1299));
        assert!(!codes.signing_in("dave", 1300), "expired");
        codes.redeem("dave", &c, true, 1001);
        assert!(!codes.signing_in("dave", 1001), "spent");
    }

    #[test]
    fn masked_number_shows_only_the_ends() {
        assert_eq!(Phone::from_e164("+447400123456".into()).masked(), "+44••••••••56");
    }

    #[test]
    fn code_is_single_use_and_expires() {
        let (env, clock) = env_at(1000);
        let codes = Codes::new(&env, 300);
        let c = codes.issue(&env, "dave", Purpose::SignIn);
        assert_eq!(c.len(), 6);
        assert_eq!(codes.redeem("dave", "000000x", true, 1001), None);
        assert_eq!(
            codes.redeem("dave", &c, false, 1001),
            None,
            "a sign-in code does not enroll"
        );
        assert_eq!(codes.redeem("dave", &c, true, 1001), Some(Purpose::SignIn));
        assert_eq!(codes.redeem("dave", &c, true, 1002), None, "reused");
        let c = codes.issue(&env, "dave", Purpose::SignIn);
        clock.advance(300);
        assert_eq!(
            codes.redeem("dave", &c, true, clock.0.load(std::sync::atomic::Ordering::SeqCst)),
            None,
            "expired"
        );
    }

    #[test]
    fn sends_are_limited_per_user_and_per_number() {
        let limit = SendLimit::new(3, 600);
        let a = Phone::from_e164("+447400123456".into());
        let b = Phone::from_e164("+447700900456".into());
        for t in 0..3 {
            assert!(limit.try_send("dave", &a, 100 + t).is_ok());
        }
        assert_eq!(limit.try_send("dave", &b, 110), Err(590), "per user");
        assert_eq!(limit.try_send("eve", &a, 110), Err(590), "per number");
        assert!(limit.try_send("eve", &b, 110).is_ok());
        assert!(limit.try_send("dave", &a, 700).is_ok(), "the window moves on");
    }
}
