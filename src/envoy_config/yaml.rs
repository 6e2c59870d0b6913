//! YAML out of `serde_json` values: block style, scalars as JSON (which YAML reads
//! unchanged), multi-line strings as literal blocks. Hand-written, a few lines, so that no
//! YAML library joins the dependency tree for output alone.

use std::fmt::Write as _;

use serde_json::Value;

/// YAML for a JSON object at `indent` spaces: block style, scalars as JSON (valid YAML),
/// multi-line strings as literal blocks so that they stay readable.
pub(super) fn yaml_map(map: &serde_json::Map<String, Value>, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for (k, v) in map {
        let key = yaml_key(k);
        match v {
            Value::Object(m) if !m.is_empty() => {
                let _ = writeln!(out, "{pad}{key}:");
                out.push_str(&yaml_map(m, indent + 2));
            }
            Value::Array(a) if !a.is_empty() => {
                let _ = writeln!(out, "{pad}{key}:");
                for item in a {
                    out.push_str(&yaml_item(item, indent));
                }
            }
            Value::String(s) if s.contains('\n') => {
                let _ = writeln!(out, "{pad}{key}: |");
                for line in s.lines() {
                    if line.is_empty() {
                        out.push('\n');
                    } else {
                        let _ = writeln!(out, "{pad}  {line}");
                    }
                }
            }
            scalar => {
                let _ = writeln!(out, "{pad}{key}: {scalar}");
            }
        }
    }
    out
}

/// One list item at `indent` (the dash at `indent`, the content two further).
pub(super) fn yaml_item(item: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    match item {
        Value::Object(m) if !m.is_empty() => {
            let body = yaml_map(m, indent + 2);
            // The first key goes on the dash's line.
            format!("{pad}- {}", &body[indent + 2..])
        }
        scalar => format!("{pad}- {scalar}\n"),
    }
}

fn yaml_key(k: &str) -> String {
    if k.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && !k.is_empty()
    {
        k.to_owned()
    } else {
        Value::String(k.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_keep_multi_line_strings_verbatim() {
        let m = json!({"a": {"code": "x = 1\n\ny = \"2\"\n", "list": [{"k": 1, "j": [true]}]}});
        let yaml = yaml_map(m.as_object().expect("object"), 0);
        assert_eq!(
            yaml,
            "a:\n  code: |\n    x = 1\n\n    y = \"2\"\n  list:\n  - k: 1\n    j:\n    - true\n"
        );
    }

    #[test]
    fn keys_that_are_not_plain_words_are_quoted() {
        let m = json!({"@type": "t", "plain_key.x": 1, "": {}});
        assert_eq!(
            yaml_map(m.as_object().expect("object"), 2),
            "  \"@type\": \"t\"\n  plain_key.x: 1\n  \"\": {}\n"
        );
    }
}
