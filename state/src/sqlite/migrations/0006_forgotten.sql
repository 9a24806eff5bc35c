-- Resources `dstack state rm` removed from state on purpose. They still
-- exist; the tag sweep lists them as orphans but never adopts them back.
CREATE TABLE forgotten (
    provider     TEXT NOT NULL,
    provider_id  TEXT NOT NULL,
    address      TEXT NOT NULL,
    forgotten_at INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_id)
);
