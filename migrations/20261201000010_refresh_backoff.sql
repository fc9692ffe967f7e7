-- Per-grant state of upstream refreshes that did not succeed (issue 12): a grant whose
-- refreshes keep failing backs off instead of calling the IdP on every client request, and an
-- attempt that may have reached the IdP without an answer is remembered, so the next one waits
-- and says that it may be re-sending a rotated-away refresh token.
ALTER TABLE grants
    ADD COLUMN refresh_failures integer NOT NULL DEFAULT 0,      -- consecutive failed refreshes; 0 after a success
    ADD COLUMN refresh_not_before timestamptz NULL,              -- no refresh attempt before this (database clock)
    ADD COLUMN refresh_ambiguous_at timestamptz NULL;            -- the last attempt may have been processed unanswered
