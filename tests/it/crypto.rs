//! Secrets at rest: AEAD sealing, the key file, and binding the key to a database.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use plexgate::crypto::{CryptoError, KeyOrigin, MasterKey, SecretBox, keyfile};
use plexgate::db::{Db, DbError, keycheck};

const AAD: &[u8] = b"plexgate:users.plex_token:42";
const SECRET: &[u8] = b"plex-account-token-xyz";

fn fixed_key(byte: u8) -> MasterKey {
    MasterKey::from_bytes([byte; 32])
}

#[test]
fn seal_open_round_trip() {
    let secrets = SecretBox::new(&fixed_key(1));
    let sealed = secrets.seal(SECRET, AAD);
    assert_eq!(sealed[0], 1, "format version byte");
    assert_eq!(sealed.len(), 1 + 12 + SECRET.len() + 16);
    assert_eq!(secrets.open(&sealed, AAD).expect("open"), SECRET);
    assert!(
        !sealed.windows(SECRET.len()).any(|w| w == SECRET),
        "ciphertext contains the plaintext"
    );
    // Fresh nonce per seal.
    assert_ne!(secrets.seal(SECRET, AAD), sealed);
    // Empty plaintext works too.
    let empty = secrets.seal(b"", AAD);
    assert_eq!(secrets.open(&empty, AAD).expect("open empty"), b"");
}

#[test]
fn flipping_any_byte_is_rejected() {
    let secrets = SecretBox::new(&fixed_key(1));
    let sealed = secrets.seal(SECRET, AAD);
    for i in 0..sealed.len() {
        for mask in [0x01u8, 0x80] {
            let mut tampered = sealed.clone();
            tampered[i] ^= mask;
            assert!(
                secrets.open(&tampered, AAD).is_err(),
                "flip {mask:#x} at byte {i} was accepted"
            );
        }
    }
}

#[test]
fn wrong_aad_wrong_key_and_truncation_are_rejected() {
    let secrets = SecretBox::new(&fixed_key(1));
    let sealed = secrets.seal(SECRET, AAD);
    assert!(matches!(
        secrets.open(&sealed, b"plexgate:users.plex_token:43"),
        Err(CryptoError::Decrypt)
    ));
    assert!(matches!(
        SecretBox::new(&fixed_key(2)).open(&sealed, AAD),
        Err(CryptoError::Decrypt)
    ));
    for len in 0..sealed.len() {
        assert!(
            secrets.open(&sealed[..len], AAD).is_err(),
            "truncated to {len} bytes was accepted"
        );
    }
    let mut extended = sealed.clone();
    extended.push(0);
    assert!(secrets.open(&extended, AAD).is_err());
    let mut other_version = sealed;
    other_version[0] = 2;
    assert!(matches!(
        secrets.open(&other_version, AAD),
        Err(CryptoError::UnknownVersion(2))
    ));
}

#[test]
fn derived_keys_are_independent_and_fingerprint_is_stable() {
    let key = fixed_key(7);
    assert_ne!(
        key.derive("plexgate.tokens.v1"),
        key.derive("plexgate.tickets.v1")
    );
    assert_eq!(key.derive("a"), fixed_key(7).derive("a"));
    assert_ne!(key.derive("a"), fixed_key(8).derive("a"));
    let fp = key.fingerprint();
    assert_eq!(fp.len(), 32);
    assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(fp, fixed_key(7).fingerprint());
    assert_ne!(fp, fixed_key(8).fingerprint());
}

#[test]
fn master_key_from_base64() {
    let bytes = [0xabu8; 32];
    let a = MasterKey::from_base64(&STANDARD.encode(bytes)).expect("standard");
    let b = MasterKey::from_base64(&format!("  {}\n", URL_SAFE_NO_PAD.encode(bytes))).expect("url");
    assert_eq!(a.fingerprint(), MasterKey::from_bytes(bytes).fingerprint());
    assert_eq!(b.fingerprint(), a.fingerprint());
    for bad in ["", "not base64 !!", &STANDARD.encode([1u8; 16])] {
        let err = MasterKey::from_base64(bad).expect_err(bad);
        assert!(matches!(err, CryptoError::BadKey(_)), "{err:?}");
        if !bad.is_empty() {
            assert!(!err.to_string().contains(bad), "error repeats the input");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn debug_output_contains_no_key_material() {
    let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let key = MasterKey::from_bytes(bytes);
    let derived = key.derive("plexgate.tokens.v1");
    let secrets = SecretBox::new(&key);
    for text in [
        format!("{key:?}"),
        format!("{key:#?}"),
        format!("{secrets:?}"),
        format!("{secrets:#?}"),
    ] {
        assert!(text.contains("redacted"), "{text}");
        for leak in [
            STANDARD.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
            hex(&bytes),
            hex(&derived),
            format!("{bytes:?}"),
        ] {
            assert!(!text.contains(&leak), "{text} leaks {leak}");
        }
    }
}

#[test]
fn key_file_is_created_0600_and_loads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/dir/plexgate.key");
    let (created, origin) = keyfile::load_or_create(&path).expect("create");
    assert_eq!(origin, KeyOrigin::Created);
    let mode = fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    let dir_mode = fs::metadata(path.parent().expect("parent"))
        .expect("stat dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o077, 0, "key dir mode {dir_mode:o}");

    let (loaded, origin) = keyfile::load_or_create(&path).expect("load");
    assert_eq!(origin, KeyOrigin::Loaded);
    assert_eq!(loaded.fingerprint(), created.fingerprint());
    assert_eq!(
        keyfile::read(&path).expect("read").fingerprint(),
        created.fingerprint()
    );

    // Never overwritten.
    assert!(matches!(
        keyfile::create(&path),
        Err(CryptoError::KeyFileExists { .. })
    ));
    assert_eq!(
        keyfile::read(&path).expect("read").fingerprint(),
        created.fingerprint()
    );

    // The file is one base64 line plus comments; the key it holds is the one returned.
    let text = fs::read_to_string(&path).expect("read text");
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("key line");
    assert_eq!(
        MasterKey::from_base64(line).expect("parse").fingerprint(),
        created.fingerprint()
    );
}

#[test]
fn missing_key_file_is_not_created_by_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent.key");
    assert!(keyfile::load(&path).expect("load").is_none());
    assert!(matches!(
        keyfile::read(&path),
        Err(CryptoError::KeyFileMissing { .. })
    ));
    assert!(!path.exists());
}

#[test]
fn group_readable_key_file_is_loaded_with_a_warning() {
    // Documented choice: container secret mounts are often 0644 and cannot be changed.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k");
    let key = keyfile::create(&path).expect("create");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(
        keyfile::read(&path).expect("read").fingerprint(),
        key.fingerprint()
    );
}

#[test]
fn malformed_key_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let short = STANDARD.encode([9u8; 31]);
    let good = STANDARD.encode([9u8; 32]);
    let cases: &[(&str, &[u8], &str)] = &[
        ("empty", b"", "no key line"),
        ("comments", b"# only a comment\n\n", "no key line"),
        ("garbage", b"this is not a key\n", "not valid base64"),
        ("short", short.as_bytes(), "31 bytes"),
        (
            "two",
            format!("{good}\n{good}\n").leak().as_bytes(),
            "more than one",
        ),
        ("binary", &[0xff, 0xfe, 0x00], "not UTF-8"),
    ];
    for (name, content, expect) in cases {
        let path = dir.path().join(name);
        fs::write(&path, content).expect("write");
        let err = keyfile::read(&path).expect_err(name);
        let msg = err.to_string();
        assert!(
            matches!(err, CryptoError::KeyFileMalformed { .. }),
            "{name}: {err:?}"
        );
        assert!(msg.contains(expect), "{name}: {msg}");
        assert!(msg.contains(&path.display().to_string()), "{name}: {msg}");
    }
    // A directory where the file should be.
    let err = keyfile::read(dir.path()).expect_err("dir");
    assert!(
        matches!(err, CryptoError::KeyFileMalformed { .. }),
        "{err:?}"
    );
    // A comment header and surrounding whitespace are fine.
    let path = dir.path().join("ok");
    fs::write(&path, format!("# header\n\n  {good}  \n")).expect("write");
    assert!(keyfile::read(&path).is_ok());
}

async fn stored_fingerprint(db: &Db) -> Option<String> {
    db.read(|c| plexgate::db::meta::get(c, keycheck::FINGERPRINT_KEY))
        .await
        .expect("meta")
        .map(|v| String::from_utf8(v).expect("utf8"))
}

fn paths(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    (dir.join("data/plexgate.db"), dir.join("data/plexgate.key"))
}

#[tokio::test]
async fn same_key_binds_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db_path, key_path) = paths(dir.path());
    let db = Db::open(&db_path).await.expect("open");
    let (first, origin) = keycheck::unlock_key_file(&db, &key_path)
        .await
        .expect("first");
    assert_eq!(origin, KeyOrigin::Created);
    assert_eq!(stored_fingerprint(&db).await, Some(first.fingerprint()));
    drop(db);

    let db = Db::open(&db_path).await.expect("reopen");
    let (second, origin) = keycheck::unlock_key_file(&db, &key_path)
        .await
        .expect("second");
    assert_eq!(origin, KeyOrigin::Loaded);
    assert_eq!(second.fingerprint(), first.fingerprint());
    keycheck::bind_key(&db, &second, KeyOrigin::Configured)
        .await
        .expect("configured key equal to the file's");
}

#[tokio::test]
async fn different_key_is_refused_naming_both_fingerprints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db_path, key_path) = paths(dir.path());
    let db = Db::open(&db_path).await.expect("open");
    let (original, _) = keycheck::unlock_key_file(&db, &key_path)
        .await
        .expect("first");

    fs::remove_file(&key_path).expect("rm");
    let other = keyfile::create(&key_path).expect("other key");
    let err = keycheck::unlock_key_file(&db, &key_path)
        .await
        .expect_err("must refuse another key");
    let msg = err.to_string();
    assert!(matches!(err, DbError::KeyMismatch { .. }), "{err:?}");
    assert!(msg.contains(&original.fingerprint()), "{msg}");
    assert!(msg.contains(&other.fingerprint()), "{msg}");
    assert!(msg.contains(&key_path.display().to_string()), "{msg}");
    assert!(msg.contains("restore the original key file"), "{msg}");

    let err = keycheck::bind_key(&db, &MasterKey::generate(), KeyOrigin::Configured)
        .await
        .expect_err("configured other key");
    assert!(matches!(err, DbError::KeyMismatch { .. }), "{err:?}");
    let err = keycheck::bind_key(&db, &MasterKey::generate(), KeyOrigin::Created)
        .await
        .expect_err("new key on a bound db");
    assert!(matches!(err, DbError::KeyReplaced { .. }), "{err:?}");
    // The stored fingerprint never changes.
    assert_eq!(stored_fingerprint(&db).await, Some(original.fingerprint()));
}

#[tokio::test]
async fn deleted_key_file_is_a_clear_error_and_no_new_key_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db_path, key_path) = paths(dir.path());
    let db = Db::open(&db_path).await.expect("open");
    let (original, _) = keycheck::unlock_key_file(&db, &key_path)
        .await
        .expect("first");
    drop(db);
    fs::remove_file(&key_path).expect("lose the key file");

    for attempt in 0..2 {
        let db = Db::open(&db_path).await.expect("reopen");
        let err = keycheck::unlock_key_file(&db, &key_path)
            .await
            .expect_err("must refuse");
        let msg = err.to_string();
        assert!(
            matches!(err, DbError::KeyFileLost { .. }),
            "attempt {attempt}: {err:?}"
        );
        assert!(msg.contains("missing"), "{msg}");
        assert!(msg.contains(&original.fingerprint()), "{msg}");
        assert!(msg.contains(&key_path.display().to_string()), "{msg}");
        assert!(!key_path.exists(), "attempt {attempt} wrote a new key file");
    }
}
