//! Library views beyond one section listing: a show's seasons and episodes, collections,
//! secondary directories (genre, year), find-by-guid, legacy search, `/:/progress` and scrub
//! thumbnails (protocol §3.4–§3.9, §6.1). The watch-state rows (On Deck, Continue Watching,
//! Recently Added, home hubs) are in `home.rs`.
//!
//! Why: these are the PMS reads behind Flixor's home rows, details page and player, and plexgate
//! caches and unwraps every one of them, so its tests need a server that answers them with real
//! shapes and with the caller's own watch state (each account sees its own On Deck). Everything
//! is derived from the fixture and [`State`](super::store::State) on each request; nothing here
//! is stored, fetched or ever carries a token.

use http::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

use super::faults::lock;
use super::library::key_text;
use super::listing::{
    children_of, filter_and_sort, num, paged, rating_key, section_attrs, text, type_name,
};
use super::media;
use super::request::Req;
use super::response::{self, Resp};
use super::state::Shared;
use super::store::{Account, State};

pub(super) fn list(sh: &Shared, st: &State, account: Account, items: &[&Value]) -> Vec<Value> {
    items
        .iter()
        .map(|i| sh.library.list_entry(i, st, account, true))
        .collect()
}

/// Container attributes describing a parent item (`title1`/`title2`, keys, thumbs).
pub(super) fn parent_attrs(sh: &Shared, parent: &Value) -> Value {
    let mut c = json!({
        "allowSync": true,
        "key": rating_key(parent),
        "title1": text(parent, "parentTitle").or(text(parent, "title")).unwrap_or(""),
        "title2": text(parent, "title").unwrap_or(""),
        "thumb": parent.get("thumb").cloned().unwrap_or(Value::Null),
        "art": parent.get("art").cloned().unwrap_or(Value::Null),
        "viewGroup": match text(parent, "type") {
            Some("show") => "season",
            Some("season") => "episode",
            _ => "movie",
        },
    });
    if let Some(section) = parent
        .get("librarySectionID")
        .and_then(key_text)
        .and_then(|id| sh.library.section(&id))
    {
        section_attrs(&mut c, section);
    }
    c
}

/// `GET /library/metadata/{rk}/children`.
pub(crate) fn children(sh: &Shared, req: &Req, rk: &str) -> Resp {
    let Some(parent) = sh.library.item(rk) else {
        return response::not_found();
    };
    let st = lock(&sh.state);
    let items = list(sh, &st, req.account, &children_of(&sh.library, rk));
    drop(st);
    paged(
        req,
        parent_attrs(sh, parent),
        items,
        req.param("includeGuids") == Some("1"),
    )
}

/// `GET /library/metadata/{rk}/allLeaves`: every episode of a show (or season).
pub(crate) fn all_leaves(sh: &Shared, req: &Req, rk: &str) -> Resp {
    let Some(parent) = sh.library.item(rk) else {
        return response::not_found();
    };
    let mut leaves = sh.library.leaves(rk);
    leaves.sort_by_key(|e| (num(e, "parentIndex"), num(e, "index")));
    let st = lock(&sh.state);
    let items = list(sh, &st, req.account, &leaves);
    drop(st);
    paged(
        req,
        parent_attrs(sh, parent),
        items,
        req.param("includeGuids") == Some("1"),
    )
}

pub(super) fn metadata_container(req: &Req, items: Vec<Value>, extra: Value) -> Resp {
    let mut c = extra;
    c["size"] = json!(items.len());
    if !items.is_empty() {
        c["Metadata"] = json!(items);
    }
    response::container(req, c)
}

/// `GET /library/all?guid=…[&type=…]`: items matching a guid across every section.
pub(crate) fn library_all(sh: &Shared, req: &Req) -> Resp {
    let kind = match req.param("type").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => match type_name(t) {
            Some(k) => Some(k),
            None => return response::bad_request(),
        },
    };
    let st = lock(&sh.state);
    let items: Vec<Value> = sh
        .library
        .items()
        .iter()
        .filter(|i| i.get("librarySectionID").is_some())
        .filter(|i| kind.is_none_or(|k| text(i, "type") == Some(k)))
        .map(|i| sh.library.list_entry(i, &st, req.account, true))
        .collect();
    drop(st);
    let Some(items) = filter_and_sort(req, items) else {
        return response::bad_request();
    };
    let c =
        json!({"allowSync": false, "identifier": "com.plexapp.plugins.library", "title1": "All"});
    paged(req, c, items, req.param("includeGuids") == Some("1"))
}

/// `GET /search?query=…[&type=1|2]`: movies and shows whose title contains the query.
pub(crate) fn search(sh: &Shared, req: &Req) -> Resp {
    let Some(query) = req.param("query").map(str::trim).filter(|q| !q.is_empty()) else {
        return response::bad_request();
    };
    let kind = match req.param("type").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => match type_name(t) {
            Some(k) => Some(k),
            None => return response::bad_request(),
        },
    };
    let needle = query.to_lowercase();
    let st = lock(&sh.state);
    let items: Vec<Value> = sh
        .library
        .items()
        .iter()
        .filter(|i| match kind {
            Some(k) => text(i, "type") == Some(k),
            None => matches!(text(i, "type"), Some("movie" | "show")),
        })
        .filter(|i| {
            text(i, "title").is_some_and(|t| t.to_lowercase().contains(&needle))
                || i.get("Role").and_then(Value::as_array).is_some_and(|rs| {
                    rs.iter()
                        .any(|r| text(r, "tag").is_some_and(|t| t.to_lowercase().contains(&needle)))
                })
        })
        .map(|i| {
            let mut v = sh.library.list_entry(i, &st, req.account, true);
            // Search hits carry their guids and roles, which clients match on.
            if let Some(obj) = v.as_object_mut() {
                obj.insert("score".into(), json!(1.0));
            }
            v
        })
        .collect();
    drop(st);
    metadata_container(
        req,
        items,
        json!({"identifier": "com.plexapp.plugins.library", "mediaTagPrefix": "/system/bundle/media/flags/"}),
    )
}

/// `GET /library/sections/{id}/collections`.
pub(crate) fn collections(sh: &Shared, req: &Req, id: &str) -> Resp {
    let Some(section) = sh.library.section(id) else {
        return response::not_found();
    };
    let st = lock(&sh.state);
    let items = list(
        sh,
        &st,
        req.account,
        &sh.library.section_items_of(id, "collection"),
    );
    drop(st);
    let title = text(section, "title").unwrap_or("");
    let mut c = json!({"allowSync": false, "title1": title, "title2": "Collections", "viewGroup": "collection"});
    section_attrs(&mut c, section);
    paged(req, c, items, false)
}

/// `GET /library/collections/{id}/children`.
pub(crate) fn collection_children(sh: &Shared, req: &Req, id: &str) -> Resp {
    match sh.library.item(id) {
        Some(c) if text(c, "type") == Some("collection") => children(sh, req, id),
        _ => response::not_found(),
    }
}

/// `GET /library/sections/{id}/{genre|year|collections}`: a secondary directory.
pub(crate) fn secondary(sh: &Shared, req: &Req, id: &str, directory: &str) -> Resp {
    let Some(section) = sh.library.section(id) else {
        return response::not_found();
    };
    if directory == "collections" {
        return collections(sh, req, id);
    }
    let kind = text(section, "type").unwrap_or("");
    let items = sh.library.section_items_of(id, kind);
    let mut entries: Vec<(String, String)> = Vec::new();
    match directory {
        "genre" => {
            for i in &items {
                for g in i
                    .get("Genre")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let (Some(gid), Some(tag)) = (g.get("id").and_then(key_text), text(g, "tag"))
                    {
                        entries.push((gid, tag.to_owned()));
                    }
                }
            }
        }
        "year" => {
            for i in &items {
                let y = num(i, "year");
                if y > 0 {
                    entries.push((y.to_string(), y.to_string()));
                }
            }
        }
        _ => return response::not_found(),
    }
    entries.sort_by(|a, b| a.1.cmp(&b.1));
    entries.dedup();
    let dirs: Vec<Value> = entries
        .into_iter()
        .map(|(key, title)| {
            json!({
                "key": key,
                "fastKey": format!("/library/sections/{id}/all?{directory}={key}"),
                "title": title,
            })
        })
        .collect();
    let title = text(section, "title").unwrap_or("");
    let mut c = json!({
        "size": dirs.len(),
        "allowSync": false,
        "title1": title,
        "title2": if directory == "genre" { "By Genre" } else { "By Year" },
        "viewGroup": "secondary",
        "Directory": dirs,
    });
    section_attrs(&mut c, section);
    response::container(req, c)
}

/// `GET /library/sections/{id}/genre/{g}`: the section's items of one genre.
pub(crate) fn genre_items(sh: &Shared, req: &Req, id: &str, genre: &str) -> Resp {
    let Some(section) = sh.library.section(id) else {
        return response::not_found();
    };
    let kind = text(section, "type").unwrap_or("");
    let st = lock(&sh.state);
    let items: Vec<Value> = sh
        .library
        .section_items_of(id, kind)
        .into_iter()
        .filter(|i| {
            i.get("Genre").and_then(Value::as_array).is_some_and(|gs| {
                gs.iter()
                    .any(|g| g.get("id").and_then(key_text).as_deref() == Some(genre))
            })
        })
        .map(|i| sh.library.list_entry(i, &st, req.account, false))
        .collect();
    drop(st);
    let tag = items
        .first()
        .and_then(|i| i.get("Genre"))
        .and_then(Value::as_array)
        .and_then(|gs| {
            gs.iter()
                .find(|g| g.get("id").and_then(key_text).as_deref() == Some(genre))
        })
        .and_then(|g| text(g, "tag"))
        .unwrap_or("")
        .to_owned();
    let mut c = json!({"allowSync": false, "title1": text(section, "title").unwrap_or(""), "title2": tag, "viewGroup": kind});
    section_attrs(&mut c, section);
    paged(req, c, items, false)
}

/// `/:/progress?key=<rk>&identifier=…&time=<ms>[&state=…]`: sets a resume point.
pub(crate) fn progress(sh: &Shared, req: &Req) -> Resp {
    let Some(key) = req.param("key").filter(|k| !k.is_empty()) else {
        return response::bad_request();
    };
    if req
        .param("identifier")
        .is_some_and(|i| i != "com.plexapp.plugins.library")
    {
        return response::bad_request();
    }
    let Some(Ok(time)) = req.param("time").map(|t| t.trim().parse::<u64>()) else {
        return response::bad_request();
    };
    let key = key.strip_prefix("/library/metadata/").unwrap_or(key);
    if sh.library.item(key).is_none() {
        return response::not_found();
    }
    let mut st = lock(&sh.state);
    let us = st.user_state_mut(req.account, key);
    us.view_offset = Some(time);
    us.last_viewed_at = Some(crate::util::unix_now());
    drop(st);
    response::ok_empty()
}

/// `GET /library/parts/{id}/indexes/sd/{ms}`: one scrub (BIF) thumbnail of a part with
/// `indexes="sd"`; the demo answers the poster for every position inside the media.
pub(crate) fn scrub_thumb(sh: &Shared, req: &Req, id: &str, ms: &str) -> Resp {
    let Some(part) = id.parse::<u64>().ok().and_then(|id| sh.library.part(id)) else {
        return response::not_found();
    };
    let Ok(ms) = ms.parse::<u64>() else {
        return response::bad_request();
    };
    if part.file.is_none() || ms > sh.facts.duration_ms {
        return response::not_found();
    }
    let Some(file) = media::file("poster.jpg") else {
        return response::not_found();
    };
    let mut resp = media::serve(req, file, &sh.faults);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    resp
}
