//! `SpecFingerprint`: the explicit identity of a normalised spec. Two specs
//! are "the same" exactly when their fingerprints are, so an unchanged
//! configuration always plans as a no-op.
//!
//! The fingerprint is SHA-256 over canonical JSON (object keys sorted, no
//! whitespace). Specs never contain secret values (only `${{ secrets.X }}`
//! references; inherited env values are not read at plan time).

use sha2::{Digest, Sha256};

/// Canonical JSON: keys sorted at every level.
pub fn canonical(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*key).clone()).to_string());
                out.push(':');
                write_canonical(&map[*key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The fingerprint of a spec: `sha256:` and 16 hex digits (64 bits).
pub fn fingerprint(spec: &serde_json::Value) -> String {
    let digest = Sha256::digest(canonical(spec).as_bytes());
    format!("sha256:{}", hex::encode(&digest[..8]))
}

/// A digest of arbitrary bytes (config files, plans).
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": null}});
        let b = json!({"a": {"x": null, "y": [1, 2]}, "b": 1});
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn values_and_list_order_do() {
        assert_ne!(fingerprint(&json!({"a": 1})), fingerprint(&json!({"a": 2})));
        assert_ne!(fingerprint(&json!([1, 2])), fingerprint(&json!([2, 1])));
    }
}
