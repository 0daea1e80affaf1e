//! The legacy SMS second factor's own rules, kept apart from any provider:
//! phone numbers validated and normalised to E.164 by libphonenumber's data,
//! one-time codes that expire, are single use and are held only as HMACs,
//! and a limit on how many codes are sent per user and per number.
//! Codes in flight and codes sent live in the store (`codes.rs`), so any
//! replica takes a code another sent.

mod codes;
pub mod providers;

pub use codes::{new_code, Codes, Purpose, SendLimit};

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

/// Everything the SMS factor needs at run time.
pub struct SmsService {
    pub provider: Box<dyn providers::SmsProvider>,
    pub codes: Codes,
    pub limit: SendLimit,
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn masked_number_shows_only_the_ends() {
        assert_eq!(Phone::from_e164("+447400123456".into()).masked(), "+44••••••••56");
    }
}
