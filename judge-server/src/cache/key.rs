//! Cache keys: SHA-256 over the judge fingerprint and a canonical encoding of the item.
//!
//! `input_digest` = SHA-256("moj-input-v1\0" || canonical JSON of [prompt, response, metadata]),
//! computed once per item; `verdict_key` = SHA-256("moj-verdict-v1\0" || fingerprint digest ||
//! input digest), one per (judge, item). The item's `id` is not part of the key.

use judge_api::Item;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::judges::Fingerprint;

pub type Key = [u8; 32];

pub fn input_digest(item: &Item) -> Key {
    let prompt = serde_json::to_value(&item.prompt).expect("prompts serialise");
    let encoded = canonical_json(&Value::Array(vec![
        prompt,
        Value::String(item.response.clone()),
        Value::Object(item.metadata.clone()),
    ]));
    let mut hasher = Sha256::new();
    hasher.update(b"moj-input-v1\0");
    hasher.update(encoded.as_bytes());
    hasher.finalize().into()
}

pub fn verdict_key(fingerprint: &Fingerprint, input: &Key) -> Key {
    let mut hasher = Sha256::new();
    hasher.update(b"moj-verdict-v1\0");
    hasher.update(fingerprint.digest);
    hasher.update(input);
    hasher.finalize().into()
}

/// JSON with the keys of every object sorted, no insignificant white space, and numbers as
/// serde_json prints them. Sorting is explicit so the encoding does not depend on whether a
/// dependency turns on serde_json's `preserve_order`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).expect("strings serialise"));
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(values) => {
            out.push('[');
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(value, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).expect("scalars serialise")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(metadata: Value) -> Item {
        Item::new("p", "r").with_metadata(metadata.as_object().unwrap().clone())
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 3}], "c": null}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":null,"z":[1,{"x":3,"y":2}]},"b":1}"#
        );
    }

    #[test]
    fn input_digest_ignores_key_order_and_id_but_not_content() {
        let one = input_digest(&item(json!({"answer": "4", "tests": [1, 2]})));
        let reordered = input_digest(&item(json!({"tests": [1, 2], "answer": "4"})).with_id("x"));
        assert_eq!(one, reordered);
        assert_ne!(
            one,
            input_digest(&item(json!({"answer": "5", "tests": [1, 2]})))
        );
        assert_ne!(
            one,
            input_digest(&item(json!({"answer": 4, "tests": [1, 2]})))
        );
        let other_response = Item {
            response: "r2".into(),
            ..item(json!({"answer": "4", "tests": [1, 2]}))
        };
        assert_ne!(one, input_digest(&other_response));
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let a = Item::new("ab", "c");
        let b = Item::new("a", "bc");
        assert_ne!(input_digest(&a), input_digest(&b));
    }
}
