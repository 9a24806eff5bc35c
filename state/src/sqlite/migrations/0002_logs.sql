-- Job logs, copied from runners so they outlive instances.
CREATE TABLE logs (
    job        TEXT NOT NULL,
    submission INTEGER NOT NULL,
    offset     INTEGER NOT NULL,
    timestamp  INTEGER NOT NULL,
    stream     TEXT NOT NULL,
    text       TEXT NOT NULL,
    PRIMARY KEY (job, submission, offset)
);
