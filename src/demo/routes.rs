//! The demo Plex's route table: PMS paths → handlers, with the methods each accepts.
//!
//! Why: one table shows the whole surface at a glance (protocol §3–§6) and keeps method rules
//! uniform (HEAD wherever GET is; anything else on a known path is 405, an unknown path 404,
//! both as PMS HTML pages). It never runs a handler for a path it does not know.

use std::sync::LazyLock;

use http::{Method, StatusCode};

use super::request::Req;
use super::response::{self, Resp};
use super::state::Shared;
use super::{actions, browse, catalog, home, transcoder};

/// One PMS endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Identity,
    Root,
    Sections,
    SectionAll,
    Metadata,
    Thumb,
    Art,
    PhotoTranscode,
    StreamFile,
    PartFile,
    PartSelect,
    Decision,
    StartM3u8,
    StartMpd,
    SessionFile,
    Ping,
    Stop,
    TranscodeSessions,
    TranscodeSessionKill,
    Timeline,
    Scrobble,
    Unscrobble,
    Rate,
    Progress,
    Children,
    AllLeaves,
    ItemOnDeck,
    SectionSecondary,
    SectionGenre,
    SectionOnDeck,
    SectionRecent,
    CollectionChildren,
    LibraryAll,
    OnDeck,
    RecentlyAdded,
    Hubs,
    ContinueHub,
    ContinueItems,
    HomeContinue,
    Search,
    ScrubThumb,
}

const UNIVERSAL: &str = "/video/:/transcode/universal";

/// The path table: built once per process, since it depends on nothing but this file.
static TABLE: LazyLock<matchit::Router<Route>> = LazyLock::new(router);

/// Builds the path table.
fn router() -> matchit::Router<Route> {
    let mut r = matchit::Router::new();
    let routes: [(String, Route); 41] = [
        ("/identity".into(), Route::Identity),
        ("/".into(), Route::Root),
        ("/library/sections".into(), Route::Sections),
        ("/library/sections/{id}/all".into(), Route::SectionAll),
        ("/library/metadata/{ids}".into(), Route::Metadata),
        ("/library/metadata/{rk}/thumb/{ts}".into(), Route::Thumb),
        ("/library/metadata/{rk}/art/{ts}".into(), Route::Art),
        ("/photo/:/transcode".into(), Route::PhotoTranscode),
        ("/library/streams/{id}".into(), Route::StreamFile),
        ("/library/parts/{id}/{ts}/{file}".into(), Route::PartFile),
        ("/library/parts/{id}".into(), Route::PartSelect),
        (format!("{UNIVERSAL}/decision"), Route::Decision),
        (format!("{UNIVERSAL}/start.m3u8"), Route::StartM3u8),
        (format!("{UNIVERSAL}/start.mpd"), Route::StartMpd),
        (
            format!("{UNIVERSAL}/session/{{id}}/{{*rest}}"),
            Route::SessionFile,
        ),
        (format!("{UNIVERSAL}/ping"), Route::Ping),
        (format!("{UNIVERSAL}/stop"), Route::Stop),
        ("/transcode/sessions".into(), Route::TranscodeSessions),
        (
            "/transcode/sessions/{key}".into(),
            Route::TranscodeSessionKill,
        ),
        ("/:/timeline".into(), Route::Timeline),
        ("/:/scrobble".into(), Route::Scrobble),
        ("/:/unscrobble".into(), Route::Unscrobble),
        ("/:/rate".into(), Route::Rate),
        ("/:/progress".into(), Route::Progress),
        ("/library/metadata/{rk}/children".into(), Route::Children),
        ("/library/metadata/{rk}/allLeaves".into(), Route::AllLeaves),
        ("/library/metadata/{rk}/onDeck".into(), Route::ItemOnDeck),
        (
            "/library/sections/{id}/{directory}".into(),
            Route::SectionSecondary,
        ),
        (
            "/library/sections/{id}/genre/{g}".into(),
            Route::SectionGenre,
        ),
        ("/library/sections/{id}/onDeck".into(), Route::SectionOnDeck),
        (
            "/library/sections/{id}/recentlyAdded".into(),
            Route::SectionRecent,
        ),
        (
            "/library/collections/{id}/children".into(),
            Route::CollectionChildren,
        ),
        ("/library/all".into(), Route::LibraryAll),
        ("/library/onDeck".into(), Route::OnDeck),
        ("/library/recentlyAdded".into(), Route::RecentlyAdded),
        ("/hubs".into(), Route::Hubs),
        ("/hubs/continueWatching".into(), Route::ContinueHub),
        ("/hubs/continueWatching/items".into(), Route::ContinueItems),
        ("/hubs/home/continueWatching".into(), Route::HomeContinue),
        ("/search".into(), Route::Search),
        (
            "/library/parts/{id}/indexes/sd/{ms}".into(),
            Route::ScrubThumb,
        ),
    ];
    for (path, route) in routes {
        if let Err(e) = r.insert(path, route) {
            // The table is static; a conflict is a programming error caught by the tests.
            tracing::error!(error = %e, "demo plex route conflict");
        }
    }
    r
}

fn allowed(route: Route, method: &Method) -> bool {
    let get = method == Method::GET || method == Method::HEAD;
    match route {
        Route::PartSelect => method == Method::PUT,
        Route::Decision | Route::Timeline => get || method == Method::POST,
        Route::Scrobble | Route::Unscrobble | Route::Rate | Route::Progress => {
            get || method == Method::PUT
        }
        Route::TranscodeSessionKill => method == Method::DELETE,
        _ => get,
    }
}

/// Runs the handler for `req` (token already checked).
pub(crate) fn dispatch(sh: &Shared, req: &Req) -> Resp {
    let Some(path) = req.path.as_deref() else {
        return response::bad_request();
    };
    let Ok(m) = TABLE.at(path) else {
        return response::not_found();
    };
    let route = *m.value;
    if !allowed(route, &req.method) {
        return response::html_error(StatusCode::METHOD_NOT_ALLOWED);
    }
    sh.reap();
    let p = |name: &str| m.params.get(name).unwrap_or("");
    match route {
        Route::Identity => browse::identity(sh, req),
        Route::Root => browse::root(sh, req),
        Route::Sections => browse::sections(sh, req),
        Route::SectionAll => browse::section_all(sh, req, p("id")),
        Route::Metadata => browse::metadata(sh, req, p("ids")),
        Route::Thumb => browse::image(sh, req, p("rk"), "thumb"),
        Route::Art => browse::image(sh, req, p("rk"), "art"),
        Route::PhotoTranscode => browse::photo_transcode(sh, req),
        Route::StreamFile => browse::stream_file(sh, req, p("id")),
        Route::PartFile => browse::part_file(sh, req, p("id"), p("file")),
        Route::PartSelect => actions::select_streams(sh, req, p("id")),
        Route::Decision => transcoder::decision(sh, req),
        Route::StartM3u8 => transcoder::start(sh, req, false),
        Route::StartMpd => transcoder::start(sh, req, true),
        Route::SessionFile => transcoder::session_file(sh, req, p("id"), p("rest")),
        Route::Ping => transcoder::ping(sh, req),
        Route::Stop => transcoder::stop(sh, req),
        Route::TranscodeSessions => transcoder::sessions(sh, req),
        Route::TranscodeSessionKill => transcoder::kill(sh, p("key")),
        Route::Timeline => actions::timeline(sh, req),
        Route::Scrobble => actions::scrobble(sh, req, true),
        Route::Unscrobble => actions::scrobble(sh, req, false),
        Route::Rate => actions::rate(sh, req),
        Route::Progress => catalog::progress(sh, req),
        Route::Children => catalog::children(sh, req, p("rk")),
        Route::AllLeaves => catalog::all_leaves(sh, req, p("rk")),
        Route::ItemOnDeck => home::item_on_deck(sh, req, p("rk")),
        Route::SectionSecondary => catalog::secondary(sh, req, p("id"), p("directory")),
        Route::SectionGenre => catalog::genre_items(sh, req, p("id"), p("g")),
        Route::SectionOnDeck => home::on_deck(sh, req, Some(p("id"))),
        Route::SectionRecent => home::recently_added(sh, req, Some(p("id"))),
        Route::CollectionChildren => catalog::collection_children(sh, req, p("id")),
        Route::LibraryAll => catalog::library_all(sh, req),
        Route::OnDeck => home::on_deck(sh, req, None),
        Route::RecentlyAdded => home::recently_added(sh, req, None),
        Route::Hubs => home::home_hubs(sh, req),
        Route::ContinueHub => home::continue_hub(sh, req),
        Route::ContinueItems | Route::HomeContinue => home::continue_items(sh, req),
        Route::Search => catalog::search(sh, req),
        Route::ScrubThumb => catalog::scrub_thumb(sh, req, p("id"), p("ms")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_conflicts() {
        let r = router();
        assert_eq!(r.at("/identity").map(|m| *m.value), Ok(Route::Identity));
        assert_eq!(
            r.at("/video/:/transcode/universal/session/abc/base/00000.ts")
                .map(|m| *m.value),
            Ok(Route::SessionFile)
        );
        assert_eq!(
            r.at("/library/parts/301/1716000000/file.mp4")
                .map(|m| *m.value),
            Ok(Route::PartFile)
        );
        assert_eq!(
            r.at("/library/metadata/101/thumb/1").map(|m| *m.value),
            Ok(Route::Thumb)
        );
        assert_eq!(r.at("/:/timeline").map(|m| *m.value), Ok(Route::Timeline));
        for (path, want) in [
            ("/library/sections/1/all", Route::SectionAll),
            ("/library/sections/1/genre", Route::SectionSecondary),
            ("/library/sections/1/genre/41", Route::SectionGenre),
            ("/library/sections/2/recentlyAdded", Route::SectionRecent),
            ("/library/metadata/1000/children", Route::Children),
            ("/library/metadata/101", Route::Metadata),
            ("/library/parts/301/indexes/sd/1000", Route::ScrubThumb),
            ("/library/parts/301", Route::PartSelect),
            ("/library/all", Route::LibraryAll),
            ("/hubs/continueWatching/items", Route::ContinueItems),
        ] {
            assert_eq!(r.at(path).map(|m| *m.value), Ok(want), "{path}");
        }
    }
}
