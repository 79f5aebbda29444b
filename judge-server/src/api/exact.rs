//! Integers beyond 64 bits, kept exact. serde_json (without `arbitrary_precision`, which the
//! tokenizers the trainer links cannot work with) reads an integer literal outside the i64/u64
//! range as a float, so `{"answer": 1267650600228229401496703205376}` would reach the judges
//! as 1.2676506002282294e30, its low digits gone, and the right answer would fail. Before a
//! body is parsed, every such literal outside strings is rewritten as a JSON string of its
//! digits: judges see the exact number as text (the math judge parses it exactly; the code
//! judge hands APPS `input_output` to Python's own JSON reader), never a different number.

use std::borrow::Cow;

/// `json` with every integer literal that fits neither i64 nor u64 quoted; borrowed when there
/// is none (the usual case: one pass, no copy). Invalid JSON is left for the parser to reject.
pub fn big_integers_as_strings(json: &[u8]) -> Cow<'_, [u8]> {
    let mut rewritten: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < json.len() {
        match json[at] {
            b'"' => at = string_end(json, at),
            b'-' | b'0'..=b'9' => {
                let (digits_end, end) = number_end(json, at);
                if end == digits_end && !fits_64_bits(&json[at..end]) {
                    let out = rewritten.get_or_insert_with(|| Vec::with_capacity(json.len() + 64));
                    out.extend_from_slice(&json[copied..at]);
                    out.push(b'"');
                    out.extend_from_slice(&json[at..end]);
                    out.push(b'"');
                    copied = end;
                }
                at = end;
            }
            _ => at += 1,
        }
    }
    match rewritten {
        Some(mut out) => {
            out.extend_from_slice(&json[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(json),
    }
}

/// The index after the string starting at `start` (its opening quote).
fn string_end(json: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while at < json.len() {
        match json[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    json.len()
}

/// Where the number token at `start` ends: (after its sign and integer digits, after the whole
/// token with any fraction and exponent).
fn number_end(json: &[u8], start: usize) -> (usize, usize) {
    let mut at = start + usize::from(json[start] == b'-');
    while at < json.len() && json[at].is_ascii_digit() {
        at += 1;
    }
    let digits_end = at;
    while at < json.len() && matches!(json[at], b'.' | b'e' | b'E' | b'+' | b'-' | b'0'..=b'9') {
        at += 1;
    }
    (digits_end, at)
}

/// Whether `token` is something other than a valid JSON integer too big for 64 bits (so it
/// stays as it is: a number serde_json reads exactly, or invalid JSON for it to reject).
fn fits_64_bits(token: &[u8]) -> bool {
    let digits = token.strip_prefix(b"-").unwrap_or(token);
    let valid = !digits.is_empty() && (digits == b"0" || digits[0] != b'0');
    if !valid {
        return true;
    }
    let text = std::str::from_utf8(token).expect("ASCII digits");
    if token[0] == b'-' {
        text.parse::<i64>().is_ok()
    } else {
        text.parse::<u64>().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(json: &str) -> String {
        String::from_utf8(big_integers_as_strings(json.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn big_integers_become_strings_of_their_digits() {
        assert_eq!(
            rewrite(
                r#"{"answer": 1267650600228229401496703205376, "n": [-9223372036854775809, 1]}"#
            ),
            r#"{"answer": "1267650600228229401496703205376", "n": ["-9223372036854775809", 1]}"#
        );
        // The largest 64-bit integers, floats and exponents stay numbers.
        for kept in [
            r#"[18446744073709551615, -9223372036854775808, 0, -0, 1.5, 1e400, 123456789012345678901234.5]"#,
            r#"{"a": 12345678901234567890123e2}"#,
        ] {
            assert_eq!(rewrite(kept), kept);
            assert!(matches!(
                big_integers_as_strings(kept.as_bytes()),
                Cow::Borrowed(_)
            ));
        }
        assert_eq!(rewrite("18446744073709551616"), r#""18446744073709551616""#);
    }

    #[test]
    fn strings_are_left_alone_and_invalid_json_stays_invalid() {
        let text = r#"{"s": "12345678901234567890123 \" 99999999999999999999999", "k": 1}"#;
        assert_eq!(rewrite(text), text);
        // Leading zeros are not JSON: left for the parser to refuse.
        assert_eq!(
            rewrite("[0123456789012345678901]"),
            "[0123456789012345678901]"
        );
        assert_eq!(rewrite("[-]"), "[-]");
        let parsed: serde_json::Value =
            serde_json::from_slice(&big_integers_as_strings(b"[99999999999999999999999]")).unwrap();
        assert_eq!(parsed, serde_json::json!(["99999999999999999999999"]));
    }
}
