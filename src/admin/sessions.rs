//! The playback sessions running now, as the owner page lists them: who, what, how, how much
//! and since when, with the live counters the keeper has not flushed to SQLite yet.
//!
//! Titles are asked from the session's own server with its user's access (the owner may not
//! see a shared user's libraries); a title that cannot be fetched shows as the rating key, so
//! a down server never hides a session that can still be revoked. The lookups run together, so
//! a down server costs the page one [`TITLE_TIMEOUT`], however many sessions it has.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::db::{self, Db, DbError};
use crate::plex::ClientIdentity;
use crate::plex::ServerDirectory;
use crate::plex::client::{PlexClient, Query};
use crate::stream::session::SessionKeeper;

/// How long a title lookup may hold up the listing.
const TITLE_TIMEOUT: Duration = Duration::from_secs(3);

/// One open playback session.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    /// Session id (what the revoke route takes); grants nothing by itself.
    pub id: String,
    /// Whose it is.
    pub user: String,
    /// What plays: the item's title, else its rating key.
    pub title: String,
    /// The item's rating key.
    pub rating_key: Option<String>,
    /// `hls`, `dash` or `http`.
    pub protocol: Option<String>,
    /// Bytes sent to the browser so far.
    pub bytes: u64,
    /// Started, epoch seconds.
    pub started_at: i64,
    /// Last request through its ticket, epoch seconds.
    pub last_activity_at: i64,
}

/// What listing sessions needs.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// Storage.
    pub db: &'a Db,
    /// Live counters.
    pub keeper: &'a SessionKeeper,
    /// Upstream client.
    pub client: &'a reqwest::Client,
    /// How Plex sees the lookups.
    pub identity: &'a ClientIdentity,
    /// Server addresses and tokens.
    pub servers: &'a ServerDirectory,
}

/// Every open playback session, newest first.
pub async fn open(src: Sources<'_>) -> Result<Vec<SessionRow>, DbError> {
    let rows = src.db.read(db::playback::open_playbacks).await?;
    // All lookups at once: with a server down, the page waits one timeout, not one per session.
    let titles = futures_util::future::join_all(rows.iter().map(|row| async move {
        match &row.rating_key {
            Some(rk) => title(src, row.user_id, row.server_id, rk).await,
            None => None,
        }
    }))
    .await;
    let mut out = Vec::with_capacity(rows.len());
    for (row, title) in rows.into_iter().zip(titles) {
        let live = src.keeper.live(&row.id);
        out.push(SessionRow {
            title: title
                .or_else(|| row.rating_key.as_ref().map(|rk| format!("item {rk}")))
                .unwrap_or_else(|| "unknown item".to_string()),
            bytes: row.bytes_sent.max(0) as u64 + live.as_ref().map_or(0, |l| l.unflushed_bytes()),
            last_activity_at: live.as_ref().map_or(row.last_activity_at, |l| {
                l.last_activity().max(row.last_activity_at)
            }),
            id: row.id,
            user: row.username,
            rating_key: row.rating_key,
            protocol: row.protocol,
            started_at: row.started_at,
        });
    }
    Ok(out)
}

/// "Show · S1E2 · Title" for an episode, "Title (year)" for a movie.
async fn title(src: Sources<'_>, user_id: i64, server_id: i64, rk: &str) -> Option<String> {
    let lookup = async {
        let mut client =
            PlexClient::connect(src.client, src.identity, src.servers, user_id, server_id)
                .await
                .ok()?;
        let doc = client
            .get_json(&format!("/library/metadata/{rk}"), &Query::new())
            .await
            .ok()?;
        doc.pointer("/MediaContainer/Metadata/0").map(describe)
    };
    tokio::time::timeout(TITLE_TIMEOUT, lookup).await.ok()?
}

fn describe(m: &Value) -> String {
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default();
    let n = |k: &str| m.get(k).and_then(Value::as_i64);
    let title = s("title");
    match (s("grandparentTitle"), n("parentIndex"), n("index")) {
        (show, Some(season), Some(ep)) if !show.is_empty() => {
            format!("{show} · S{season}E{ep} · {title}")
        }
        _ => match n("year") {
            Some(y) => format!("{title} ({y})"),
            None => title.to_string(),
        },
    }
}
