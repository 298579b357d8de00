//! What `check-config` prints: the configuration in effect as TOML, with the real key names, and
//! after each value where it came from, so an operator can see at a glance which layer won.
//!
//! Secrets print as `"<set>"`: this output is pasted into issues and chat.

use std::collections::BTreeMap;
use std::fmt;

use super::sources::{KEYS, Origin, Raw, SECRET_KEYS};

/// One key's value in effect (absent when unset without a default) and its origin.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The dotted key, e.g. `server.listen`.
    pub key: &'static str,
    /// The value as TOML (`"<set>"` for a secret), `None` when unset.
    pub value: Option<toml::Value>,
    /// Where it came from.
    pub origin: Origin,
}

/// Every key in [`KEYS`] order, grouped by section when printed.
#[derive(Debug, Clone)]
pub struct Effective {
    /// One entry per known key.
    pub entries: Vec<Entry>,
}

impl Effective {
    pub(super) fn new(
        values: &BTreeMap<String, (Raw, Origin)>,
        mut shown: BTreeMap<String, toml::Value>,
    ) -> Effective {
        let entries = KEYS
            .iter()
            .map(|key| {
                let origin = values.get(*key).map_or(Origin::Default, |(_, o)| o.clone());
                let value = shown.remove(*key).map(|v| {
                    if SECRET_KEYS.contains(key) {
                        toml::Value::String("<set>".into())
                    } else {
                        v
                    }
                });
                Entry { key, value, origin }
            })
            .collect();
        Effective { entries }
    }

    /// The entry for `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

impl fmt::Display for Effective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "# plexgate: the configuration in effect; after each value, where it came from"
        )?;
        let mut section = "";
        for e in &self.entries {
            let (sec, name) = e.key.split_once('.').unwrap_or(("", e.key));
            if sec != section {
                writeln!(f, "\n[{sec}]")?;
                section = sec;
            }
            match &e.value {
                Some(v) => writeln!(f, "{name} = {v}  # {}", e.origin)?,
                None => writeln!(f, "# {name} is unset  # {}", e.origin)?,
            }
        }
        Ok(())
    }
}
