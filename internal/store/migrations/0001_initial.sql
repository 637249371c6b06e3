-- Desired state of each service.
CREATE TABLE services (
    name       TEXT PRIMARY KEY,
    release    INTEGER NOT NULL DEFAULT 0,
    count      INTEGER NOT NULL DEFAULT 0,
    spec       TEXT,                 -- JSON
    updated_at INTEGER NOT NULL      -- unix nanoseconds, UTC
);

-- Immutable releases, numbered per service from 1.
CREATE TABLE releases (
    service    TEXT NOT NULL,
    number     INTEGER NOT NULL,
    commit_sha TEXT NOT NULL DEFAULT '',
    artifact   TEXT NOT NULL DEFAULT '',
    image      TEXT NOT NULL DEFAULT '',
    config     TEXT,                 -- JSON
    secrets    TEXT,                 -- JSON object: name -> version
    set_id     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (service, number)
);

-- Deployments; AUTOINCREMENT so an id is never reused (events refer to it).
CREATE TABLE deployments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    service      TEXT NOT NULL,
    from_release INTEGER NOT NULL DEFAULT 0,
    to_release   INTEGER NOT NULL DEFAULT 0,
    strategy     TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    set_id       TEXT NOT NULL DEFAULT '',
    progress     TEXT,               -- JSON
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deployments_by_service ON deployments (service, id);
CREATE INDEX deployments_by_state ON deployments (state);

-- Tasks; rowid keeps insertion order for equal created_at.
CREATE TABLE tasks (
    id         TEXT PRIMARY KEY,
    service    TEXT NOT NULL,
    release    INTEGER NOT NULL DEFAULT 0,
    state      TEXT NOT NULL DEFAULT '',
    handle     TEXT,                 -- JSON driver.Handle
    addr       TEXT NOT NULL DEFAULT '',
    restarts   INTEGER NOT NULL DEFAULT 0,
    exit       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX tasks_by_service ON tasks (service, created_at);

-- Append-only event log.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       INTEGER NOT NULL,
    service    TEXT NOT NULL DEFAULT '',
    deployment INTEGER NOT NULL DEFAULT 0,
    kind       TEXT NOT NULL DEFAULT '',
    message    TEXT NOT NULL DEFAULT '',
    fields     TEXT                  -- JSON object
);
CREATE INDEX events_by_service ON events (service, id);
CREATE INDEX events_by_deployment ON events (deployment, id);

-- Release sets: the releases one `berth deploy` made.
CREATE TABLE release_sets (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order
    id         TEXT NOT NULL UNIQUE,
    commit_sha TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE release_set_members (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- member order
    set_id       TEXT NOT NULL REFERENCES release_sets (id) ON DELETE CASCADE,
    service      TEXT NOT NULL,
    release      INTEGER NOT NULL,
    prev_release INTEGER NOT NULL DEFAULT 0,
    UNIQUE (set_id, service)
);

-- Encrypted secret versions, numbered per name from 1. Deleting a secret
-- marks all its versions deleted; a later put starts a live version again.
CREATE TABLE secret_versions (
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version)
);
