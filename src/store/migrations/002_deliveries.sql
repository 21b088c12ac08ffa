-- Webhook deliveries: a short record per project of what arrived and what
-- came of it, so a user can see why a push did or did not deploy. The store
-- keeps the newest 100 per project.
CREATE TABLE deliveries (
  id          INTEGER PRIMARY KEY,
  project     TEXT    NOT NULL,
  received_at INTEGER NOT NULL,
  provider    TEXT    NOT NULL,
  event       TEXT    NOT NULL DEFAULT '',
  delivery    TEXT    NOT NULL DEFAULT '',
  result      TEXT    NOT NULL,
  status      INTEGER NOT NULL,
  reason      TEXT    NOT NULL DEFAULT '',
  run_id      INTEGER,
  remote      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX deliveries_by_project ON deliveries(project, id);
-- Repeated delivery ids find the run they started.
CREATE INDEX runs_by_delivery ON runs(project, delivery) WHERE delivery != '';
