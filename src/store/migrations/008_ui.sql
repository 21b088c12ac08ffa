-- Issue 21 (the run page and the operator's controls).
-- What a run was asked for, and where its commit lives: the deploy inputs
-- (a JSON object of strings, NULL for none), the repository's web address
-- and the head commit's message from the webhook payload (NULL if unknown).
ALTER TABLE runs ADD COLUMN inputs TEXT;
ALTER TABLE runs ADD COLUMN repo_url TEXT;
ALTER TABLE runs ADD COLUMN commit_message TEXT;

-- Paused projects: nothing deploys while a row is here.
CREATE TABLE project_pauses (
  project TEXT PRIMARY KEY,
  paused_by TEXT NOT NULL,
  reason TEXT NOT NULL,
  paused_at INTEGER NOT NULL,  -- unix ms
  address TEXT NOT NULL DEFAULT ''
);

-- The audit log: every state change, who made it, when and from where.
-- Append-only: rows are never changed; only retention deletes old ones.
CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,  -- unix ms
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  project TEXT NOT NULL DEFAULT '',
  run INTEGER NOT NULL DEFAULT 0,
  address TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_time ON audit (time);
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;
