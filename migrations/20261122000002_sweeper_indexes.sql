-- Indexes the sweeper's rules need once tables grow (found while benchmarking the sweeper):
-- without them the access-token, family and grant rules scan whole tables.

-- Revoked access tokens, found by the retention rule.
CREATE INDEX access_tokens_revoked ON access_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
-- Revoked families, found by the retention rule.
CREATE INDEX refresh_token_families_revoked ON refresh_token_families (revoked_at) WHERE revoked_at IS NOT NULL;
-- Codes pointing at a grant keep it alive; the orphan rule looks them up by grant.
CREATE INDEX authorization_codes_grant ON authorization_codes (grant_id);
-- Rotated refresh tokens still holding a sealed grace response, cleared once the grace passed.
CREATE INDEX refresh_tokens_grace ON refresh_tokens (grace_until) WHERE grace_response IS NOT NULL;
