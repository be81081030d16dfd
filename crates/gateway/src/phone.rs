//! Phone numbers in the two forms the upstreams use: E.164 (GHL) and digits only
//! (Club OS), parsed with libphonenumber's rules so that `(212) 555-0123`,
//! `212.555.0123` and `+1 212 555 0123` are one number.

use std::sync::LazyLock;

use phonenumber::{Mode, country};

/// Both forms of a valid number.
#[derive(Debug, Clone)]
struct Forms {
    e164: String,
    national: String,
}

/// Parsing a number with libphonenumber's rules is costly and the same numbers come back
/// on every read of a person, so results are remembered (bounded).
static PARSED: LazyLock<moka::sync::Cache<(String, country::Id), Option<Forms>>> =
    LazyLock::new(|| moka::sync::Cache::new(100_000));

fn forms(input: &str, region: country::Id) -> Option<Forms> {
    PARSED.get_with((input.to_owned(), region), || {
        let parsed = phonenumber::parse(Some(region), input).ok()?;
        phonenumber::is_valid(&parsed).then(|| Forms {
            e164: parsed.format().mode(Mode::E164).to_string(),
            national: parsed.national().value().to_string(),
        })
    })
}

/// The E.164 form of `input` (`+12125550123`), reading numbers without a country code
/// as `region`'s. `None` when it is not a valid number.
pub fn to_e164(input: &str, region: country::Id) -> Option<String> {
    forms(input, region).map(|f| f.e164)
}

/// The national digits Club OS stores (`2125550123`) for a valid number.
pub fn to_national_digits(input: &str, region: country::Id) -> Option<String> {
    forms(input, region).map(|f| f.national)
}

/// Every ASCII digit of `input`, in order.
pub fn digits(input: &str) -> String {
    input.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_agree_on_one_number() {
        for input in [
            "(212) 555-0123",
            "212.555.0123",
            "+1 212 555 0123",
            "2125550123",
        ] {
            assert_eq!(
                to_e164(input, country::US).as_deref(),
                Some("+12125550123"),
                "{input}"
            );
        }
        assert_eq!(
            to_national_digits("+1 212 555 0123", country::US).as_deref(),
            Some("2125550123")
        );
    }

    #[test]
    fn invalid_numbers_are_refused() {
        assert_eq!(to_e164("12", country::US), None);
        assert_eq!(to_e164("not a phone", country::US), None);
    }
}
