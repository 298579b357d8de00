//! Playback sessions of `/api/plex/stream`: begin (replace, record, mint) and the lazy start.
//!
//! Why lazy: the real Flixor player calls `/api/plex/stream` and then plays through the facade,
//! ignoring the URL. Deciding and starting a transcode inside that request cost ~66 ms and left
//! an orphan transcode on the user's server for every play. So [`begin`] answers from local
//! state only (ticket minted, session recorded), and [`start_manifest`] makes the decision and
//! starts the transcode when the returned URL is first fetched. A URL never fetched costs the
//! Plex server nothing: no decision, no start, no ping.
//!
//! Must never: talk to Plex from [`begin`]; start a transcode twice for one session (concurrent
//! first fetches share one start).

use std::sync::Arc;

use crate::db::DbError;
use crate::db::playback::{self, Kind, NewTicketSession};
use crate::plex::transcoder::{self, Protocol, TranscodeRequest};
use crate::plex::{ClientIdentity, PlexError, ServerAccess};
use crate::util::{hex, random_bytes, unix_now};

use super::manifest::{self, ManifestKind, RewriteError};
use super::session::{LiveSession, Registration, SessionKeeper, StartManifest};
use super::ticket::{Claims, Scope, TicketKeys};

/// Why a playback could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    /// Talking to Plex failed.
    #[error(transparent)]
    Plex(#[from] PlexError),
    /// Plex's decision says the item cannot be played.
    #[error("Plex cannot play this item: {0}")]
    CannotPlay(String),
    /// Plex's start manifest is not a manifest.
    #[error(transparent)]
    Manifest(#[from] RewriteError),
    /// The session has no transcode to start (restored after a restart): start again.
    #[error("this playback session's start manifest is no longer available; start playback again")]
    Unavailable,
    /// The server address is not a URL.
    #[error("the server address is not a URL")]
    BadAddress,
    /// Recording the session failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What [`begin`] needs.
#[derive(Debug)]
pub struct Begin<'a> {
    /// Login session the playback belongs to.
    pub login_hash: [u8; 32],
    /// Its absolute end, epoch seconds: the ticket never outlives it.
    pub login_expires_at: i64,
    /// Owner.
    pub user_id: i64,
    /// Server row.
    pub server_id: i64,
    /// The transcode to start on first fetch (its `session` is chosen here if empty).
    pub request: TranscodeRequest,
    /// How Plex sees this login session.
    pub identity: ClientIdentity,
    /// Ticket lifetime, seconds.
    pub ttl_secs: i64,
    /// Signs the ticket.
    pub keys: &'a TicketKeys,
}

/// A begun playback: the ticket for its URL and its session.
#[derive(Debug, Clone)]
pub struct Begun {
    /// Hex session id.
    pub session_id: String,
    /// The playback ticket.
    pub ticket: String,
    /// Ticket expiry, epoch seconds.
    pub expires_at: i64,
}

/// Replaces the login session's previous playback of the same item (a quality, audio or
/// subtitle change), records the new session and mints its ticket. Local state only.
pub async fn begin(keeper: &SessionKeeper, b: Begin<'_>) -> Result<Begun, PlaybackError> {
    let rk = b.request.rating_key.clone();
    let hash = b.login_hash;
    let previous = keeper
        .db()
        .read(move |conn| playback::open_for_login(conn, &hash))
        .await?
        .into_iter()
        .filter(|s| s.kind == "playback" && s.rating_key.as_deref() == Some(rk.as_str()));
    for old in previous {
        keeper.revoke(&old.id, "replaced").await?;
    }

    let session_id = random_bytes::<16>();
    let session_hex = hex(&session_id);
    let transcode_session = b.request.session.clone();
    let expires_at = (unix_now() + b.ttl_secs).min(b.login_expires_at);
    let protocol = b.request.protocol;
    keeper
        .register(Registration {
            row: NewTicketSession {
                id: session_hex.clone(),
                user_id: b.user_id,
                server_id: b.server_id,
                login_session_hash: Some(b.login_hash),
                kind: Kind::Playback,
                rating_key: Some(b.request.rating_key.clone()),
                plex_session_id: Some(transcode_session.clone()),
                protocol: Some(protocol.as_str().to_string()),
                mode: Some("proxy".to_string()),
            },
            expires_at,
            identity: b.identity,
            start_request: Some(b.request),
        })
        .await?;
    let ticket = b.keys.mint(&Claims {
        key_id: 0,
        scope: Scope::Playback {
            prefix: format!("/video/:/transcode/universal/session/{transcode_session}/"),
        },
        expires_at,
        session_id,
        user_id: b.user_id,
        server_id: b.server_id,
    });
    Ok(Begun {
        session_id: session_hex,
        ticket,
        expires_at,
    })
}

/// The start manifest of a playback session: on the first fetch plexgate makes the decision
/// and starts the transcode (token and identity as headers); later fetches get the same text
/// from memory, so a player reloading it never starts a second transcode.
pub async fn start_manifest(
    live: &Arc<LiveSession>,
    client: &reqwest::Client,
    access: &ServerAccess,
) -> Result<StartManifest, PlaybackError> {
    let request = live.start_request().ok_or(PlaybackError::Unavailable)?;
    let started = live
        .start_manifest_cell()
        .get_or_try_init(|| start(live, client, access, request))
        .await?;
    Ok(started.clone())
}

async fn start(
    live: &LiveSession,
    client: &reqwest::Client,
    access: &ServerAccess,
    request: &TranscodeRequest,
) -> Result<StartManifest, PlaybackError> {
    let identity = live.identity();
    let decision = transcoder::decision(client, access, identity, &live.id, request).await?;
    if !decision.playable() {
        return Err(PlaybackError::CannotPlay(
            decision
                .general_text
                .unwrap_or_else(|| "no reason given".to_string()),
        ));
    }
    let body = transcoder::start(client, access, identity, &live.id, request).await?;
    // From here on the transcode runs on Plex: keep it alive and stop it with the session.
    live.observe_transcode(&request.session, Some(&request.rating_key));
    match kind_of(request.protocol) {
        ManifestKind::Hls => manifest::validate_hls(&body),
        ManifestKind::Dash => manifest::validate_mpd(&body),
    }?;
    let url = url::Url::parse(&format!(
        "{}/video/:/transcode/universal/{}?{}",
        access.base,
        request.protocol.start_file(),
        request.query()
    ))
    .map_err(|_| PlaybackError::BadAddress)?;
    tracing::info!(
        session = %live.id,
        user_id = live.user_id,
        rating_key = %request.rating_key,
        protocol = request.protocol.as_str(),
        "playback started on Plex"
    );
    Ok(StartManifest { body, url })
}

/// The manifest kind a protocol's start file is.
pub fn kind_of(protocol: Protocol) -> ManifestKind {
    match protocol {
        Protocol::Hls => ManifestKind::Hls,
        Protocol::Dash => ManifestKind::Dash,
    }
}

/// A fresh transcode `session` id for Plex (never the ticket session id).
pub fn new_transcode_session() -> String {
    format!("plexgate-{}", hex(&random_bytes::<12>()))
}
