//! `plexgate doctor`: checks an installation the way a new self-hoster needs it checked, and
//! prints each result as ✓ or ✗, every ✗ with the fix. Exit 0 only when every check passes.
//!
//! Why a command and not a page: most failures it finds (a data directory owned by another
//! uid, a key file that does not match the database, no route to plex.tv) stop the server from
//! starting or from signing anyone in, so there would be no page to look at.
//!
//! What it must never do: change anything (the database is opened read-only, never migrated;
//! the key file is only read), or print a secret (keys and tokens appear as fingerprints or
//! not at all). The checks themselves are in `local` (files) and `remote` (network).

mod local;
mod remote;

use std::io::Write;

use crate::config::Config;

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    /// Whether it passed; `None` for a check that does not apply (printed with `-`).
    pub ok: Option<bool>,
    /// What was checked and what was found, one line.
    pub line: String,
    /// What to do about a failure.
    pub fix: Option<String>,
    /// Indented lines under it (one per server address).
    pub details: Vec<Check>,
}

impl Check {
    fn pass(line: impl Into<String>) -> Check {
        Check {
            ok: Some(true),
            line: line.into(),
            fix: None,
            details: Vec::new(),
        }
    }

    fn fail(line: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            ok: Some(false),
            line: line.into(),
            fix: Some(fix.into()),
            details: Vec::new(),
        }
    }

    fn skip(line: impl Into<String>) -> Check {
        Check {
            ok: None,
            line: line.into(),
            fix: None,
            details: Vec::new(),
        }
    }

    fn passed(&self) -> bool {
        self.ok != Some(false) && self.details.iter().all(Check::passed)
    }

    fn print(&self, out: &mut dyn Write, indent: usize) {
        let mark = match self.ok {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "-",
        };
        let pad = " ".repeat(indent);
        // A closed pipe (`doctor | head`) is not worth a panic; the exit code still tells.
        let _ = writeln!(out, "{pad}{mark} {}", self.line);
        if let Some(fix) = &self.fix {
            let _ = writeln!(out, "{pad}    fix: {fix}");
        }
        for d in &self.details {
            d.print(out, indent + 2);
        }
    }
}

/// Runs every check against `config`, printing each as it completes; true when all passed.
pub async fn run(config: &Config, out: &mut dyn Write) -> bool {
    let mut all_good = true;
    let mut report = |check: Check, out: &mut dyn Write| {
        check.print(out, 0);
        all_good &= check.passed();
    };
    report(Check::pass("configuration loads"), out);
    report(local::database_dir(&config.storage), out);
    let inspection = local::database(&config.storage);
    report(inspection.check, out);
    report(
        local::master_key(&config.storage, inspection.fingerprint.as_deref()),
        out,
    );
    let client = match crate::app::upstream_client() {
        Ok(c) => c,
        Err(e) => {
            report(
                Check::fail(format!("HTTP client: {e}"), "report this as a bug"),
                out,
            );
            return false;
        }
    };
    report(remote::plextv(&client, &config.plextv.url).await, out);
    for check in remote::servers(&client, &inspection.servers).await {
        report(check, out);
    }
    report(remote::tmdb(&client, &config.tmdb).await, out);
    report(remote::trakt(&client, &config.trakt).await, out);
    let probe = local::key(&config.storage).map(|k| crate::crypto::probe::ProbeKey::derive(&k));
    report(
        remote::public_url(&client, config, probe.as_ref()).await,
        out,
    );
    all_good
}
