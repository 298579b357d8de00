//! Choosing how to reach a server from its connection candidates.
//!
//! The Express backend effectively used only the first candidate, so one dead address broke
//! every call. Here candidates are ranked (a working user-preferred URI first, then local before
//! remote before relay, https before http; local skipped for servers the user does not own and
//! http skipped when the server requires https), probed concurrently with a short timeout on
//! `/identity`, and the best-ranked one that answers *as this server* (machine identifier) wins.
//! The token is never sent while probing: `/identity` needs none.

use std::time::Duration;

use crate::db::servers::ServerConnection;

use super::probe_identity;

/// Probe timeout per candidate.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Candidate URIs in the order they should win.
pub fn ranked(
    connections: &[ServerConnection],
    preferred: Option<&str>,
    owned: bool,
    https_required: bool,
) -> Vec<String> {
    let mut list: Vec<(u8, usize, &ServerConnection)> = connections
        .iter()
        .enumerate()
        .filter(|(_, c)| owned || !c.local)
        .filter(|(_, c)| !https_required || c.protocol == "https")
        .map(|(i, c)| {
            let place = if c.local {
                0
            } else if !c.relay {
                2
            } else {
                4
            };
            let rank = place + u8::from(c.protocol != "https");
            (rank, i, c)
        })
        .collect();
    list.sort_by_key(|(rank, i, _)| (*rank, *i));
    let mut out: Vec<String> = Vec::new();
    if let Some(p) = preferred {
        out.push(p.to_string());
    }
    for (_, _, c) in list {
        if !out.contains(&c.uri) {
            out.push(c.uri.clone());
        }
    }
    out
}

/// Probes `candidates` concurrently; returns the best-ranked one whose `/identity` names
/// `machine_identifier`.
pub async fn first_reachable(
    client: &reqwest::Client,
    candidates: &[String],
    machine_identifier: &str,
) -> Option<String> {
    let mut probes = tokio::task::JoinSet::new();
    for (rank, uri) in candidates.iter().enumerate() {
        let client = client.clone();
        let uri = uri.clone();
        let want = machine_identifier.to_string();
        probes.spawn(async move {
            let ok = probe_identity(&client, &uri, PROBE_TIMEOUT)
                .await
                .is_ok_and(|id| id.machine_identifier == want);
            (rank, uri, ok)
        });
    }
    let mut best: Option<(usize, String)> = None;
    while let Some(Ok((rank, uri, ok))) = probes.join_next().await {
        if ok && best.as_ref().is_none_or(|(r, _)| rank < *r) {
            best = Some((rank, uri));
            if rank == 0 {
                // Nothing can beat the first choice; stop waiting for slower probes.
                probes.abort_all();
                break;
            }
        }
    }
    best.map(|(_, uri)| uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(uri: &str, protocol: &str, local: bool, relay: bool) -> ServerConnection {
        ServerConnection {
            uri: uri.into(),
            protocol: protocol.into(),
            address: String::new(),
            port: 32400,
            local,
            relay,
            ipv6: false,
        }
    }

    #[test]
    fn local_remote_relay_https_first() {
        let list = [
            c("http://relay", "http", false, true),
            c("http://remote", "http", false, false),
            c("https://local", "https", true, false),
            c("http://local", "http", true, false),
            c("https://remote", "https", false, false),
        ];
        assert_eq!(
            ranked(&list, None, true, false),
            [
                "https://local",
                "http://local",
                "https://remote",
                "http://remote",
                "http://relay"
            ]
        );
        assert_eq!(
            ranked(&list, Some("http://mine"), false, true),
            ["http://mine", "https://remote"]
        );
    }
}
