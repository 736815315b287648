-- Who is looking at a session now (SQLite's schema version 7): a page that is visible and
-- focused, until until_ms; the worker's calls wait while anyone is. And the worker epoch that
-- said goodbye: going offline after that calls nobody.
CREATE TABLE push_looking (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (session_id, device)
);
ALTER TABLE sessions ADD COLUMN worker_left_epoch BIGINT;
