//! A data directory plexgate may not write (the usual bind-mounted `/data` owned by the host
//! user while the container runs as another uid) stops start-up with one clear line naming the
//! owner, our uid and both fixes, never a bare "permission denied".

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The uid plexgate runs as here: root cannot be refused by permissions, so as root the
/// binary is started as `nobody`.
const NOBODY: u32 = 65534;

#[test]
fn an_unwritable_data_dir_names_owner_uid_and_fix() {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // Read-only for everyone: refused for a non-root runner, and for `nobody` either way.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).unwrap();
    let running_as_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let mut binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_plexgate"));
    if running_as_root {
        // `nobody` must reach the binary: a checkout under a private directory (`mktemp -d` is
        // 0700) would refuse the exec itself. The temp dir is 0755 and on the same disk.
        let reachable = root.path().join("plexgate");
        std::fs::hard_link(&binary, &reachable)
            .or_else(|_| std::fs::copy(&binary, &reachable).map(drop))
            .unwrap();
        binary = reachable;
    }
    let mut cmd = Command::new(&binary);
    cmd.args(["--listen", "127.0.0.1:0", "serve"])
        .env("PLEXGATE_STORAGE_DATABASE", data.join("plexgate.sqlite"))
        .env_remove("PLEXGATE_SERVER_LISTEN");
    if running_as_root {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&data).unwrap());
    let line = stderr
        .lines()
        .find(|l| l.starts_with("plexgate: cannot create"))
        .unwrap_or_else(|| panic!("no start-up error line:\n{stderr}"));
    assert!(line.contains(&format!("is owned by uid {owner}")), "{line}");
    assert!(line.contains("plexgate runs as uid "), "{line}");
    assert!(line.contains("chown -R "), "{line}");
    assert!(line.contains(&format!("user: \"{owner}\"")), "{line}");
}
