//! A user's Plex Media Servers, their connection candidates, and which one is current.
//!
//! The server access token is sealed on the way in and only [`server_access_token`] opens it;
//! [`Server`] has no token field. Every query is scoped by `user_id`, so one user can never read
//! or change another user's server by guessing its id.

use std::fmt;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::secrets::{open_str, seal_str, server_token_aad};
use super::{DbError, atomically};
use crate::crypto::SecretBox;

/// One way to reach a server, as plex.tv lists it.
#[derive(Debug, Clone, Copy)]
pub struct NewConnection<'a> {
    /// Full base URI, e.g. `https://10-0-0-5.abc.plex.direct:32400`.
    pub uri: &'a str,
    /// `http` or `https`.
    pub protocol: &'a str,
    /// Host or IP address.
    pub address: &'a str,
    /// TCP port.
    pub port: u16,
    /// On the server's LAN.
    pub local: bool,
    /// Through Plex's relay.
    pub relay: bool,
    /// An IPv6 address.
    pub ipv6: bool,
}

/// A server as plex.tv resources describe it, including the access token to store.
pub struct NewServer<'a> {
    /// The PMS `clientIdentifier`.
    pub machine_identifier: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Whether the user owns it.
    pub owned: bool,
    /// plex.tv says only https may be used.
    pub https_required: bool,
    /// Access token for this server; sealed before it is written.
    pub access_token: &'a str,
    /// Connection candidates in plex.tv's order; replaces the stored list.
    pub connections: &'a [NewConnection<'a>],
}

impl fmt::Debug for NewServer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewServer")
            .field("machine_identifier", &self.machine_identifier)
            .field("name", &self.name)
            .field("owned", &self.owned)
            .field("access_token", &"…redacted…")
            .field("connections", &self.connections)
            .finish()
    }
}

/// A stored connection candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConnection {
    /// Full base URI.
    pub uri: String,
    /// `http` or `https`.
    pub protocol: String,
    /// Host or IP address.
    pub address: String,
    /// TCP port.
    pub port: u16,
    /// On the server's LAN.
    pub local: bool,
    /// Through Plex's relay.
    pub relay: bool,
    /// An IPv6 address.
    pub ipv6: bool,
}

/// A stored server. Holds no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Local id (used in tickets and playback sessions).
    pub id: i64,
    /// Owning user.
    pub user_id: i64,
    /// The PMS `clientIdentifier`.
    pub machine_identifier: String,
    /// Display name.
    pub name: String,
    /// Whether the user owns it.
    pub owned: bool,
    /// plex.tv says only https may be used.
    pub https_required: bool,
    /// A URI the user chose to try first.
    pub preferred_uri: Option<String>,
    /// The URI that answered the last probe.
    pub current_uri: Option<String>,
    /// When the connections were last probed, epoch seconds.
    pub last_probe_at: Option<i64>,
    /// First seen, epoch seconds.
    pub created_at: i64,
    /// Last refreshed, epoch seconds.
    pub updated_at: i64,
    /// Connection candidates in plex.tv's order.
    pub connections: Vec<ServerConnection>,
}

const SERVER_COLUMNS: &str = "id, user_id, machine_identifier, name, owned, preferred_uri, \
                              current_uri, last_probe_at, created_at, updated_at, https_required";

fn server_from_row(row: &Row<'_>) -> rusqlite::Result<Server> {
    Ok(Server {
        id: row.get(0)?,
        user_id: row.get(1)?,
        machine_identifier: row.get(2)?,
        name: row.get(3)?,
        owned: row.get(4)?,
        preferred_uri: row.get(5)?,
        current_uri: row.get(6)?,
        last_probe_at: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
        https_required: row.get(10)?,
        connections: Vec::new(),
    })
}

fn load_connections(conn: &Connection, server: &mut Server) -> Result<(), DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT uri, protocol, address, port, local, relay, ipv6 FROM server_connections
         WHERE server_id = ?1 ORDER BY position",
    )?;
    server.connections = stmt
        .query_map([server.id], |row| {
            Ok(ServerConnection {
                uri: row.get(0)?,
                protocol: row.get(1)?,
                address: row.get(2)?,
                port: row.get(3)?,
                local: row.get(4)?,
                relay: row.get(5)?,
                ipv6: row.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(())
}

fn query_server(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Option<Server>, DbError> {
    let server = conn
        .prepare_cached(&format!(
            "SELECT {SERVER_COLUMNS} FROM servers WHERE {filter}"
        ))?
        .query_row(params, server_from_row)
        .optional()?;
    server
        .map(|mut s| load_connections(conn, &mut s).map(|()| s))
        .transpose()
}

/// Inserts or refreshes the user's server with this machine identifier: name, ownership and
/// token are updated, the connection list is replaced, the user's URI choice is kept, and the
/// current URI is kept only if it is still among the candidates.
pub fn upsert_server(
    conn: &Connection,
    user_id: i64,
    new: &NewServer<'_>,
    secrets: &SecretBox,
    now: i64,
) -> Result<Server, DbError> {
    let sealed = seal_str(
        secrets,
        new.access_token,
        &server_token_aad(user_id, new.machine_identifier),
    );
    atomically(conn, |conn| {
        let id: i64 = conn
            .prepare_cached(
                "INSERT INTO servers (user_id, machine_identifier, name, owned, access_token,
                                      created_at, updated_at, https_required)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
                 ON CONFLICT (user_id, machine_identifier) DO UPDATE SET
                     name = excluded.name, owned = excluded.owned,
                     access_token = excluded.access_token, updated_at = excluded.updated_at,
                     https_required = excluded.https_required
                 RETURNING id",
            )?
            .query_row(
                params![
                    user_id,
                    new.machine_identifier,
                    new.name,
                    new.owned,
                    sealed,
                    now,
                    new.https_required
                ],
                |row| row.get(0),
            )?;
        conn.prepare_cached("DELETE FROM server_connections WHERE server_id = ?1")?
            .execute([id])?;
        let mut insert = conn.prepare_cached(
            "INSERT INTO server_connections
                 (server_id, uri, protocol, address, port, local, relay, ipv6, position)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (server_id, uri) DO NOTHING",
        )?;
        for (position, c) in new.connections.iter().enumerate() {
            insert.execute(params![
                id,
                c.uri,
                c.protocol,
                c.address,
                c.port,
                c.local,
                c.relay,
                c.ipv6,
                position as i64
            ])?;
        }
        conn.prepare_cached(
            "UPDATE servers SET current_uri = NULL
             WHERE id = ?1 AND current_uri IS NOT NULL
               AND current_uri IS NOT preferred_uri
               AND current_uri NOT IN (SELECT uri FROM server_connections WHERE server_id = ?1)",
        )?
        .execute([id])?;
        query_server(conn, "id = ?1", [id])?.ok_or(DbError::NotFound("server"))
    })
}

/// The user's servers, in the order they were first stored.
pub fn list_servers(conn: &Connection, user_id: i64) -> Result<Vec<Server>, DbError> {
    let mut servers = conn
        .prepare_cached(&format!(
            "SELECT {SERVER_COLUMNS} FROM servers WHERE user_id = ?1 ORDER BY id"
        ))?
        .query_map([user_id], server_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    for server in &mut servers {
        load_connections(conn, server)?;
    }
    Ok(servers)
}

/// The user's server with local id `server_id` (`None` if it is someone else's).
pub fn get_server(
    conn: &Connection,
    user_id: i64,
    server_id: i64,
) -> Result<Option<Server>, DbError> {
    query_server(
        conn,
        "id = ?1 AND user_id = ?2",
        params![server_id, user_id],
    )
}

/// The user's server with this PMS `clientIdentifier` (what the HTTP API calls a server id).
pub fn get_server_by_machine_identifier(
    conn: &Connection,
    user_id: i64,
    machine_identifier: &str,
) -> Result<Option<Server>, DbError> {
    query_server(
        conn,
        "machine_identifier = ?1 AND user_id = ?2",
        params![machine_identifier, user_id],
    )
}

/// Decrypts the access token of the user's server. The only way to get it back.
pub fn server_access_token(
    conn: &Connection,
    user_id: i64,
    server_id: i64,
    secrets: &SecretBox,
) -> Result<String, DbError> {
    let (machine_identifier, sealed): (String, Vec<u8>) = conn
        .prepare_cached(
            "SELECT machine_identifier, access_token FROM servers WHERE id = ?1 AND user_id = ?2",
        )?
        .query_row(params![server_id, user_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?
        .ok_or(DbError::NotFound("server"))?;
    open_str(
        secrets,
        &sealed,
        &server_token_aad(user_id, &machine_identifier),
        "Plex server token",
    )
}

fn update_one(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<(), DbError> {
    match conn.prepare_cached(sql)?.execute(params)? {
        0 => Err(DbError::NotFound("server")),
        _ => Ok(()),
    }
}

/// Records the URI that answered the latest probe (`None`: none did) and when it ran.
pub fn set_current_uri(
    conn: &Connection,
    user_id: i64,
    server_id: i64,
    uri: Option<&str>,
    probed_at: i64,
) -> Result<(), DbError> {
    update_one(
        conn,
        "UPDATE servers SET current_uri = ?3, last_probe_at = ?4 WHERE id = ?1 AND user_id = ?2",
        params![server_id, user_id, uri, probed_at],
    )
}

/// Records the URI the user wants tried first (`None` clears the choice).
pub fn set_preferred_uri(
    conn: &Connection,
    user_id: i64,
    server_id: i64,
    uri: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    update_one(
        conn,
        "UPDATE servers SET preferred_uri = ?3, updated_at = ?4 WHERE id = ?1 AND user_id = ?2",
        params![server_id, user_id, uri, now],
    )
}

/// Deletes the user's servers whose machine identifier is not in `keep` (servers plex.tv no
/// longer lists). Returns how many were deleted.
pub fn delete_servers_except(
    conn: &Connection,
    user_id: i64,
    keep: &[&str],
) -> Result<usize, DbError> {
    atomically(conn, |conn| {
        let stored: Vec<(i64, String)> = conn
            .prepare_cached("SELECT id, machine_identifier FROM servers WHERE user_id = ?1")?
            .query_map([user_id], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut delete = conn.prepare_cached("DELETE FROM servers WHERE id = ?1")?;
        let mut deleted = 0;
        for (id, machine_identifier) in stored {
            if !keep.contains(&machine_identifier.as_str()) {
                deleted += delete.execute([id])?;
            }
        }
        Ok(deleted)
    })
}

/// Makes `server_id` the user's current server (`None` clears it). Fails with `NotFound` if
/// the server is not the user's.
pub fn set_current_server(
    conn: &Connection,
    user_id: i64,
    server_id: Option<i64>,
    now: i64,
) -> Result<(), DbError> {
    match conn
        .prepare_cached(
            "UPDATE user_settings SET current_server_id = ?2, updated_at = ?3
             WHERE user_id = ?1
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM servers WHERE id = ?2 AND user_id = ?1))",
        )?
        .execute(params![user_id, server_id, now])?
    {
        0 => Err(DbError::NotFound(if server_id.is_some() {
            "server"
        } else {
            "user"
        })),
        _ => Ok(()),
    }
}

/// The user's current server id, if one is chosen.
pub fn current_server_id(conn: &Connection, user_id: i64) -> Result<Option<i64>, DbError> {
    Ok(conn
        .prepare_cached("SELECT current_server_id FROM user_settings WHERE user_id = ?1")?
        .query_row([user_id], |row| row.get(0))
        .optional()?
        .flatten())
}

/// One address to check a server by, across all users (readiness probes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Display name.
    pub name: String,
    /// The PMS `clientIdentifier` the address must answer with.
    pub machine_identifier: String,
    /// The address: the current one, else the preferred one, else the first candidate.
    pub uri: String,
}

/// Every distinct (server, address) plexgate would use now, for `/ready`. Not scoped by user:
/// it names servers and addresses only, never tokens.
pub fn list_endpoints(conn: &Connection) -> Result<Vec<Endpoint>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT s.name, s.machine_identifier,
                COALESCE(s.current_uri, s.preferred_uri,
                         (SELECT c.uri FROM server_connections c
                           WHERE c.server_id = s.id ORDER BY c.position LIMIT 1))
           FROM servers s
          ORDER BY s.name, s.machine_identifier",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })?;
    let mut out: Vec<Endpoint> = Vec::new();
    for row in rows {
        let (name, machine_identifier, uri) = row?;
        if let Some(uri) = uri {
            let ep = Endpoint {
                name,
                machine_identifier,
                uri,
            };
            if !out.contains(&ep) {
                out.push(ep);
            }
        }
    }
    Ok(out)
}
