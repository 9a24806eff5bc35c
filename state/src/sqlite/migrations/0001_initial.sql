-- Recorded state, version 1.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE resources (
    address        TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    spec           TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    provider       TEXT,
    provider_id    TEXT,
    status         TEXT NOT NULL,
    price_micros   INTEGER,
    offer          TEXT,
    data           TEXT NOT NULL DEFAULT 'null',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    version        INTEGER NOT NULL
);

CREATE TABLE intents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    apply_id    TEXT NOT NULL,
    address     TEXT NOT NULL,
    operation   TEXT NOT NULL,
    token       TEXT NOT NULL,
    provider    TEXT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT,
    detail      TEXT
);
CREATE INDEX intents_open ON intents (finished_at) WHERE finished_at IS NULL;
CREATE INDEX intents_apply ON intents (apply_id);

CREATE TABLE applies (
    id          TEXT PRIMARY KEY,
    plan_id     TEXT NOT NULL,
    holder      TEXT NOT NULL,
    operation   TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT,
    summary     TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE locks (
    name       TEXT PRIMARY KEY,
    id         TEXT NOT NULL,
    holder     TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    host       TEXT NOT NULL,
    operation  TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
