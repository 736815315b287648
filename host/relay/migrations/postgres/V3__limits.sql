-- Limits that hold across nodes (SQLite's schema version 5): the throttles' recent attempts per
-- bucket, and the open streams each node holds a lease on, renewed while they stay open so
-- that a node that dies frees its places within the lease.
CREATE TABLE throttles (
    bucket TEXT PRIMARY KEY,
    hits TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX throttles_by_expiry ON throttles(expires_at_ms);
CREATE TABLE streams (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node TEXT NOT NULL,
    session_id TEXT NOT NULL,
    account_id BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX streams_by_session ON streams(session_id, expires_at_ms);
CREATE INDEX streams_by_account ON streams(account_id, expires_at_ms);
CREATE INDEX streams_by_node ON streams(node);
CREATE INDEX streams_by_expiry ON streams(expires_at_ms);
