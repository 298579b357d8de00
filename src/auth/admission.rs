//! Who may sign in: the owner, the people the owner shares a Plex server with, and the
//! operator's explicit lists.
//!
//! Why: without it any plex.tv account that completes a PIN gets a session, proxies its own
//! servers through this box and spends the server's TMDB key. Self-hosted Plex companions
//! (Overseerr, Tautulli) admit only the owner and the owner's shared users; so does plexgate.
//! The first account to sign in becomes the owner (recorded once, atomically) unless
//! `auth.owner` pins it.
//!
//! Must never: store anything of a refused account (its token least of all), or log a token.

use crate::config::AuthConfig;
use crate::db::users::User;
use crate::db::{self, Db, DbError};
use crate::plex::plextv::{Account, PlexTv, PlexTvError};

/// The `meta` key holding the owner's plex.tv id once the first account signed in.
const OWNER_KEY: &str = "auth.owner_plex_id";

/// Why an account may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// It is the owner (`first`: it just became the owner by signing in first).
    Owner {
        /// It became the owner with this sign-in.
        first: bool,
    },
    /// It is on `auth.allowed_users`.
    Listed,
    /// One of the owner's servers is shared with it.
    SharedServer,
}

/// Why a sign-in failed to be decided, or was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The account may not sign in; the message says why and what would change it.
    #[error("{0}")]
    Refused(String),
    /// plex.tv could not say which servers the account can reach.
    #[error(transparent)]
    PlexTv(#[from] PlexTvError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl AdmissionError {
    /// Whether the account was refused (rather than the check failing).
    pub fn is_refused(&self) -> bool {
        matches!(self, AdmissionError::Refused(_))
    }
}

/// Decides whether `account` (holding `token`) may sign in.
pub async fn admit(
    db: &Db,
    plextv: &PlexTv,
    config: &AuthConfig,
    account: &Account,
    token: &str,
    client_id: &str,
) -> Result<Admitted, AdmissionError> {
    if config.denied_users.iter().any(|u| names(account, u)) {
        return Err(AdmissionError::Refused(
            "this plex.tv account is on this server's auth.denied_users list".to_string(),
        ));
    }
    let owner_id = match &config.owner {
        Some(owner) if names(account, owner) => return Ok(Admitted::Owner { first: false }),
        Some(owner) => Owner::Configured(owner.clone()),
        None => {
            let candidate = account.id;
            let stored = db
                .write(move |conn| {
                    db::meta::set_if_absent(conn, OWNER_KEY, candidate.to_string().as_bytes())
                })
                .await?;
            let id = std::str::from_utf8(&stored)
                .ok()
                .and_then(|s| s.parse::<i64>().ok());
            if id == Some(account.id) {
                // Either this sign-in just recorded it, or the owner signs in again.
                let first = db
                    .read(move |conn| db::users::get_user_by_plex_id(conn, candidate))
                    .await?
                    .is_none();
                return Ok(Admitted::Owner { first });
            }
            Owner::Recorded(id.unwrap_or_default())
        }
    };
    if config.allowed_users.iter().any(|u| names(account, u)) {
        return Ok(Admitted::Listed);
    }
    let owner_servers = owner_machine_ids(db, &owner_id).await?;
    if owner_servers.is_empty() {
        return Err(AdmissionError::Refused(
            "the owner of this server has not signed in yet, so nobody else can; ask them to \
             sign in first, or to add you to auth.allowed_users"
                .to_string(),
        ));
    }
    let reachable = plextv.servers(token, client_id).await?;
    if reachable
        .iter()
        .any(|r| owner_servers.contains(&r.client_identifier))
    {
        return Ok(Admitted::SharedServer);
    }
    Err(AdmissionError::Refused(
        "this plex.tv account has no access to the owner's Plex servers; ask the owner to share \
         a server with you, or to add you to auth.allowed_users"
            .to_string(),
    ))
}

/// Who the owner is: pinned by configuration, or recorded by the first sign-in.
enum Owner {
    Configured(String),
    Recorded(i64),
}

/// Machine identifiers of the servers the owner owns (as stored by their last server sync).
async fn owner_machine_ids(db: &Db, owner: &Owner) -> Result<Vec<String>, DbError> {
    let owner = match owner {
        Owner::Configured(name) => name.clone(),
        Owner::Recorded(id) => id.to_string(),
    };
    db.read(move |conn| {
        let user = match owner.parse::<i64>() {
            Ok(id) => db::users::get_user_by_plex_id(conn, id)?,
            Err(_) => db::users::get_user_by_username(conn, &owner)?,
        };
        let Some(user) = user else {
            return Ok(Vec::new());
        };
        Ok(db::servers::list_servers(conn, user.id)?
            .into_iter()
            .filter(|s| s.owned)
            .map(|s| s.machine_identifier)
            .collect())
    })
    .await
}

/// Whether `user` is the owner: the account `auth.owner` names, else the one the first sign-in
/// recorded. The owner is the only user the owner page and `/api/admin/…` serve.
pub async fn is_owner(db: &Db, config: &AuthConfig, user: &User) -> Result<bool, DbError> {
    if let Some(owner) = &config.owner {
        return Ok(match owner.parse::<i64>() {
            Ok(id) => id == user.plex_id,
            Err(_) => user.username.eq_ignore_ascii_case(owner),
        });
    }
    let stored = db.read(|conn| db::meta::get(conn, OWNER_KEY)).await?;
    Ok(stored
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse::<i64>().ok())
        == Some(user.plex_id))
}

/// Records `plex_id` as the owner unless one is recorded already (the demo's seeded user,
/// which signs in without plex.tv, owns the demo the way a first sign-in owns an install).
pub fn record_owner(conn: &rusqlite::Connection, plex_id: i64) -> Result<(), DbError> {
    db::meta::set_if_absent(conn, OWNER_KEY, plex_id.to_string().as_bytes()).map(|_| ())
}

/// Whether the operator's `entry` (a plex.tv id, or a username compared case-insensitively)
/// names `account`.
fn names(account: &Account, entry: &str) -> bool {
    match entry.parse::<i64>() {
        Ok(id) => id == account.id,
        Err(_) => account
            .username
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(entry)),
    }
}
