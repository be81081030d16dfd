//! How GHL stores a phone number: E.164, read as a US number when it has no country
//! code. The simulator's own rule (libphonenumber's parsing), independent of the
//! gateway's.

use phonenumber::{Mode, country};

/// The E.164 form GHL keeps for `input`; `None` when it is not a valid number.
pub fn to_e164(input: &str) -> Option<String> {
    let parsed = phonenumber::parse(Some(country::US), input).ok()?;
    phonenumber::is_valid(&parsed).then(|| parsed.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_in_any_us_format_is_one_e164_number() {
        for input in ["(212) 555-0123", "212.555.0123", "+1 212 555 0123"] {
            assert_eq!(to_e164(input).as_deref(), Some("+12125550123"), "{input}");
        }
        assert_eq!(to_e164("555"), None);
    }
}
