//! The home rows: On Deck, Continue Watching, Recently Added and the home hubs (protocol
//! §3.6–§3.7), each derived from the caller's own watch state.
//!
//! Why apart from `catalog.rs`: these change with what "watching" means (progress, the next
//! episode, hub shapes Flixor's home screen reads), the catalogue views with the library shape.
//! Nothing here is stored, fetched or ever carries a token.

use serde_json::{Value, json};

use super::catalog::{metadata_container, parent_attrs};
use super::faults::lock;
use super::library::key_text;
use super::listing::{num, rating_key, text};
use super::request::Req;
use super::response::{self, Resp};
use super::state::Shared;
use super::store::{Account, State};

/// In-progress items and the next episode of shows being watched, most recent first: what
/// On Deck and Continue Watching show for `account`.
fn deck(sh: &Shared, st: &State, account: Account, section: Option<&str>) -> Vec<Value> {
    let lib = &sh.library;
    let mut started: Vec<(&Value, i64)> = st
        .watched_items(account)
        .filter(|(_, u)| u.view_offset.is_some_and(|o| o > 0))
        .filter_map(|(rk, u)| Some((lib.item(rk)?, u.last_viewed_at.unwrap_or(0))))
        .collect();
    // Shows with a watched episode: the first unwatched episode after it comes next.
    let mut shows: Vec<String> = st
        .watched_items(account)
        .filter(|(_, u)| u.view_count > 0)
        .filter_map(|(rk, _)| lib.item(rk)?.get("grandparentRatingKey").and_then(key_text))
        .collect();
    shows.sort();
    shows.dedup();
    for show in shows {
        let mut eps = lib.leaves(&show);
        eps.sort_by_key(|e| (num(e, "parentIndex"), num(e, "index")));
        let last_watched = eps.iter().rposition(|e| {
            st.user_state(account, &rating_key(e))
                .is_some_and(|u| u.view_count > 0)
        });
        let next = last_watched.and_then(|i| eps.get(i + 1));
        if let Some(next) = next
            && !started
                .iter()
                .any(|(s, _)| rating_key(s) == rating_key(next))
        {
            let at = last_watched
                .and_then(|i| st.user_state(account, &rating_key(eps[i])))
                .and_then(|u| u.last_viewed_at)
                .unwrap_or(0);
            started.push((next, at));
        }
    }
    started.retain(|(i, _)| {
        section.is_none_or(|s| i.get("librarySectionID").and_then(key_text).as_deref() == Some(s))
    });
    started.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| rating_key(a.0).cmp(&rating_key(b.0)))
    });
    started
        .into_iter()
        .map(|(i, _)| lib.list_entry(i, st, account, false))
        .collect()
}

fn recent(sh: &Shared, st: &State, account: Account, section: Option<&str>) -> Vec<Value> {
    let mut items: Vec<&Value> = sh
        .library
        .items()
        .iter()
        .filter(|i| matches!(text(i, "type"), Some("movie" | "episode")))
        .filter(|i| {
            section
                .is_none_or(|s| i.get("librarySectionID").and_then(key_text).as_deref() == Some(s))
        })
        .collect();
    items.sort_by_key(|i| std::cmp::Reverse(num(i, "addedAt")));
    items
        .into_iter()
        .take(50)
        .map(|i| sh.library.list_entry(i, st, account, false))
        .collect()
}

/// `GET /library/onDeck` and `/library/sections/{id}/onDeck`.
pub(crate) fn on_deck(sh: &Shared, req: &Req, section: Option<&str>) -> Resp {
    if section.is_some_and(|s| sh.library.section(s).is_none()) {
        return response::not_found();
    }
    let st = lock(&sh.state);
    let items = deck(sh, &st, req.account, section);
    drop(st);
    metadata_container(
        req,
        items,
        json!({"allowSync": false, "identifier": "com.plexapp.plugins.library", "mixedParents": true, "title1": "On Deck"}),
    )
}

/// `GET /library/metadata/{rk}/onDeck`: the show's next episode (empty when there is none).
pub(crate) fn item_on_deck(sh: &Shared, req: &Req, rk: &str) -> Resp {
    let Some(show) = sh.library.item(rk) else {
        return response::not_found();
    };
    let st = lock(&sh.state);
    let mut eps = sh.library.leaves(rk);
    eps.sort_by_key(|e| (num(e, "parentIndex"), num(e, "index")));
    let watched = |e: &Value| {
        st.user_state(req.account, &rating_key(e))
            .is_some_and(|u| u.view_count > 0)
    };
    let in_progress = eps.iter().find(|e| {
        st.user_state(req.account, &rating_key(e))
            .is_some_and(|u| u.view_offset.is_some_and(|o| o > 0))
    });
    let next = in_progress
        .or_else(|| eps.iter().find(|e| !watched(e)))
        .map(|e| sh.library.list_entry(e, &st, req.account, false));
    drop(st);
    metadata_container(req, next.into_iter().collect(), parent_attrs(sh, show))
}

/// `GET /hubs/home/continueWatching` and `/hubs/continueWatching/items`: `Metadata[]`.
pub(crate) fn continue_items(sh: &Shared, req: &Req) -> Resp {
    let st = lock(&sh.state);
    let items = deck(sh, &st, req.account, None);
    drop(st);
    metadata_container(
        req,
        items,
        json!({"allowSync": false, "identifier": "com.plexapp.plugins.library", "title1": "Continue Watching"}),
    )
}

fn hub(identifier: &str, title: &str, key: &str, kind: &str, items: Vec<Value>) -> Value {
    let mut h = json!({
        "hubIdentifier": identifier,
        "title": title,
        "key": key,
        "hubKey": key,
        "type": kind,
        "context": format!("hub.{identifier}"),
        "size": items.len(),
        "more": false,
        "promoted": true,
        "style": "shelf",
    });
    if !items.is_empty() {
        h["Metadata"] = json!(items);
    }
    h
}

/// `GET /hubs/continueWatching`: the Continue Watching hub in a `Hub[]` wrapper.
pub(crate) fn continue_hub(sh: &Shared, req: &Req) -> Resp {
    let st = lock(&sh.state);
    let items = deck(sh, &st, req.account, None);
    drop(st);
    let h = hub(
        "home.continue",
        "Continue Watching",
        "/hubs/continueWatching/items",
        "mixed",
        items,
    );
    response::container(req, json!({"size": 1, "allowSync": false, "Hub": [h]}))
}

/// `GET /hubs`: the home hubs (continue watching, on deck, recently added per section).
pub(crate) fn home_hubs(sh: &Shared, req: &Req) -> Resp {
    let st = lock(&sh.state);
    let mut hubs = vec![
        hub(
            "home.continue",
            "Continue Watching",
            "/hubs/continueWatching/items",
            "mixed",
            deck(sh, &st, req.account, None),
        ),
        hub(
            "home.ondeck",
            "On Deck",
            "/library/onDeck",
            "mixed",
            deck(sh, &st, req.account, None),
        ),
    ];
    for section in sh.library.sections() {
        let Some(id) = section.get("key").and_then(key_text) else {
            continue;
        };
        let kind = text(section, "type").unwrap_or("mixed");
        let title = text(section, "title").unwrap_or("");
        hubs.push(hub(
            &format!("{kind}.recentlyadded.{id}"),
            &format!("Recently Added in {title}"),
            &format!("/library/sections/{id}/recentlyAdded"),
            kind,
            recent(sh, &st, req.account, Some(&id)),
        ));
    }
    drop(st);
    response::container(
        req,
        json!({"size": hubs.len(), "allowSync": false, "identifier": "com.plexapp.plugins.library", "Hub": hubs}),
    )
}

/// `GET /library/recentlyAdded` and `/library/sections/{id}/recentlyAdded`.
pub(crate) fn recently_added(sh: &Shared, req: &Req, section: Option<&str>) -> Resp {
    if section.is_some_and(|s| sh.library.section(s).is_none()) {
        return response::not_found();
    }
    let st = lock(&sh.state);
    let items = recent(sh, &st, req.account, section);
    drop(st);
    metadata_container(
        req,
        items,
        json!({"allowSync": false, "identifier": "com.plexapp.plugins.library", "mixedParents": true, "title1": "Recently Added"}),
    )
}
