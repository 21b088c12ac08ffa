-- What a run does: an ordinary deploy, or a rollback to an earlier release
-- (recipes that keep releases: `jenky rollback PROJECT [--to RUN]`).
ALTER TABLE runs ADD COLUMN action TEXT NOT NULL DEFAULT 'deploy';
ALTER TABLE runs ADD COLUMN rollback_to INTEGER NOT NULL DEFAULT 0;
