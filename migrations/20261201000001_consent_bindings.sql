-- Issue 11: a consent that a cookie cannot skip for someone else, and that a public client's
-- other local programs cannot reuse. Both columns are nullable: rows written before them mean
-- "nothing remembered" and "no redirect URI approved", which only ever asks the user again.

-- Set when /authorize skipped the consent page because the browser's remembered-user cookie named
-- a subject who had consented: the callback issues a code only if that same subject logged in
-- upstream and its consent is still on record; otherwise it shows the consent page. NULL: the
-- user approved on the consent page for this very authorization.
ALTER TABLE pending_authorizations ADD COLUMN remembered_subject text NULL;

-- The redirect URI the user approved, exactly as sent (port included). For public clients the
-- consent page is skipped only for this same URI (RFC 8252 section 8.6: another local program
-- may use the same client_id on its own loopback port).
ALTER TABLE consents ADD COLUMN redirect_uri text NULL;
