-- Runs: one row per trigger that was accepted. Times are unix milliseconds.
-- The run directory (data_dir/runs/ID) is the durable record of a run's
-- execution; this table is the index over it (see docs/architecture.md).
CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  project       TEXT    NOT NULL,
  status        TEXT    NOT NULL,
  trigger_kind  TEXT    NOT NULL,
  provider      TEXT    NOT NULL DEFAULT '',
  ref           TEXT    NOT NULL DEFAULT '',
  branch        TEXT    NOT NULL DEFAULT '',
  commit_sha    TEXT    NOT NULL DEFAULT '',
  actor         TEXT    NOT NULL DEFAULT '',
  delivery      TEXT    NOT NULL DEFAULT '',
  created_at    INTEGER NOT NULL,
  started_at    INTEGER NOT NULL DEFAULT 0,
  finished_at   INTEGER NOT NULL DEFAULT 0,
  exit_code     INTEGER,
  reason        TEXT    NOT NULL DEFAULT '',
  log_bytes     INTEGER NOT NULL DEFAULT 0,
  recipe        TEXT    NOT NULL DEFAULT '',
  script_sha256 TEXT    NOT NULL DEFAULT '',
  log_pruned    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_project ON runs(project, id);
CREATE INDEX runs_unfinished ON runs(status) WHERE status IN ('queued', 'running');
