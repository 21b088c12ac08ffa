-- A rejection repeated from one address (a flood of bad signatures, say) is
-- one record with a count, so it cannot push the useful records out.
ALTER TABLE deliveries ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE deliveries ADD COLUMN last_at INTEGER NOT NULL DEFAULT 0;
