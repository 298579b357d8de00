//! The owner's servers with the address plexgate uses for each and whether it answers there.
//!
//! Each listing probes `/identity` (no token needed) at the address in use, so "reachable"
//! means reachable now, not at the last sync. A failed probe is logged at WARN with target
//! `plexgate::upstream`, which also puts it in the page's recent errors.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::{self, Db, DbError};
use crate::plex::{PlexError, connect, probe_identity};

/// How long one probe may take: the page waits for the slowest server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// One server as the owner page shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    /// Display name.
    pub name: String,
    /// The PMS `clientIdentifier`.
    pub machine_identifier: String,
    /// Whether the owner owns it (or it is shared with them).
    pub owned: bool,
    /// The address in use (the last one that answered), else the best-ranked candidate.
    pub address: Option<String>,
    /// Whether it answered `/identity` as this server just now.
    pub reachable: bool,
    /// How long that took, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Why it is not reachable, without its address.
    pub problem: Option<String>,
}

/// Probes every server of `user_id`, concurrently.
pub async fn status(
    db: &Db,
    client: &reqwest::Client,
    user_id: i64,
) -> Result<Vec<ServerStatus>, DbError> {
    let servers = db
        .read(move |conn| db::servers::list_servers(conn, user_id))
        .await?;
    let mut probes = tokio::task::JoinSet::new();
    for (i, s) in servers.into_iter().enumerate() {
        let client = client.clone();
        probes.spawn(async move { (i, probe(&client, s).await) });
    }
    let mut out = Vec::new();
    while let Some(joined) = probes.join_next().await {
        if let Ok(r) = joined {
            out.push(r);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

async fn probe(client: &reqwest::Client, s: db::servers::Server) -> ServerStatus {
    let address = s.current_uri.clone().or_else(|| {
        connect::ranked(
            &s.connections,
            s.preferred_uri.as_deref(),
            s.owned,
            s.https_required,
        )
        .into_iter()
        .next()
    });
    let mut status = ServerStatus {
        name: s.name,
        machine_identifier: s.machine_identifier,
        owned: s.owned,
        address,
        reachable: false,
        latency_ms: None,
        problem: None,
    };
    let Some(address) = status.address.clone() else {
        status.problem = Some("no known address: sync servers again".to_string());
        return status;
    };
    let t0 = Instant::now();
    match probe_identity(client, &address, PROBE_TIMEOUT).await {
        Ok(id) if id.machine_identifier == status.machine_identifier => {
            status.reachable = true;
            status.latency_ms = Some(t0.elapsed().as_millis() as u64);
        }
        Ok(_) => {
            status.problem = Some("another Plex server answers at this address".to_string());
            log_failure(&status.name, "other", None, "answered as another server");
        }
        Err(e) => {
            let (cause, code) = cause(&e);
            log_failure(&status.name, cause, code, &e.to_string());
            status.problem = Some(e.public_message());
        }
    }
    status
}

fn cause(e: &PlexError) -> (&'static str, Option<u16>) {
    match e {
        PlexError::Timeout { .. } => ("timeout", None),
        PlexError::Unreachable { .. } => ("refused", None),
        PlexError::Unauthorized { .. } => ("status", Some(401)),
        PlexError::Status { status, .. } => ("status", Some(*status)),
        PlexError::BadBody { .. } => ("decode", None),
    }
}

fn log_failure(server: &str, cause: &str, status: Option<u16>, error: &str) {
    tracing::warn!(
        target: "plexgate::upstream",
        upstream = "plex",
        cause,
        status,
        route = "/api/admin/servers",
        server,
        error,
        "a Plex server did not answer its identity probe"
    );
}
