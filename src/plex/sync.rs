//! Server sync: plex.tv's resources for an account, stored per user with their connection
//! candidates and sealed tokens, then a reachable address chosen for the current server so the
//! first Plex call after login works.

use crate::crypto::SecretBox;
use crate::db::servers::{NewConnection, NewServer, Server};
use crate::db::{self, Db, DbError};

use super::ServerDirectory;
use super::plextv::{PlexTv, PlexTvError};

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// plex.tv failed.
    #[error(transparent)]
    PlexTv(#[from] PlexTvError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Syncs `user_id`'s servers with their stored (sealed) account token.
pub async fn sync_user(
    db: &Db,
    secrets: &SecretBox,
    plextv: &PlexTv,
    directory: &ServerDirectory,
    user_id: i64,
    client_id: &str,
) -> Result<Vec<Server>, SyncError> {
    let sealed = secrets.clone();
    let token = db
        .read(move |conn| db::users::user_plex_token(conn, user_id, &sealed))
        .await?;
    sync_servers(db, secrets, plextv, directory, user_id, &token, client_id).await
}

/// Fetches the account's servers from plex.tv and replaces the user's stored list. Returns the
/// stored servers.
pub async fn sync_servers(
    db: &Db,
    secrets: &SecretBox,
    plextv: &PlexTv,
    directory: &ServerDirectory,
    user_id: i64,
    account_token: &str,
    client_id: &str,
) -> Result<Vec<Server>, SyncError> {
    let resources = plextv.servers(account_token, client_id).await?;
    let secrets = secrets.clone();
    let stored = db
        .write(move |conn| {
            let now = crate::util::unix_now();
            let mut kept = Vec::new();
            for r in &resources {
                let Some(token) = r.access_token.as_deref() else {
                    continue;
                };
                let connections: Vec<NewConnection<'_>> = r
                    .connections
                    .iter()
                    .map(|c| NewConnection {
                        uri: &c.uri,
                        protocol: &c.protocol,
                        address: &c.address,
                        port: c.port,
                        local: c.local,
                        relay: c.relay,
                        ipv6: c.ipv6,
                    })
                    .collect();
                let server = db::servers::upsert_server(
                    conn,
                    user_id,
                    &NewServer {
                        machine_identifier: &r.client_identifier,
                        name: &r.name,
                        owned: r.owned,
                        https_required: r.https_required,
                        access_token: token,
                        connections: &connections,
                    },
                    &secrets,
                    now,
                )?;
                kept.push(server.machine_identifier.clone());
            }
            let keep: Vec<&str> = kept.iter().map(String::as_str).collect();
            db::servers::delete_servers_except(conn, user_id, &keep)?;
            let servers = db::servers::list_servers(conn, user_id)?;
            let current = db::servers::current_server_id(conn, user_id)?;
            if current.is_none_or(|id| !servers.iter().any(|s| s.id == id))
                && let Some(first) = servers.iter().find(|s| s.owned).or(servers.first())
            {
                db::servers::set_current_server(conn, user_id, Some(first.id), now)?;
            }
            Ok(servers)
        })
        .await?;
    for s in &stored {
        directory.invalidate(user_id, s.id);
    }
    // Choose an address for the current server now, so the first request after login is fast
    // and works even when plex.tv's first candidate is dead.
    let current = db
        .read(move |conn| db::servers::current_server_id(conn, user_id))
        .await?;
    if let Some(id) = current
        && let Err(e) = directory.reprobe(user_id, id).await
    {
        tracing::warn!(user_id, server_id = id, error = %e, "no address of the current server answers yet");
    }
    Ok(stored)
}
