//! The demo library: sections and items from `fixtures/plex/library.json`, indexed, plus the
//! list and detail views with the per-user state laid over them.
//!
//! Why: the JSON fixture is written in PMS's own shapes (protocol §3: `Metadata` arrays, string
//! `ratingKey`/`key`, scalar `guid`/`rating` beside `Guid`/`Rating` arrays, Media/Part/Stream with
//! ids), so adding a show, an episode or a collection later is an edit of the fixture, not of the
//! code. Items hold their full detail form; list entries are derived (no `Stream`, `Guid` only
//! with `includeGuids=1`). The fixture's `files` map ties PMS paths to embedded media; Part `size`
//! and Media `bitrate` are filled from the embedded file so they are never stale. The library is
//! immutable after load: everything a client changes lives in [`State`](super::store::State).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::media::{self, File};
use super::store::{Account, Selection, State};

const FIXTURE: &str = include_str!("../../fixtures/plex/library.json");

#[derive(Deserialize)]
struct Fixture {
    sections: Vec<Value>,
    items: Vec<Value>,
    files: HashMap<String, String>,
}

/// Index entry of one Part.
#[derive(Debug, Clone)]
pub(crate) struct PartInfo {
    pub id: u64,
    pub file: Option<File>,
    pub audio: Vec<u64>,
    pub subtitles: Vec<u64>,
    pub default: Selection,
}

/// Index entry of one Stream.
#[derive(Debug, Clone)]
pub(crate) struct StreamInfo {
    pub stream_type: u64,
    /// The sidecar file of an external subtitle; `None` for embedded streams.
    pub file: Option<File>,
}

/// The loaded, immutable library.
#[derive(Debug)]
pub(crate) struct Library {
    sections: Vec<Value>,
    items: Vec<Value>,
    by_key: HashMap<String, usize>,
    parts: HashMap<u64, PartInfo>,
    /// `(ratingKey, mediaIndex, partIndex)` → part id.
    part_ids: HashMap<(String, usize, usize), u64>,
    streams: HashMap<u64, StreamInfo>,
    images: HashMap<String, File>,
}

/// A JSON string or number as text (PMS is loose about key types).
pub(crate) fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Library {
    /// Loads and indexes the embedded fixture; an error names what is wrong with it.
    pub(crate) fn load() -> Result<Library, String> {
        let fx: Fixture = serde_json::from_str(FIXTURE)
            .map_err(|e| format!("fixtures/plex/library.json: {e}"))?;
        let mut files = HashMap::new();
        for (key, name) in fx.files {
            let f = media::file(&name).ok_or_else(|| format!("files: {name} is not embedded"))?;
            files.insert(key, f);
        }
        let mut lib = Library {
            sections: fx.sections,
            items: Vec::new(),
            by_key: HashMap::new(),
            parts: HashMap::new(),
            part_ids: HashMap::new(),
            streams: HashMap::new(),
            images: HashMap::new(),
        };
        for section in &lib.sections {
            if !section.get("key").is_some_and(Value::is_string) {
                return Err("every section needs a string key".into());
            }
        }
        for (k, f) in &files {
            if k.starts_with("/library/metadata/") {
                lib.images.insert(k.clone(), *f);
            }
        }
        for mut item in fx.items {
            let rk = match item.get("ratingKey") {
                Some(Value::String(s)) => s.clone(),
                _ => return Err("every item needs a string ratingKey".into()),
            };
            lib.index_media(&rk, &mut item, &files)?;
            if lib.by_key.insert(rk.clone(), lib.items.len()).is_some() {
                return Err(format!("duplicate ratingKey {rk}"));
            }
            lib.items.push(item);
        }
        Ok(lib)
    }

    fn index_media(
        &mut self,
        rk: &str,
        item: &mut Value,
        files: &HashMap<String, File>,
    ) -> Result<(), String> {
        let Some(media) = item.get_mut("Media").and_then(Value::as_array_mut) else {
            return Ok(());
        };
        for (mi, m) in media.iter_mut().enumerate() {
            let mut media_bytes = 0u64;
            let mut media_ms = 0u64;
            let Some(parts) = m.get_mut("Part").and_then(Value::as_array_mut) else {
                continue;
            };
            for (pi, part) in parts.iter_mut().enumerate() {
                let id = part
                    .get("id")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("item {rk}: a Part without a numeric id"))?;
                let file = files.get(&format!("/library/parts/{id}")).copied();
                if let Some(f) = file {
                    part["size"] = json!(f.bytes.len());
                    media_bytes += f.bytes.len() as u64;
                    media_ms += part.get("duration").and_then(Value::as_u64).unwrap_or(0);
                }
                let mut info = PartInfo {
                    id,
                    file,
                    audio: Vec::new(),
                    subtitles: Vec::new(),
                    default: Selection::default(),
                };
                for s in part
                    .get("Stream")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let sid = s
                        .get("id")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| format!("part {id}: a Stream without a numeric id"))?;
                    let stream_type = s.get("streamType").and_then(Value::as_u64).unwrap_or(0);
                    let selected = s.get("selected").and_then(Value::as_bool) == Some(true);
                    match stream_type {
                        2 => {
                            info.audio.push(sid);
                            if selected {
                                info.default.audio = Some(sid);
                            }
                        }
                        3 => {
                            info.subtitles.push(sid);
                            if selected {
                                info.default.subtitle = Some(sid);
                            }
                        }
                        _ => {}
                    }
                    let file = if s.get("key").is_some() {
                        files.get(&format!("/library/streams/{sid}")).copied()
                    } else {
                        None
                    };
                    self.streams.insert(sid, StreamInfo { stream_type, file });
                }
                self.part_ids.insert((rk.to_owned(), mi, pi), id);
                self.parts.insert(id, info);
            }
            if let Some(kbps) = (media_bytes * 8).checked_div(media_ms) {
                m["bitrate"] = json!(kbps);
            }
        }
        Ok(())
    }

    /// Library sections (`Directory` objects).
    pub(crate) fn sections(&self) -> &[Value] {
        &self.sections
    }

    /// The section whose `key` is `id`.
    pub(crate) fn section(&self, id: &str) -> Option<&Value> {
        self.sections
            .iter()
            .find(|s| s.get("key").and_then(Value::as_str) == Some(id))
    }

    /// Items listed by `/library/sections/{id}/all`: the section's items of the section's type.
    #[cfg(test)]
    pub(crate) fn section_items(&self, id: &str) -> Vec<&Value> {
        let Some(kind) = self
            .section(id)
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
        else {
            return Vec::new();
        };
        self.section_items_of(id, kind)
    }

    /// The items of section `id` whose `type` is `kind` (`movie`, `show`, `episode`, …).
    pub(crate) fn section_items_of(&self, id: &str, kind: &str) -> Vec<&Value> {
        self.items
            .iter()
            .filter(|i| {
                i.get("librarySectionID").and_then(key_text).as_deref() == Some(id)
                    && i.get("type").and_then(Value::as_str) == Some(kind)
            })
            .collect()
    }

    /// Every item, in fixture order.
    pub(crate) fn items(&self) -> &[Value] {
        &self.items
    }

    /// The item with this `ratingKey`.
    pub(crate) fn item(&self, rk: &str) -> Option<&Value> {
        self.by_key.get(rk).map(|&i| &self.items[i])
    }

    /// A part by id.
    pub(crate) fn part(&self, id: u64) -> Option<&PartInfo> {
        self.parts.get(&id)
    }

    /// The part at (`mediaIndex`, `partIndex`) of an item.
    pub(crate) fn part_at(&self, rk: &str, media: usize, part: usize) -> Option<&PartInfo> {
        let id = self.part_ids.get(&(rk.to_owned(), media, part))?;
        self.parts.get(id)
    }

    /// A stream by id.
    pub(crate) fn stream(&self, id: u64) -> Option<&StreamInfo> {
        self.streams.get(&id)
    }

    /// The image behind `/library/metadata/{rk}/{element}/{ts}` (`thumb`, `art`).
    pub(crate) fn image(&self, rk: &str, element: &str) -> Option<File> {
        self.images
            .get(&format!("/library/metadata/{rk}/{element}"))
            .copied()
    }

    /// The current selection of a part.
    pub(crate) fn selection(&self, part: &PartInfo, st: &State) -> Selection {
        st.selections.get(&part.id).copied().unwrap_or(part.default)
    }

    /// The detail view of an item with `account`'s watch state and the stream selection applied.
    pub(crate) fn detail(&self, item: &Value, st: &State, account: Account) -> Value {
        let mut v = item.clone();
        self.overlay(&mut v, st, account);
        v
    }

    /// The list view of an item: no `Stream` or `Marker`, `Guid` only when asked for.
    pub(crate) fn list_entry(
        &self,
        item: &Value,
        st: &State,
        account: Account,
        include_guids: bool,
    ) -> Value {
        let mut v = self.detail(item, st, account);
        if let Some(obj) = v.as_object_mut() {
            obj.remove("Marker");
            if !include_guids {
                obj.remove("Guid");
            }
        }
        for m in v
            .get_mut("Media")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for p in m
                .get_mut("Part")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(obj) = p.as_object_mut() {
                    obj.remove("Stream");
                }
            }
        }
        v
    }

    /// The episodes under a show or season (`grandparentRatingKey` / `parentRatingKey`).
    pub(crate) fn leaves(&self, rk: &str) -> Vec<&Value> {
        self.items
            .iter()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("episode"))
            .filter(|i| {
                [i.get("parentRatingKey"), i.get("grandparentRatingKey")]
                    .into_iter()
                    .flatten()
                    .any(|k| key_text(k).as_deref() == Some(rk))
            })
            .collect()
    }

    fn overlay(&self, v: &mut Value, st: &State, account: Account) {
        let rk = v.get("ratingKey").and_then(key_text).unwrap_or_default();
        if matches!(
            v.get("type").and_then(Value::as_str),
            Some("show" | "season")
        ) && let Some(obj) = v.as_object_mut()
        {
            let viewed = self
                .leaves(&rk)
                .iter()
                .filter_map(|e| e.get("ratingKey").and_then(key_text))
                .filter(|k| st.user_state(account, k).is_some_and(|u| u.view_count > 0))
                .count();
            obj.insert("viewedLeafCount".to_owned(), json!(viewed));
        }
        if let (Some(us), Some(obj)) = (st.user_state(account, &rk), v.as_object_mut()) {
            set_opt(obj, "viewOffset", us.view_offset.map(|o| json!(o)));
            set_opt(
                obj,
                "viewCount",
                (us.view_count > 0).then(|| json!(us.view_count)),
            );
            set_opt(obj, "lastViewedAt", us.last_viewed_at.map(|t| json!(t)));
            set_opt(obj, "userRating", us.user_rating.map(|r| json!(r)));
        }
        for m in v
            .get_mut("Media")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for p in m
                .get_mut("Part")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let Some(info) = p
                    .get("id")
                    .and_then(Value::as_u64)
                    .and_then(|id| self.part(id))
                else {
                    continue;
                };
                let sel = self.selection(info, st);
                for s in p
                    .get_mut("Stream")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    let id = s.get("id").and_then(Value::as_u64);
                    let chosen = match s.get("streamType").and_then(Value::as_u64) {
                        Some(2) => sel.audio,
                        Some(3) => sel.subtitle,
                        _ => continue,
                    };
                    if let Some(obj) = s.as_object_mut() {
                        set_opt(obj, "selected", (id == chosen).then_some(Value::Bool(true)));
                    }
                }
            }
        }
    }
}

fn set_opt(obj: &mut serde_json::Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            obj.insert(key.to_owned(), v);
        }
        None => {
            obj.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_loads_and_matches_the_media() {
        let lib = Library::load().expect("library");
        let facts = media::Facts::load().expect("facts");
        let item = lib.item("101").expect("movie 101");
        assert_eq!(item["duration"], json!(facts.duration_ms));
        let part = &item["Media"][0]["Part"][0];
        let info = lib.part(301).expect("part 301");
        assert_eq!(part["size"], json!(info.file.expect("file").bytes.len()));
        assert_eq!(part["duration"], json!(facts.duration_ms));
        assert!(lib.image("101", "thumb").is_some());
        assert!(lib.stream(403).and_then(|s| s.file).is_some());
        assert_eq!(lib.section_items("1").len(), 4);
        assert_eq!(lib.section_items("2").len(), 1);
        assert_eq!(lib.leaves("1000").len(), 3);
        assert_eq!(lib.leaves("1001").len(), 3);
        assert!(
            lib.part(308).and_then(|p| p.file).is_some(),
            "the trailer plays"
        );
    }

    #[test]
    fn views_apply_state_and_strip_list_fields() {
        let lib = Library::load().expect("library");
        let mut st = State::default();
        st.user_state_mut(0, "101").view_offset = Some(4000);
        st.selections.insert(
            301,
            Selection {
                audio: Some(402),
                subtitle: Some(403),
            },
        );
        let item = lib.item("101").expect("item");
        let d = lib.detail(item, &st, 0);
        assert_eq!(d["viewOffset"], json!(4000));
        assert!(
            lib.detail(item, &st, 1).get("viewOffset").is_none(),
            "watch state is per account"
        );
        assert_eq!(
            d["Media"][0]["Part"][0]["Stream"][2]["selected"],
            json!(true)
        );
        let l = lib.list_entry(item, &st, 0, false);
        assert!(l.get("Guid").is_none());
        assert!(l.get("Marker").is_none());
        assert!(l["Media"][0]["Part"][0].get("Stream").is_none());
        assert!(lib.list_entry(item, &st, 0, true).get("Guid").is_some());
    }
}
