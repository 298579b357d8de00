//! The listing helpers every PMS read shares: `type=` numbers, the media-query filters and sort,
//! `X-Plex-Container-*` paging, a parent's children, and the section attributes PMS hoists onto
//! item containers.
//!
//! Why a file of its own: both `browse` (section listings) and `catalog` (everything else) list
//! items the same way, and neither handler file may import the other, so the demo's files keep
//! depending one way. It only shapes values; it reads no state and holds no lock.

use http::header::HeaderValue;
use serde_json::{Value, json};

use super::library::{Library, key_text};
use super::request::Req;
use super::response::{self, Resp};

/// PMS's type number (`type=`) as the `type` string of items.
pub(crate) fn type_name(number: &str) -> Option<&'static str> {
    Some(match number.trim() {
        "1" => "movie",
        "2" => "show",
        "3" => "season",
        "4" => "episode",
        "12" => "clip",
        "18" => "collection",
        _ => return None,
    })
}

pub(crate) fn text<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

pub(crate) fn num(v: &Value, name: &str) -> i64 {
    v.get(name).and_then(Value::as_i64).unwrap_or(0)
}

pub(crate) fn rating_key(v: &Value) -> String {
    v.get("ratingKey").and_then(key_text).unwrap_or_default()
}

/// A paging value from the query or, failing that, the header; `Err` when not a number.
fn paging(req: &Req, name: &str) -> Result<Option<usize>, ()> {
    match req.param(name).or_else(|| req.header(name)) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| ()),
    }
}

/// Applies the media-query filters (`genre`, `year`, `unwatched`, `guid`) and `sort`; `None`
/// when a filter value is malformed (PMS answers 400).
pub(crate) fn filter_and_sort(req: &Req, mut items: Vec<Value>) -> Option<Vec<Value>> {
    if let Some(g) = req.param("genre").filter(|g| !g.is_empty()) {
        items.retain(|i| {
            i.get("Genre").and_then(Value::as_array).is_some_and(|gs| {
                gs.iter().any(|t| {
                    t.get("id").and_then(key_text).as_deref() == Some(g)
                        || text(t, "tag") == Some(g)
                })
            })
        });
    }
    if let Some(y) = req.param("year").filter(|y| !y.is_empty()) {
        let y: i64 = y.trim().parse().ok()?;
        items.retain(|i| num(i, "year") == y);
    }
    if req.param("unwatched") == Some("1") {
        items.retain(|i| num(i, "viewCount") == 0);
    }
    if let Some(g) = req.param("guid").filter(|g| !g.is_empty()) {
        items.retain(|i| has_guid(i, g));
    }
    if let Some(sort) = req.param("sort").filter(|s| !s.is_empty()) {
        let mut parts = sort.split(',').next().unwrap_or("").split(':');
        let field = parts.next().unwrap_or("");
        let desc = parts.any(|p| p == "desc");
        match field {
            "random" => {
                for i in (1..items.len()).rev() {
                    let r = u64::from_le_bytes(crate::util::random_bytes::<8>());
                    items.swap(i, (r % (i as u64 + 1)) as usize);
                }
            }
            "titleSort" | "title" => items.sort_by(|a, b| {
                let key = |v: &Value| {
                    text(v, "titleSort")
                        .or(text(v, "title"))
                        .unwrap_or("")
                        .to_lowercase()
                };
                key(a).cmp(&key(b))
            }),
            "addedAt"
            | "lastViewedAt"
            | "viewCount"
            | "year"
            | "originallyAvailableAt"
            | "rating"
            | "audienceRating"
            | "index" => {
                items.sort_by(|a, b| {
                    let key = |v: &Value| {
                        v.get(field)
                            .and_then(|x| x.as_f64().or_else(|| x.as_str().map(|_| 0.0)))
                            .unwrap_or(0.0)
                    };
                    key(a).total_cmp(&key(b))
                });
            }
            _ => {}
        }
        if desc {
            items.reverse();
        }
    }
    Some(items)
}

fn has_guid(item: &Value, guid: &str) -> bool {
    text(item, "guid") == Some(guid)
        || item
            .get("Guid")
            .and_then(Value::as_array)
            .is_some_and(|gs| gs.iter().any(|g| text(g, "id") == Some(guid)))
}

/// Pages `items` into `container` (`size`, `totalSize`, `offset`, `Metadata`, and the
/// `X-Plex-Container-*` headers); drops `Guid` unless `include_guids`.
pub(crate) fn paged(req: &Req, mut c: Value, mut items: Vec<Value>, include_guids: bool) -> Resp {
    let (Ok(start), Ok(size)) = (
        paging(req, "X-Plex-Container-Start"),
        paging(req, "X-Plex-Container-Size"),
    ) else {
        return response::bad_request();
    };
    let total = items.len();
    let start = start.unwrap_or(0).min(total);
    let end = size.map_or(total, |n| start.saturating_add(n).min(total));
    let mut page: Vec<Value> = items.drain(start..end).collect();
    if !include_guids {
        for v in &mut page {
            if let Some(obj) = v.as_object_mut() {
                obj.remove("Guid");
            }
        }
    }
    c["size"] = json!(page.len());
    c["totalSize"] = json!(total);
    c["offset"] = json!(start);
    if !page.is_empty() {
        c["Metadata"] = json!(page);
    }
    let mut resp = response::container(req, c);
    let h = resp.headers_mut();
    h.insert("x-plex-container-start", HeaderValue::from(start));
    h.insert("x-plex-container-total-size", HeaderValue::from(total));
    resp
}

/// The direct children of `rk`: a show's seasons, a season's episodes (by `index`), or a
/// collection's members (items tagged with the collection's title).
pub(crate) fn children_of<'a>(lib: &'a Library, rk: &str) -> Vec<&'a Value> {
    let Some(parent) = lib.item(rk) else {
        return Vec::new();
    };
    let mut out: Vec<&Value> = if text(parent, "type") == Some("collection") {
        let title = text(parent, "title").unwrap_or("");
        lib.items()
            .iter()
            .filter(|i| {
                i.get("Collection")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| cs.iter().any(|c| text(c, "tag") == Some(title)))
            })
            .collect()
    } else {
        lib.items()
            .iter()
            .filter(|i| i.get("parentRatingKey").and_then(key_text).as_deref() == Some(rk))
            .collect()
    };
    out.sort_by_key(|i| num(i, "index"));
    out
}

/// Section attributes PMS hoists onto item containers.
pub(crate) fn section_attrs(c: &mut Value, section: &Value) {
    c["identifier"] = json!("com.plexapp.plugins.library");
    c["librarySectionID"] = section
        .get("key")
        .and_then(key_text)
        .and_then(|k| k.parse::<u64>().ok())
        .map_or(Value::Null, |n| json!(n));
    c["librarySectionTitle"] = section.get("title").cloned().unwrap_or(Value::Null);
    c["librarySectionUUID"] = section.get("uuid").cloned().unwrap_or(Value::Null);
    c["mediaTagPrefix"] = json!("/system/bundle/media/flags/");
    c["mediaTagVersion"] = json!(1_716_000_000);
}
