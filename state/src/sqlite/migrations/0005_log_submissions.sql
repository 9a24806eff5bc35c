-- A job's log belongs to one submission (the runner's job id): a job that
-- runs again starts a log of its own instead of continuing the old one's
-- offsets. `seq` orders a job's submissions; `instance` is the runner
-- holding the log; `sealed` says state holds all of it.
CREATE TABLE log_submissions (
    job         TEXT NOT NULL,
    id          TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    instance    TEXT,
    sealed      INTEGER NOT NULL DEFAULT 0,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (job, id),
    UNIQUE (job, seq)
);

-- Lines stored before were keyed by a number that did not tell a job's
-- runs apart (a replaced job started again at 0). A workflow job runs once
-- per key, so its lines belong to its runner job; a run's job keeps each
-- number as submission `legacy-N`, in the old order.
INSERT INTO log_submissions (job, id, seq, sealed, recorded_at)
SELECT l.job,
       COALESCE(
           (SELECT json_extract(w.body, '$.runner_job') FROM workflow_jobs w
             WHERE 'workflow/' || w.run || '/' || w.workflow = l.job),
           'legacy-' || l.submission),
       l.submission,
       1,
       MIN(l.timestamp)
  FROM logs l
 GROUP BY l.job, l.submission;

ALTER TABLE logs RENAME TO logs_v4;

CREATE TABLE logs (
    job        TEXT NOT NULL,
    submission TEXT NOT NULL,
    offset     INTEGER NOT NULL,
    timestamp  INTEGER NOT NULL,
    stream     TEXT NOT NULL,
    text       TEXT NOT NULL,
    PRIMARY KEY (job, submission, offset)
);

INSERT INTO logs (job, submission, offset, timestamp, stream, text)
SELECT l.job, s.id, l.offset, l.timestamp, l.stream, l.text
  FROM logs_v4 l
  JOIN log_submissions s ON s.job = l.job AND s.seq = l.submission;

DROP TABLE logs_v4;
