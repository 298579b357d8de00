//! XML rendering of PMS documents (the default when a client does not ask for JSON).
//!
//! Why: PMS speaks XML unless `Accept: application/json` (protocol §0.3), and its XML is not the
//! JSON keys turned into tags: a `Metadata` entry is `<Video>` for a movie or episode and
//! `<Directory>` for a show or season (§10 item 11). The demo builds every document once as JSON
//! and renders it here: scalars become attributes (booleans `1`/`0`), arrays of objects become
//! child elements, objects become one child element. It never emits unescaped text.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Renders `{"MediaContainer": {…}}` (or any one-key object) as an XML document.
pub(crate) fn document(doc: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    if let Value::Object(root) = doc {
        for (name, value) in root {
            if let Value::Object(obj) = value {
                element(&mut out, name, obj);
            }
        }
    }
    out.push('\n');
    out
}

/// The element name of one entry of the array `key`.
fn element_name<'a>(key: &'a str, entry: &Map<String, Value>) -> &'a str {
    if key != "Metadata" {
        return key;
    }
    match entry.get("type").and_then(Value::as_str) {
        Some("movie" | "episode" | "clip" | "trailer") => "Video",
        Some("track") => "Track",
        Some("photo") => "Photo",
        _ => "Directory",
    }
}

fn element(out: &mut String, name: &str, obj: &Map<String, Value>) {
    out.push('<');
    out.push_str(name);
    let mut children: Vec<(&str, &Map<String, Value>)> = Vec::new();
    for (key, value) in obj {
        match value {
            Value::Null => {}
            Value::Bool(b) => attr(out, key, if *b { "1" } else { "0" }),
            Value::Number(n) => attr(out, key, &n.to_string()),
            Value::String(s) => attr(out, key, s),
            Value::Object(child) => children.push((key, child)),
            Value::Array(items) => {
                let scalars: Vec<String> = items.iter().filter_map(scalar_text).collect();
                if !scalars.is_empty() {
                    attr(out, key, &scalars.join(","));
                }
                for item in items {
                    if let Value::Object(child) = item {
                        children.push((element_name(key, child), child));
                    }
                }
            }
        }
    }
    if children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for (child_name, child) in children {
        element(out, child_name, child);
    }
    let _ = write!(out, "</{name}>");
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn attr(out: &mut String, key: &str, value: &str) {
    out.push(' ');
    out.push_str(key);
    out.push_str("=\"");
    escape_into(out, value);
    out.push('"');
}

/// Escapes text for an XML attribute value.
pub(crate) fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_pms_shapes() {
        let doc = json!({"MediaContainer": {"size": 2, "allowSync": true, "Metadata": [
            {"type": "movie", "title": "A & \"B\"", "Media": [{"id": 1, "Part": [{"id": 2}]}]},
            {"type": "show", "title": "S", "Extras": {"size": 0}}
        ]}});
        let xml = document(&doc);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MediaContainer"));
        assert!(xml.contains("allowSync=\"1\""));
        assert!(xml.contains("<Video title=\"A &amp; &quot;B&quot;\" type=\"movie\"><Media id=\"1\"><Part id=\"2\"/></Media></Video>"));
        assert!(
            xml.contains("<Directory title=\"S\" type=\"show\"><Extras size=\"0\"/></Directory>")
        );
        assert!(xml.trim_end().ends_with("</MediaContainer>"));
    }
}
