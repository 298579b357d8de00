//! Handing out the PMS facade: the `baseUrl` + `token` pair the Flixor player uses instead of a
//! server address and a Plex token (design §2).
//!
//! One facade session per (login session, server): every call re-mints the ticket with a fresh
//! expiry under the same session id, so logout (which revokes that id) ends all of them.

use crate::db::DbError;
use crate::db::playback::{self, Kind, NewTicketSession};
use crate::util::{hex, random_bytes, unix_now};

use super::session::{Registration, SessionKeeper};
use super::ticket::{Claims, Scope, TicketKeys};
use crate::plex::ClientIdentity;

/// A minted facade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facade {
    /// The ticket (also the `token` the player sends back, which plexgate ignores).
    pub ticket: String,
    /// `<prefix>/api/plex/proxy/<ticket>`: what the player appends PMS paths to.
    pub base_url: String,
    /// Ticket expiry, epoch seconds.
    pub expires_at: i64,
}

/// Whose facade it is.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The user.
    pub user_id: i64,
    /// The server row.
    pub server_id: i64,
    /// The login session (its hash and absolute expiry), when there is one.
    pub login: Option<([u8; 32], i64)>,
    /// How Plex sees calls through this facade.
    pub identity: ClientIdentity,
}

/// Mints a facade ticket for `owner`, tied to its login session when there is one.
/// `url_prefix` is the public origin and base path (may be empty).
pub async fn mint(
    keeper: &SessionKeeper,
    keys: &TicketKeys,
    owner: Owner,
    ttl_secs: i64,
    url_prefix: &str,
) -> Result<Facade, DbError> {
    let Owner {
        user_id,
        server_id,
        login,
        identity,
    } = owner;
    let now = unix_now();
    let expires_at = login.map_or(now + ttl_secs, |(_, end)| end.min(now + ttl_secs));
    let existing = match login {
        Some((hash, _)) => keeper
            .db()
            .read(move |conn| playback::open_for_login(conn, &hash))
            .await?
            .into_iter()
            .find(|s| s.kind == "facade" && s.server_id == server_id && s.user_id == user_id)
            .map(|s| s.id)
            .filter(|id| !keeper.is_revoked(id)),
        None => None,
    };
    let session_hex = match existing {
        Some(id) => id,
        None => {
            let id = hex(&random_bytes::<16>());
            keeper
                .register(Registration {
                    row: NewTicketSession {
                        id: id.clone(),
                        user_id,
                        server_id,
                        login_session_hash: login.map(|(h, _)| h),
                        kind: Kind::Facade,
                        rating_key: None,
                        plex_session_id: None,
                        protocol: None,
                        mode: None,
                    },
                    expires_at,
                    identity,
                    start_request: None,
                })
                .await?;
            id
        }
    };
    let mut session_id = [0u8; 16];
    for (i, byte) in session_id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&session_hex[i * 2..i * 2 + 2], 16).unwrap_or(0);
    }
    let ticket = keys.mint(&Claims {
        key_id: 0,
        scope: Scope::Facade,
        expires_at,
        session_id,
        user_id,
        server_id,
    });
    Ok(Facade {
        base_url: format!("{url_prefix}/api/plex/proxy/{ticket}"),
        ticket,
        expires_at,
    })
}
