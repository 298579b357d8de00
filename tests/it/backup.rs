//! `plexgate backup <dir>`: a copy of a live database taken while the server keeps writing,
//! with its key file, restores into a fresh directory where the server reads it all back.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use plexgate::db::users::{NewUser, upsert_user, user_plex_token};

use crate::support::{TestApp, test_config};

fn token_of(i: i64) -> String {
    format!("account-token-{i:06}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_under_writes_restores_and_the_server_reads_it_back() {
    let app = TestApp::start(&[]).await;
    let db = app.running.state().db().clone();
    let secrets = app.running.state().secrets().clone();
    let written = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (written, stop) = (written.clone(), stop.clone());
        async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let secrets = secrets.clone();
                db.write(move |c| {
                    let name = format!("user{i}");
                    let token = token_of(i);
                    upsert_user(
                        c,
                        &NewUser {
                            plex_id: 1000 + i,
                            username: &name,
                            email: None,
                            thumb: None,
                            title: None,
                            has_password: false,
                            subscription: None,
                            plex_token: &token,
                        },
                        &secrets,
                        i,
                    )
                })
                .await
                .expect("write");
                written.store(i, Ordering::SeqCst);
            }
        }
    });
    // Some rows exist before the backup starts, and writes go on while it runs.
    while written.load(Ordering::SeqCst) < 20 {
        tokio::task::yield_now().await;
    }
    let before = written.load(Ordering::SeqCst);
    let backup_dir = app.dir.path().join("backups/today");
    let database = app.dir.path().join("plexgate.sqlite");
    let out = tokio::task::spawn_blocking({
        let (backup_dir, database) = (backup_dir.clone(), database.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_plexgate"))
                .arg("backup")
                .arg(&backup_dir)
                .env("PLEXGATE_STORAGE_DATABASE", &database)
                .env_remove("PLEXGATE_SERVER_LISTEN")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let during = written.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(during > before, "the server kept writing during the backup");
    for name in ["plexgate.sqlite", "plexgate.key"] {
        let path = backup_dir.join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
        assert!(stdout.contains(&path.display().to_string()), "{stdout}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&backup_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    app.running.shutdown().await;

    // Restore into a fresh directory: copy the two files, start, read everything back.
    let fresh = tempfile::tempdir().unwrap();
    for name in ["plexgate.sqlite", "plexgate.key"] {
        std::fs::copy(backup_dir.join(name), fresh.path().join(name)).unwrap();
    }
    let restored = plexgate::app::start(test_config(fresh.path(), &[]))
        .await
        .expect("the restored database and key start together");
    let secrets = restored.state().secrets().clone();
    let rows = restored
        .state()
        .db()
        .read(move |c| {
            let ids: Vec<i64> = c
                .prepare("SELECT id FROM users ORDER BY id")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut tokens = Vec::new();
            for id in &ids {
                tokens.push(user_plex_token(c, *id, &secrets)?);
            }
            Ok(tokens)
        })
        .await
        .unwrap();
    let n = rows.len() as i64;
    assert!(
        n >= before && n <= during,
        "a consistent copy: {before} <= {n} <= {during}"
    );
    for (i, token) in rows.iter().enumerate() {
        assert_eq!(*token, token_of(i as i64 + 1));
    }
    restored.shutdown().await;
}

#[test]
fn without_its_key_file_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plexgate.sqlite"), b"").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plexgate"))
        .arg("backup")
        .arg(dir.path().join("out"))
        .env(
            "PLEXGATE_STORAGE_DATABASE",
            dir.path().join("plexgate.sqlite"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("key file") && stderr.contains("is missing"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists());
}
