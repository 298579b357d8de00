-- plexgate schema 1.
--
-- Conventions:
-- * STRICT tables, so a sealed BLOB column can never silently receive a TEXT (plaintext) value.
-- * Times are integer seconds since the Unix epoch.
-- * Columns named *_token, tmdb_api_key and trakt_tokens hold SecretBox output (version byte,
--   nonce, ciphertext, tag) sealed with associated data naming the row; never plaintext.
-- * The runner sets PRAGMA user_version after this file; do not set it here.

-- A Plex account that logged in through the PIN flow.
CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    plex_id      INTEGER NOT NULL UNIQUE,
    username     TEXT    NOT NULL,
    email        TEXT,
    thumb        TEXT,
    title        TEXT,
    plex_token   BLOB    NOT NULL,
    has_password INTEGER NOT NULL DEFAULT 0 CHECK (has_password IN (0, 1)),
    subscription TEXT    CHECK (subscription IS NULL OR json_valid(subscription)),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

-- A Plex Media Server the user can reach, as listed by plex.tv resources.
CREATE TABLE servers (
    id                 INTEGER PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    machine_identifier TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    owned              INTEGER NOT NULL CHECK (owned IN (0, 1)),
    access_token       BLOB    NOT NULL,
    preferred_uri      TEXT,
    current_uri        TEXT,
    last_probe_at      INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (user_id, machine_identifier)
) STRICT;

-- Connection candidates of a server, in plex.tv's order (position), tried by the fallback logic.
CREATE TABLE server_connections (
    server_id INTEGER NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    uri       TEXT    NOT NULL,
    protocol  TEXT    NOT NULL,
    address   TEXT    NOT NULL,
    port      INTEGER NOT NULL CHECK (port BETWEEN 0 AND 65535),
    local     INTEGER NOT NULL CHECK (local IN (0, 1)),
    relay     INTEGER NOT NULL CHECK (relay IN (0, 1)),
    ipv6      INTEGER NOT NULL CHECK (ipv6 IN (0, 1)),
    position  INTEGER NOT NULL,
    PRIMARY KEY (server_id, uri)
) STRICT, WITHOUT ROWID;

-- Per-user settings (1:1 with users, created with the user).
CREATE TABLE user_settings (
    user_id           INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- Ownership (servers.user_id = user_id) is enforced by the repository, not by SQL.
    current_server_id INTEGER REFERENCES servers (id) ON DELETE SET NULL,
    tmdb_api_key      BLOB,
    trakt_tokens      BLOB,
    preferences       TEXT CHECK (preferences IS NULL OR json_valid(preferences)),
    updated_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX user_settings_current_server ON user_settings (current_server_id);

-- Login sessions. The cookie carries a 128-bit random id; only its keyed hash is stored, so a
-- copy of the database cannot be replayed as cookies.
CREATE TABLE sessions (
    id_hash      BLOB    PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    user_agent   TEXT,
    ip           TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Ticket sessions: one row per facade ticket (per login session and server) or playback session.
CREATE TABLE playback_sessions (
    id                 TEXT    PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    server_id          INTEGER NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    -- Deliberately not a foreign key: logout and session expiry delete the login session and
    -- must still find its tickets afterwards to revoke them.
    login_session_hash BLOB,
    kind               TEXT    NOT NULL CHECK (kind IN ('facade', 'playback')),
    rating_key         TEXT,
    plex_session_id    TEXT,
    protocol           TEXT,
    mode               TEXT,
    started_at         INTEGER NOT NULL,
    last_activity_at   INTEGER NOT NULL,
    ended_at           INTEGER,
    bytes_sent         INTEGER NOT NULL DEFAULT 0 CHECK (bytes_sent >= 0),
    end_reason         TEXT
) STRICT;
CREATE INDEX playback_sessions_user ON playback_sessions (user_id);
CREATE INDEX playback_sessions_server ON playback_sessions (server_id);
CREATE INDEX playback_sessions_login ON playback_sessions (login_session_hash)
    WHERE login_session_hash IS NOT NULL;
-- The idle sweeper scans open sessions by last activity.
CREATE INDEX playback_sessions_open ON playback_sessions (last_activity_at)
    WHERE ended_at IS NULL;

-- Revoked ticket session ids, loaded into the in-memory deny set at startup. expires_at is when
-- the ticket would have expired anyway; after that the row is useless and is pruned. Not a
-- foreign key: a ticket can be revoked without a playback_sessions row.
CREATE TABLE revoked_sessions (
    session_id TEXT    PRIMARY KEY,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    reason     TEXT    NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX revoked_sessions_expires ON revoked_sessions (expires_at);

-- Small facts about the database itself, e.g. the fingerprint of the key its secrets need.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;
