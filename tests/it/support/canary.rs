//! The leak canary: every byte the browser could see is scanned for each secret raw,
//! percent-encoded once and twice, and base64 (standard and URL-safe, padded or not).

use std::sync::Mutex;

use base64::Engine;

/// Secrets to look for, and every place already scanned (for the failure message).
pub struct Canary {
    forms: Vec<(String, String)>,
    scanned: Mutex<usize>,
}

fn pct(s: &str) -> String {
    plexgate::util::percent_encode(s)
}

impl Canary {
    /// Watches for `secrets` (each labelled by position in failure messages).
    pub fn new(secrets: &[&str]) -> Canary {
        let mut forms = Vec::new();
        for (i, s) in secrets.iter().enumerate() {
            assert!(s.len() >= 8, "canary secrets must be distinctive");
            let label = format!("secret #{i}");
            let b64 = [
                base64::engine::general_purpose::STANDARD.encode(s),
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(s),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s),
            ];
            let mut all = vec![s.to_string(), pct(s), pct(&pct(s))];
            all.extend(b64);
            all.sort();
            all.dedup();
            for f in all {
                forms.push((label.clone(), f));
            }
        }
        Canary {
            forms,
            scanned: Mutex::new(0),
        }
    }

    /// The first secret form found in `bytes`, if any.
    pub fn find(&self, bytes: &[u8]) -> Option<String> {
        *self.scanned.lock().unwrap() += 1;
        let text = String::from_utf8_lossy(bytes);
        for (label, form) in &self.forms {
            if text.contains(form.as_str()) {
                return Some(format!("{label} as {form:?}"));
            }
        }
        None
    }

    /// Panics naming `place` when a secret is found.
    pub fn scan(&self, place: &str, bytes: &[u8]) {
        if let Some(found) = self.find(bytes) {
            panic!("LEAK: {found} in {place}");
        }
    }

    /// Scans a full response as the browser sees it.
    pub fn scan_response(
        &self,
        what: &str,
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) {
        self.scan(&format!("{what}: status line"), status.as_str().as_bytes());
        for (name, value) in headers {
            self.scan(&format!("{what}: header {name}"), value.as_bytes());
        }
        self.scan(&format!("{what}: body"), body);
    }

    /// How many places were scanned (tests assert the canary actually ran).
    pub fn scanned(&self) -> usize {
        *self.scanned.lock().unwrap()
    }
}
