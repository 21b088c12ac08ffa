-- Deliveries that say why a change did or did not deploy (pushes, CI runs,
-- polls, redeliveries) are kept before noise (events the project does not
-- deploy from, forged signatures, oversized bodies): a flood of the latter
-- never pushes the former out (store/delivery_log.h).
ALTER TABLE deliveries ADD COLUMN relevant INTEGER NOT NULL DEFAULT 1;
