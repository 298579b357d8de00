//! Read-only PMS endpoints: identity, capabilities, sections, paginated section listing,
//! metadata, images, `/photo/:/transcode`, sidecar subtitles and direct-play parts.
//!
//! Why: these are the library reads plexgate caches and proxies; their shapes follow protocol
//! §3–§4 and §5.9–§5.10 (pagination from header or query with the `X-Plex-Container-*` answer
//! headers, 404 HTML for unknown ids, 501 for embedded subtitle streams, 503 for a Part after a
//! transcode decision). `/photo/:/transcode` never fetches the URL it is given: a relative path
//! of a known image serves that image, an absolute URL serves a stand-in, and the requested size
//! is reflected in `X-Demo-Size` instead of resizing.

use http::StatusCode;
use http::header::{CONTENT_DISPOSITION, HeaderValue};
use serde_json::{Value, json};

use super::faults::lock;
use super::library::key_text;
use super::listing::{self, section_attrs};
use super::media;
use super::request::Req;
use super::response::{self, Resp};
use super::state::Shared;
use super::store::DecisionKind;

const TRANSCODER_BITRATES: &str = "64,96,208,320,720,1500,2000,3000,4000,8000,10000,12000,20000";

/// `GET /identity` (no token needed).
pub(crate) fn identity(sh: &Shared, req: &Req) -> Resp {
    response::container(
        req,
        json!({
            "size": 0,
            "apiVersion": "1.1.1",
            "claimed": true,
            "machineIdentifier": sh.opts.machine_identifier,
            "version": sh.opts.version,
        }),
    )
}

/// `GET /` (server capabilities).
pub(crate) fn root(sh: &Shared, req: &Req) -> Resp {
    let live = lock(&sh.state).sessions.len();
    let dirs = [
        "activities",
        "butler",
        "channels",
        "clients",
        "hubs",
        "library",
        "playQueues",
        "transcode",
    ];
    let directory: Vec<Value> = dirs
        .iter()
        .map(|k| json!({ "count": 1, "key": k, "title": k }))
        .collect();
    response::container(
        req,
        json!({
            "size": directory.len(),
            "allowCameraUpload": false,
            "allowSync": false,
            "apiVersion": "1.1.1",
            "claimed": true,
            "friendlyName": sh.opts.friendly_name,
            "machineIdentifier": sh.opts.machine_identifier,
            "version": sh.opts.version,
            "platform": "Linux",
            "platformVersion": "6.1",
            "myPlex": true,
            "myPlexSigninState": "ok",
            "myPlexUsername": "demo@plexgate.invalid",
            "multiuser": true,
            "streamingBrainVersion": 2,
            "streamingBrainABRVersion": 3,
            "transcoderActiveVideoSessions": live,
            "transcoderAudio": true,
            "transcoderVideo": true,
            "transcoderSubtitles": true,
            "transcoderLyrics": false,
            "transcoderPhoto": true,
            "transcoderVideoBitrates": TRANSCODER_BITRATES,
            "transcoderVideoQualities": "0,1,2,3,4,5,6,7,8,9,10,11,12",
            "transcoderVideoResolutions": "128,128,160,240,320,480,768,720,720,1080,1080,1080,1080",
            "Directory": directory,
        }),
    )
}

/// `GET /library/sections`.
pub(crate) fn sections(sh: &Shared, req: &Req) -> Resp {
    let dirs = sh.library.sections();
    response::container(
        req,
        json!({
            "size": dirs.len(),
            "allowSync": false,
            "title1": "Plex Library",
            "Directory": dirs,
        }),
    )
}

/// `GET /library/sections/{id}/all` with `X-Plex-Container-Start/Size` paging, `type`, `sort`
/// and the `genre`/`year`/`unwatched`/`guid` filters.
pub(crate) fn section_all(sh: &Shared, req: &Req, id: &str) -> Resp {
    let Some(section) = sh.library.section(id) else {
        return response::not_found();
    };
    let kind = match req.param("type").filter(|t| !t.is_empty()) {
        None => section.get("type").and_then(Value::as_str).unwrap_or(""),
        Some(t) => match listing::type_name(t) {
            Some(k) => k,
            None => return response::bad_request(),
        },
    };
    let include_guids = req.param("includeGuids") == Some("1");
    let st = lock(&sh.state);
    let items: Vec<Value> = sh
        .library
        .section_items_of(id, kind)
        .into_iter()
        .map(|i| sh.library.list_entry(i, &st, req.account, true))
        .collect();
    drop(st);
    let Some(items) = listing::filter_and_sort(req, items) else {
        return response::bad_request();
    };
    let title = section.get("title").and_then(Value::as_str).unwrap_or("");
    let mut c = json!({
        "allowSync": true,
        "art": section.get("art").cloned().unwrap_or(Value::Null),
        "thumb": section.get("thumb").cloned().unwrap_or(Value::Null),
        "title1": title,
        "title2": format!("All {title}"),
        "viewGroup": kind,
    });
    section_attrs(&mut c, section);
    listing::paged(req, c, items, include_guids)
}

/// `GET /library/metadata/{ids}` (comma-separated ratingKeys allowed), with `includeExtras`,
/// `includeChildren` and `includeMarkers`.
pub(crate) fn metadata(sh: &Shared, req: &Req, ids: &str) -> Resp {
    let on = |name: &str| matches!(req.param(name), Some("1" | "true"));
    let st = lock(&sh.state);
    let found: Vec<Value> = ids
        .split(',')
        .filter_map(|rk| sh.library.item(rk.trim()))
        .map(|i| {
            let mut d = sh.library.detail(i, &st, req.account);
            if !on("includeMarkers")
                && let Some(obj) = d.as_object_mut()
            {
                obj.remove("Marker");
            }
            if on("includeExtras") {
                let extras: Vec<Value> = i
                    .get("primaryExtraKey")
                    .and_then(Value::as_str)
                    .and_then(|k| k.strip_prefix("/library/metadata/"))
                    .and_then(|rk| sh.library.item(rk))
                    .map(|x| sh.library.list_entry(x, &st, req.account, false))
                    .into_iter()
                    .collect();
                d["Extras"] = json!({ "size": extras.len(), "Metadata": extras });
            }
            if on("includeChildren") {
                let rk = i.get("ratingKey").and_then(key_text).unwrap_or_default();
                let children: Vec<Value> = listing::children_of(&sh.library, &rk)
                    .into_iter()
                    .map(|c| sh.library.list_entry(c, &st, req.account, false))
                    .collect();
                if !children.is_empty() {
                    d["Children"] = json!({ "size": children.len(), "Metadata": children });
                }
            }
            d
        })
        .collect();
    drop(st);
    let Some(first) = found.first() else {
        return response::not_found();
    };
    let mut c = json!({ "size": found.len(), "allowSync": true });
    let section = first
        .get("librarySectionID")
        .and_then(key_text)
        .and_then(|id| sh.library.section(&id));
    if let Some(section) = section {
        section_attrs(&mut c, section);
    }
    c["Metadata"] = json!(found);
    response::container(req, c)
}

/// `GET /library/metadata/{rk}/{thumb|art}/{ts}`.
pub(crate) fn image(sh: &Shared, req: &Req, rk: &str, element: &str) -> Resp {
    match sh.library.image(rk, element) {
        Some(f) => media::serve(req, f, &sh.faults),
        None => response::not_found(),
    }
}

/// The image a `url=` names: `/library/metadata/{rk}/{element}/{ts}`.
fn image_for_path(sh: &Shared, path: &str) -> Option<media::File> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let rest = path.strip_prefix("/library/metadata/")?;
    let mut seg = rest.split('/');
    let (rk, element) = (seg.next()?, seg.next()?);
    sh.library.image(rk, element)
}

/// `GET /photo/:/transcode?url=…&width=&height=`.
pub(crate) fn photo_transcode(sh: &Shared, req: &Req) -> Resp {
    let Some(url) = req.param("url").filter(|u| !u.is_empty()) else {
        return response::bad_request();
    };
    let dim = |name| -> Result<u32, ()> {
        match req.param(name) {
            None | Some("") => Ok(0),
            Some(v) => v.trim().parse().map_err(|_| ()),
        }
    };
    let (Ok(width), Ok(height)) = (dim("width"), dim("height")) else {
        return response::bad_request();
    };
    let lower = url.to_ascii_lowercase();
    let absolute = lower.starts_with("http://") || lower.starts_with("https://");
    let (file, source) = if absolute {
        // Never fetched: a stand-in image answers for any absolute URL.
        (media::file("poster.jpg"), "absolute-placeholder")
    } else {
        (image_for_path(sh, url), "library")
    };
    let Some(file) = file else {
        return response::not_found();
    };
    let mut resp = media::serve(req, file, &sh.faults);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{width}x{height}")) {
        h.insert("x-demo-size", v);
    }
    h.insert("x-demo-source", HeaderValue::from_static(source));
    resp
}

/// `GET /library/streams/{id}` (also `{id}.{ext}`): the sidecar subtitle file.
pub(crate) fn stream_file(sh: &Shared, req: &Req, id: &str) -> Resp {
    let id = id.split('.').next().unwrap_or(id);
    let Some(stream) = id.parse::<u64>().ok().and_then(|id| sh.library.stream(id)) else {
        return response::not_found();
    };
    match (stream.file, stream.stream_type) {
        (Some(f), _) => media::serve(req, f, &sh.faults),
        // An embedded subtitle stream cannot be fetched on its own.
        (None, 3) => response::html_error(StatusCode::NOT_IMPLEMENTED),
        (None, _) => response::not_found(),
    }
}

/// `GET /library/parts/{id}/{ts}/{file}`: direct play with Range.
pub(crate) fn part_file(sh: &Shared, req: &Req, id: &str, file_name: &str) -> Resp {
    let Some(part) = id.parse::<u64>().ok().and_then(|id| sh.library.part(id)) else {
        return response::not_found();
    };
    let Some(file) = part.file else {
        return response::not_found();
    };
    if sh.opts.part_503_after_transcode
        && let Some(client) = req.plex("X-Plex-Client-Identifier")
    {
        let last = lock(&sh.state).client_decisions.get(client).copied();
        if last.is_some_and(|k| k != DecisionKind::DirectPlay) {
            return response::html_error(StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    let mut resp = media::serve(req, file, &sh.faults);
    if req.param("download") == Some("1") {
        let name: String = file_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            resp.headers_mut().insert(CONTENT_DISPOSITION, v);
        }
    }
    resp
}
