//! Storage: opening, migrations, the writer/reader split, and every repository, against real
//! SQLite files in temporary directories.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use plexgate::crypto::{MasterKey, SecretBox};
use plexgate::db::servers::{self, NewConnection, NewServer};
use plexgate::db::users::{self, NewUser};
use plexgate::db::{Db, DbError, SCHEMA_VERSION, meta, revocations, sessions};
use rusqlite::Connection;

const PLEX_TOKEN: &str = "canary-plex-account-token-7Qx9";
const SERVER_TOKEN: &str = "canary-plex-server-token-Zp41";

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    db: Db,
    secrets: SecretBox,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state/plexgate.db");
    let db = Db::open(&path).await.expect("open");
    Fixture {
        _dir: dir,
        path,
        db,
        secrets: SecretBox::new(&MasterKey::from_bytes([3; 32])),
    }
}

fn new_user(plex_id: i64, token: &str) -> NewUser<'_> {
    NewUser {
        plex_id,
        username: "alice",
        email: Some("alice@example.com"),
        thumb: None,
        title: Some("Alice"),
        has_password: true,
        subscription: None,
        plex_token: token,
    }
}

const CONNS: &[NewConnection<'static>] = &[
    NewConnection {
        uri: "https://10-0-0-5.abc.plex.direct:32400",
        protocol: "https",
        address: "10.0.0.5",
        port: 32400,
        local: true,
        relay: false,
        ipv6: false,
    },
    NewConnection {
        uri: "https://203-0-113-9.abc.plex.direct:32400",
        protocol: "https",
        address: "203.0.113.9",
        port: 32400,
        local: false,
        relay: false,
        ipv6: false,
    },
];

fn new_server<'a>(mid: &'a str, conns: &'a [NewConnection<'a>]) -> NewServer<'a> {
    NewServer {
        machine_identifier: mid,
        name: "Home",
        owned: true,
        https_required: false,
        access_token: SERVER_TOKEN,
        connections: conns,
    }
}

/// Inserts a user (and optionally a server) and returns their ids.
async fn seed(f: &Fixture, plex_id: i64) -> (i64, i64) {
    let secrets = f.secrets.clone();
    f.db.write(move |c| {
        let user = users::upsert_user(c, &new_user(plex_id, PLEX_TOKEN), &secrets, 1000)?;
        let server =
            servers::upsert_server(c, user.id, &new_server("mid-1", CONNS), &secrets, 1000)?;
        Ok((user.id, server.id))
    })
    .await
    .expect("seed")
}

async fn count(db: &Db, table: &'static str) -> i64 {
    db.read(move |c| Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?))
        .await
        .expect("count")
}

fn pragmas(c: &Connection) -> Result<(i64, String, i64, i64), DbError> {
    Ok((
        c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
        c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
        c.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?,
        c.query_row("PRAGMA synchronous", [], |r| r.get(0))?,
    ))
}

fn wal_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

#[tokio::test]
async fn fresh_database_is_migrated_with_pragmas_on_every_connection() {
    let f = fixture().await;
    assert_eq!(f.db.path(), f.path);
    let mode = fs::metadata(&f.path).expect("stat").permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "database file is readable by others: {mode:o}"
    );

    let version: i64 =
        f.db.read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await
            .expect("version");
    assert_eq!(version, SCHEMA_VERSION);

    let writer = f.db.write(|c| pragmas(c)).await.expect("writer pragmas");
    assert_eq!(writer, (1, "wal".to_owned(), 5000, 1));

    // More concurrent reads than readers, each holding its connection a while, so every pooled
    // reader is checked.
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let db = f.db.clone();
            tokio::spawn(async move {
                db.read(|c| {
                    std::thread::sleep(Duration::from_millis(50));
                    let p = pragmas(c)?;
                    let write = c.execute("INSERT INTO meta (key, value) VALUES ('r', x'00')", []);
                    Ok((p, write.is_err()))
                })
                .await
            })
        })
        .collect();
    for read in reads {
        let (p, write_refused) = read.await.expect("join").expect("reader pragmas");
        assert_eq!(p, (1, "wal".to_owned(), 5000, 1));
        assert!(write_refused, "reader connections must be read-only");
    }
    f.db.ping().await.expect("ping");
}

#[tokio::test]
async fn reopening_keeps_schema_version_and_data() {
    let f = fixture().await;
    let (user_id, _) = seed(&f, 42).await;
    let Fixture {
        _dir,
        path,
        db,
        secrets,
    } = f;
    drop(db);

    let db = Db::open(&path).await.expect("reopen");
    let (version, user) = db
        .read(move |c| {
            let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            Ok((v, users::get_user(c, user_id)?))
        })
        .await
        .expect("read");
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(user.expect("user survives").plex_id, 42);
    let token = db
        .read(move |c| users::user_plex_token(c, user_id, &secrets))
        .await
        .expect("token");
    assert_eq!(token, PLEX_TOKEN);
}

#[tokio::test]
async fn newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("future.db");
    {
        let c = Connection::open(&path).expect("create");
        c.execute_batch("CREATE TABLE from_the_future (x INTEGER); PRAGMA user_version = 999;")
            .expect("future schema");
    }
    let before = fs::read(&path).expect("read");

    let err = Db::open(&path).await.expect_err("must refuse");
    assert!(
        matches!(err, DbError::NewerSchema { found: 999, supported, .. } if supported == SCHEMA_VERSION),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("newer plexgate"), "{msg}");
    assert!(msg.contains("schema version 999"), "{msg}");
    assert!(
        msg.contains(&format!("this build knows {SCHEMA_VERSION}")),
        "{msg}"
    );
    assert!(
        msg.contains("upgrade plexgate or restore a backup"),
        "{msg}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");

    assert_eq!(fs::read(&path).expect("read"), before, "file was modified");
    assert!(!wal_path(&path).exists(), "a WAL was created");
}

#[tokio::test]
async fn reads_run_while_a_write_transaction_is_open() {
    let f = fixture().await;
    let (inside_tx, inside_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let secrets = f.secrets.clone();
    let db = f.db.clone();
    let writer = tokio::spawn(async move {
        db.write(move |c| {
            let tx = c.transaction()?;
            users::upsert_user(&tx, &new_user(7, PLEX_TOKEN), &secrets, 1)?;
            let _ = inside_tx.send(());
            // Hold the write transaction open until the readers are done.
            let _ = go_rx.recv_timeout(Duration::from_secs(10));
            tx.commit()?;
            Ok(())
        })
        .await
    });
    inside_rx.await.expect("writer started");

    let reads: Vec<_> = (0..6)
        .map(|_| {
            let db = f.db.clone();
            tokio::spawn(async move { count(&db, "users").await })
        })
        .collect();
    for read in reads {
        let n = tokio::time::timeout(Duration::from_secs(3), read)
            .await
            .expect("a read was blocked by the writer")
            .expect("join");
        assert_eq!(n, 0, "uncommitted write was visible");
    }
    go_tx.send(()).expect("release writer");
    writer.await.expect("join").expect("write");
    assert_eq!(count(&f.db, "users").await, 1);
}

#[tokio::test]
async fn writer_survives_errors_panics_and_abandoned_transactions() {
    let f = fixture().await;
    let err =
        f.db.write(|_| -> Result<(), DbError> { Err(DbError::NotFound("thing")) })
            .await
            .expect_err("error passes through");
    assert!(matches!(err, DbError::NotFound("thing")));

    let err =
        f.db.write(|c| -> Result<(), DbError> {
            c.execute_batch("BEGIN; INSERT INTO meta (key, value) VALUES ('half', x'01');")?;
            Err(DbError::NotFound("on purpose"))
        })
        .await
        .expect_err("error");
    assert!(matches!(err, DbError::NotFound(_)));

    let err =
        f.db.write(|c| -> Result<(), DbError> {
            c.execute_batch("BEGIN; INSERT INTO meta (key, value) VALUES ('panic', x'01');")?;
            panic!("closure panics on purpose");
        })
        .await
        .expect_err("panic is an error");
    assert!(matches!(err, DbError::Panicked), "{err:?}");

    let err =
        f.db.read(|_| -> Result<(), DbError> { panic!("reader panics on purpose") })
            .await
            .expect_err("reader panic is an error");
    assert!(matches!(err, DbError::Panicked), "{err:?}");

    // Still writing, and nothing from the failed closures was committed.
    f.db.write(|c| meta::set(c, "after", b"ok"))
        .await
        .expect("write after failures");
    let (half, panic, after) =
        f.db.read(|c| {
            Ok((
                meta::get(c, "half")?,
                meta::get(c, "panic")?,
                meta::get(c, "after")?,
            ))
        })
        .await
        .expect("read");
    assert_eq!((half, panic), (None, None));
    assert_eq!(after.as_deref(), Some(&b"ok"[..]));
    f.db.ping().await.expect("ping after failures");
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_writer_and_closes_the_file() {
    let f = fixture().await;
    let clone = f.db.clone();
    let Fixture { _dir, path, db, .. } = f;
    drop(db);
    clone
        .write(|c| meta::set(c, "k", b"v"))
        .await
        .expect("clone still writes");
    assert!(wal_path(&path).exists(), "WAL exists while open");
    drop(clone);
    // The last connection closing checkpoints and removes the WAL; it can only be gone if the
    // writer thread has ended and every reader is closed.
    assert!(
        !wal_path(&path).exists(),
        "database still open after the last handle was dropped"
    );
    let c = Connection::open(&path).expect("open raw");
    let v: Vec<u8> = c
        .query_row("SELECT value FROM meta WHERE key = 'k'", [], |r| r.get(0))
        .expect("value persisted");
    assert_eq!(v, b"v");
}

#[tokio::test]
async fn deleting_a_user_cascades() {
    let f = fixture().await;
    let (user_id, server_id) = seed(&f, 1).await;
    let (other_user, _) = seed(&f, 2).await;
    f.db.write(move |c| {
        sessions::create_session(c, user_id, &[1; 32], 1000, 3600, None, None)?;
        sessions::create_session(c, other_user, &[2; 32], 1000, 3600, None, None)?;
        servers::set_current_server(c, user_id, Some(server_id), 1000)?;
        c.execute(
            "INSERT INTO playback_sessions (id, user_id, server_id, kind, started_at, last_activity_at)
             VALUES ('00112233445566778899aabbccddeeff', ?1, ?2, 'playback', 1, 1)",
            [user_id, server_id],
        )?;
        Ok(())
    })
    .await
    .expect("rows");
    assert!(
        f.db.write(move |c| users::delete_user(c, user_id))
            .await
            .expect("delete")
    );
    for (table, left) in [
        ("users", 1),
        ("user_settings", 1),
        ("servers", 1),
        ("server_connections", CONNS.len() as i64),
        ("sessions", 1),
        ("playback_sessions", 0),
    ] {
        assert_eq!(count(&f.db, table).await, left, "{table}");
    }
    // A foreign key to a missing user is refused.
    let err =
        f.db.write(|c| sessions::create_session(c, 999, &[3; 32], 0, 1, None, None))
            .await
            .expect_err("orphan session");
    assert!(matches!(err, DbError::Sqlite(_)), "{err:?}");
}

#[tokio::test]
async fn users_upsert_get_and_token() {
    let f = fixture().await;
    let s = f.secrets.clone();
    let sub = serde_json::json!({"active": true, "status": "Active", "plan": "lifetime"});
    let first =
        f.db.write(move |c| {
            let mut u = new_user(42, PLEX_TOKEN);
            u.subscription = Some(&sub);
            users::upsert_user(c, &u, &s, 1000)
        })
        .await
        .expect("insert");
    assert_eq!(first.plex_id, 42);
    assert_eq!(first.username, "alice");
    assert!(first.has_password);
    assert_eq!(
        first.subscription.as_ref().expect("sub")["plan"],
        "lifetime"
    );
    assert_eq!((first.created_at, first.updated_at), (1000, 1000));
    let debug = format!("{first:?} {:?}", new_user(42, PLEX_TOKEN));
    assert!(!debug.contains(PLEX_TOKEN), "{debug}");

    let s = f.secrets.clone();
    let second =
        f.db.write(move |c| {
            let mut u = new_user(42, "new-token");
            u.username = "alice2";
            users::upsert_user(c, &u, &s, 2000)
        })
        .await
        .expect("update");
    assert_eq!(second.id, first.id, "same plex_id keeps the row");
    assert_eq!(second.username, "alice2");
    assert_eq!((second.created_at, second.updated_at), (1000, 2000));
    assert_eq!(second.subscription, None);

    let (id, s) = (first.id, f.secrets.clone());
    let (by_id, by_plex, token, missing) =
        f.db.read(move |c| {
            Ok((
                users::get_user(c, id)?,
                users::get_user_by_plex_id(c, 42)?,
                users::user_plex_token(c, id, &s)?,
                users::get_user(c, id + 100)?,
            ))
        })
        .await
        .expect("read");
    assert_eq!(by_id.as_ref(), Some(&second));
    assert_eq!(by_plex, by_id);
    assert_eq!(token, "new-token");
    assert_eq!(missing, None);
    assert_eq!(count(&f.db, "user_settings").await, 1);

    let s = f.secrets.clone();
    let err =
        f.db.read(move |c| users::user_plex_token(c, id + 100, &s))
            .await
            .expect_err("no such user");
    assert!(matches!(err, DbError::NotFound("user")));
}

#[tokio::test]
async fn tokens_are_sealed_and_bound_to_their_row() {
    let f = fixture().await;
    let (a, server_id) = seed(&f, 1).await;
    let (b, _) = seed(&f, 2).await;

    let raw: Vec<Vec<u8>> =
        f.db.read(|c| {
            let mut blobs = Vec::new();
            for sql in [
                "SELECT plex_token FROM users",
                "SELECT access_token FROM servers",
            ] {
                let mut stmt = c.prepare(sql)?;
                let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
                for row in rows {
                    blobs.push(row?);
                }
            }
            Ok(blobs)
        })
        .await
        .expect("raw columns");
    assert_eq!(raw.len(), 4);
    for blob in &raw {
        for token in [PLEX_TOKEN, SERVER_TOKEN] {
            assert!(!blob.windows(token.len()).any(|w| w == token.as_bytes()));
        }
        assert_eq!(blob[0], 1, "SecretBox format version");
    }

    // A sealed value copied into another row does not open there (associated data).
    f.db.write(move |c| {
        c.execute(
            "UPDATE users SET plex_token = (SELECT plex_token FROM users WHERE id = ?1) WHERE id = ?2",
            [a, b],
        )?;
        Ok(())
    })
    .await
    .expect("swap");
    let s = f.secrets.clone();
    let err =
        f.db.read(move |c| users::user_plex_token(c, b, &s))
            .await
            .expect_err("swapped token must not open");
    assert!(matches!(err, DbError::Secret { .. }), "{err:?}");
    assert!(!err.to_string().contains(PLEX_TOKEN));

    // The wrong key is an error, not garbage.
    let wrong = SecretBox::new(&MasterKey::from_bytes([4; 32]));
    let err =
        f.db.read(move |c| servers::server_access_token(c, a, server_id, &wrong))
            .await
            .expect_err("wrong key");
    assert!(matches!(err, DbError::Secret { .. }), "{err:?}");

    // Plaintext never reaches the file (STRICT BLOB columns refuse TEXT, too).
    let err =
        f.db.write(move |c| {
            c.execute("UPDATE users SET plex_token = 'plain' WHERE id = ?1", [a])?;
            Ok(())
        })
        .await
        .expect_err("TEXT into a sealed column");
    assert!(matches!(err, DbError::Sqlite(_)));
    let Fixture { _dir, path, db, .. } = f;
    drop(db);
    let mut bytes = fs::read(&path).expect("db file");
    if let Ok(wal) = fs::read(wal_path(&path)) {
        bytes.extend(wal);
    }
    for token in [PLEX_TOKEN, SERVER_TOKEN] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "{token} found in the database file"
        );
    }
}

#[tokio::test]
async fn servers_upsert_replace_connections_and_scope_by_user() {
    let f = fixture().await;
    let (user, server_id) = seed(&f, 1).await;
    let (other, _) = seed(&f, 2).await;
    let s = f.secrets.clone();
    let (listed, token, foreign, foreign_token) =
        f.db.read(move |c| {
            Ok((
                servers::list_servers(c, user)?,
                servers::server_access_token(c, user, server_id, &s)?,
                servers::get_server(c, other, server_id)?,
                servers::server_access_token(c, other, server_id, &s).err(),
            ))
        })
        .await
        .expect("read");
    assert_eq!(listed.len(), 1);
    let server = &listed[0];
    assert_eq!(server.id, server_id);
    assert_eq!(server.machine_identifier, "mid-1");
    assert_eq!(server.connections.len(), 2);
    assert_eq!(server.connections[0].uri, CONNS[0].uri);
    assert!(server.connections[0].local);
    assert_eq!(server.connections[1].port, 32400);
    assert_eq!(token, SERVER_TOKEN);
    assert_eq!(foreign, None, "another user's server is invisible");
    assert!(matches!(foreign_token, Some(DbError::NotFound("server"))));
    assert!(!format!("{listed:?}").contains(SERVER_TOKEN));

    // Record probe results, then refresh with a list that drops the current URI.
    let s = f.secrets.clone();
    let refreshed =
        f.db.write(move |c| {
            servers::set_current_uri(c, user, server_id, Some(CONNS[1].uri), 1500)?;
            servers::set_preferred_uri(c, user, server_id, Some("http://custom:32400"), 1500)?;
            let err =
                servers::set_current_uri(c, other, server_id, None, 1500).expect_err("foreign");
            assert!(matches!(err, DbError::NotFound("server")));
            let fresh = [
                NewConnection {
                    uri: "http://relay:8080",
                    relay: true,
                    ..CONNS[0]
                },
                CONNS[0],
            ];
            let mut new = new_server("mid-1", &fresh);
            new.name = "Renamed";
            new.access_token = "rotated-token";
            servers::upsert_server(c, user, &new, &s, 2000)
        })
        .await
        .expect("refresh");
    assert_eq!(refreshed.id, server_id);
    assert_eq!(refreshed.name, "Renamed");
    assert_eq!(
        refreshed
            .connections
            .iter()
            .map(|c| c.uri.as_str())
            .collect::<Vec<_>>(),
        ["http://relay:8080", CONNS[0].uri]
    );
    assert_eq!(
        refreshed.current_uri, None,
        "current URI no longer a candidate"
    );
    assert_eq!(
        refreshed.preferred_uri.as_deref(),
        Some("http://custom:32400")
    );
    assert_eq!(refreshed.last_probe_at, Some(1500));
    assert_eq!((refreshed.created_at, refreshed.updated_at), (1000, 2000));
    assert_eq!(
        count(&f.db, "server_connections").await,
        2 + CONNS.len() as i64
    );

    let s = f.secrets.clone();
    let (token, by_mid) =
        f.db.read(move |c| {
            Ok((
                servers::server_access_token(c, user, server_id, &s)?,
                servers::get_server_by_machine_identifier(c, user, "mid-1")?,
            ))
        })
        .await
        .expect("read");
    assert_eq!(token, "rotated-token");
    assert_eq!(by_mid.map(|s| s.id), Some(server_id));

    // Current server selection is scoped by user and cleared when the server goes away.
    let s = f.secrets.clone();
    let (current, second_id, deleted, after) =
        f.db.write(move |c| {
            let err =
                servers::set_current_server(c, other, Some(server_id), 1).expect_err("foreign");
            assert!(matches!(err, DbError::NotFound("server")));
            servers::set_current_server(c, user, Some(server_id), 1)?;
            let current = servers::current_server_id(c, user)?;
            let second = servers::upsert_server(c, user, &new_server("mid-2", &[]), &s, 1)?;
            let deleted = servers::delete_servers_except(c, user, &["mid-2"])?;
            Ok((
                current,
                second.id,
                deleted,
                servers::current_server_id(c, user)?,
            ))
        })
        .await
        .expect("current server");
    assert_eq!(current, Some(server_id));
    assert_ne!(second_id, server_id);
    assert_eq!(deleted, 1);
    assert_eq!(after, None);
}

#[tokio::test]
async fn sessions_expire_by_idle_and_absolute_time() {
    const IDLE: i64 = 24 * 3600;
    const ABSOLUTE: i64 = 7 * 24 * 3600;
    let f = fixture().await;
    let (user, _) = seed(&f, 1).await;
    let t0 = 1_000_000;
    let h = [0xa5u8; 32];
    let created =
        f.db.write(move |c| {
            sessions::create_session(c, user, &h, t0, ABSOLUTE, Some("UA/1"), Some("192.0.2.1"))
        })
        .await
        .expect("create");
    assert_eq!(
        (created.created_at, created.last_seen_at, created.expires_at),
        (t0, t0, t0 + ABSOLUTE)
    );
    assert_eq!(created.id_hash, h);
    assert_eq!(created.user_agent.as_deref(), Some("UA/1"));

    let find = |now: i64| {
        let db = f.db.clone();
        async move {
            db.read(move |c| sessions::find_session(c, &h, now, IDLE))
                .await
                .expect("find")
        }
    };
    let touch = |now: i64| {
        let db = f.db.clone();
        async move {
            db.write(move |c| sessions::touch_session(c, &h, now, IDLE))
                .await
                .expect("touch")
        }
    };
    assert_eq!(find(t0).await.as_ref(), Some(&created));
    assert!(find(t0 + IDLE - 1).await.is_some());
    assert!(find(t0 + IDLE).await.is_none(), "idle expiry");
    assert!(
        find(t0 + 1).await.is_some(),
        "expiry is a function of now, not a deletion"
    );

    // Touching keeps it alive past the first idle window ...
    let mut now = t0;
    while now + IDLE / 2 < t0 + ABSOLUTE {
        now += IDLE / 2;
        assert!(touch(now).await, "touch at {now}");
    }
    assert_eq!(find(now).await.expect("alive").last_seen_at, now);
    // ... but never past the absolute expiry.
    assert!(find(t0 + ABSOLUTE).await.is_none(), "absolute expiry");
    assert!(!touch(t0 + ABSOLUTE).await);

    // A late touch cannot revive an idle session.
    let h2 = [0x5au8; 32];
    f.db.write(move |c| sessions::create_session(c, user, &h2, t0, ABSOLUTE, None, None))
        .await
        .expect("create 2");
    let late = t0 + IDLE + 10;
    assert!(
        !f.db
            .write(move |c| sessions::touch_session(c, &h2, late, IDLE))
            .await
            .expect("touch")
    );
    assert!(
        f.db.read(move |c| sessions::find_session(c, &h2, late, IDLE))
            .await
            .expect("find")
            .is_none()
    );

    // Cleanup: h2 is idle-expired at `late`, h is not.
    let h3 = [0x33u8; 32];
    let removed =
        f.db.write(move |c| {
            sessions::create_session(c, user, &h3, late, ABSOLUTE, None, None)?;
            sessions::delete_expired(c, late, IDLE)
        })
        .await
        .expect("delete_expired");
    assert_eq!(removed, 1);
    assert_eq!(count(&f.db, "sessions").await, 2);
    assert!(
        f.db.write(move |c| sessions::delete_session(c, &h3))
            .await
            .expect("logout")
    );
    assert!(
        !f.db
            .write(move |c| sessions::delete_session(c, &h3))
            .await
            .expect("again")
    );
    let removed =
        f.db.write(move |c| sessions::delete_expired(c, t0 + ABSOLUTE, IDLE))
            .await
            .expect("delete_expired");
    assert_eq!(removed, 1);
    assert_eq!(count(&f.db, "sessions").await, 0);
}

#[tokio::test]
async fn revocations_list_and_prune() {
    let f = fixture().await;
    let (first, again, extended) =
        f.db.write(|c| {
            let first = revocations::revoke(c, "aaaa", 2000, "logout", 100)?;
            revocations::revoke(c, "bbbb", 1000, "stop", 110)?;
            revocations::revoke(c, "cccc", 500, "stop", 120)?;
            let again = revocations::revoke(c, "bbbb", 900, "again", 130)?;
            let extended = revocations::revoke(c, "cccc", 1500, "again", 140)?;
            Ok((first, again, extended))
        })
        .await
        .expect("revoke");
    assert!(first);
    assert!(!again && !extended, "re-revoking is not new");

    let (active, revoked_b, revoked_zzz, reason_b) = f
        .db
        .read(|c| {
            Ok((
                revocations::active_revocations(c, 600)?,
                revocations::is_revoked(c, "bbbb", 600)?,
                revocations::is_revoked(c, "zzzz", 600)?,
                c.query_row("SELECT reason || revoked_at || '/' || expires_at FROM revoked_sessions WHERE session_id = 'bbbb'", [], |r| r.get::<_, String>(0))?,
            ))
        })
        .await
        .expect("list");
    // cccc's expiry was extended from 500 to 1500, so it is still active at 600.
    assert_eq!(active, ["aaaa", "bbbb", "cccc"]);
    assert!(revoked_b && !revoked_zzz);
    assert_eq!(
        reason_b, "stop110/1000",
        "first revocation kept, expiry never shortened"
    );

    let pruned =
        f.db.write(|c| revocations::prune(c, 1500))
            .await
            .expect("prune");
    assert_eq!(pruned, 2);
    let active =
        f.db.read(|c| revocations::active_revocations(c, 1500))
            .await
            .expect("list");
    assert_eq!(active, ["aaaa"]);
    assert!(
        !f.db
            .read(|c| revocations::is_revoked(c, "aaaa", 2000))
            .await
            .expect("expired")
    );
}

#[tokio::test]
async fn meta_get_and_set() {
    let f = fixture().await;
    assert_eq!(f.db.read(|c| meta::get(c, "k")).await.expect("get"), None);
    f.db.write(|c| meta::set(c, "k", b"one"))
        .await
        .expect("set");
    f.db.write(|c| meta::set(c, "k", b"two"))
        .await
        .expect("replace");
    assert_eq!(
        f.db.read(|c| meta::get(c, "k"))
            .await
            .expect("get")
            .as_deref(),
        Some(&b"two"[..])
    );
}
