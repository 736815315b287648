-- When the worker was last heard of (Unix milliseconds), by whichever node heard it: presence
-- is decided in the database, so that the workers of a node that dies are still reported
-- offline by the others (SQLite's schema version 4). The partial index serves the sweep that
-- looks for online workers gone silent.
ALTER TABLE sessions ADD COLUMN worker_seen_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sessions_online ON sessions(worker_seen_at) WHERE worker_online = 1;
