-- The outbox: commit statuses and notifications a run's state change caused,
-- written in the same transaction as that change and sent in the background
-- until the receiver takes them or the receiver's give_up_after passes
-- (docs/notifications.md). Times are unix milliseconds. The body holds no
-- secret: URLs from the environment, signing secrets and tokens are added
-- when a message is sent.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  run_id          INTEGER NOT NULL,
  project         TEXT    NOT NULL,
  receiver        TEXT    NOT NULL,
  kind            TEXT    NOT NULL,
  event           TEXT    NOT NULL,
  url             TEXT    NOT NULL DEFAULT '',
  body            TEXT    NOT NULL,
  state           TEXT    NOT NULL DEFAULT 'pending',
  attempts        INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  finished_at     INTEGER NOT NULL DEFAULT 0,
  http_status     INTEGER NOT NULL DEFAULT 0,
  error           TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox(state) WHERE state = 'pending';
CREATE INDEX outbox_by_run ON outbox(run_id, id);
CREATE INDEX outbox_by_project ON outbox(project, id);
