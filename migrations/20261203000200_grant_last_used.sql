-- When a grant's tokens were last used at the gateway (issue 17: the account page shows users
-- which clients still use their access). Written at most once per grant per
-- `gateway.last_used_interval` (a cache in each replica and the WHERE clause of the update),
-- never once per request.
ALTER TABLE grants
    ADD COLUMN last_used_at timestamptz NULL;  -- NULL: not used since this column was added
