//! How GHL stores a phone number: E.164, read as a US number when it has no country
//! code. The simulator's own rule (libphonenumber's parsing), independent of the
//! gateway's.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use phonenumber::{Mode, country};

/// Parsing is costly and a search compares the same few numbers with every contact, so
/// results are remembered; the memory is emptied when it holds this many.
const REMEMBERED: usize = 100_000;

static PARSED: LazyLock<Mutex<HashMap<String, Option<String>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The E.164 form GHL keeps for `input`; `None` when it is not a valid number.
pub fn to_e164(input: &str) -> Option<String> {
    if let Some(known) = PARSED.lock().ok().and_then(|m| m.get(input).cloned()) {
        return known;
    }
    let parsed = phonenumber::parse(Some(country::US), input)
        .ok()
        .filter(phonenumber::is_valid)
        .map(|p| p.format().mode(Mode::E164).to_string());
    if let Ok(mut m) = PARSED.lock() {
        if m.len() >= REMEMBERED {
            m.clear();
        }
        m.insert(input.to_owned(), parsed.clone());
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_in_any_us_format_is_one_e164_number() {
        for input in ["(212) 555-0123", "212.555.0123", "+1 212 555 0123"] {
            assert_eq!(to_e164(input).as_deref(), Some("+12125550123"), "{input}");
            assert_eq!(
                to_e164(input).as_deref(),
                Some("+12125550123"),
                "{input} again"
            );
        }
        assert_eq!(to_e164("555"), None);
    }
}
