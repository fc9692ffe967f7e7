-- Rotated refresh tokens the sweeper may delete (issue 13). Tokens minted from now on name their
-- family and generation (`<random>.<family>.<generation>`), so a replay of one whose row is gone
-- is still recognised as an earlier generation of a live family and revokes it (RFC 9700
-- section 4.14.2). Rows of older, opaque tokens keep `tagged = false` and stay as long as their
-- family, as before: deleting them would turn their replay into an unknown token.
ALTER TABLE refresh_tokens
    ADD COLUMN tagged boolean NOT NULL DEFAULT false;           -- the token names its family and generation

-- The sweeper's walk over rotated, tagged tokens whose grace period is over.
CREATE INDEX refresh_tokens_rotated_grace ON refresh_tokens (grace_until)
    WHERE status = 'rotated' AND tagged;
