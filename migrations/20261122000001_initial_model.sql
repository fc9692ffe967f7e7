-- The whole data model of mcp-auth-bridge (see ../shared/DESIGN.md).
-- Conventions:
--   * every expiry is an absolute timestamptz (`*_expires_at`), never a relative lifetime;
--   * secrets the bridge must read back (upstream tokens, private keys) are sealed with
--     AES-256-GCM: a `bytea` blob (nonce || ciphertext || tag) and, beside it, the `text` id of
--     the sealing key, so keys can rotate;
--   * secrets the bridge only compares (codes, refresh tokens, client secrets, registration
--     tokens) are stored as SHA-256 hashes (`*_hash bytea`);
--   * a child that cannot outlive its parent has `ON DELETE CASCADE`;
--   * kinds and states are `text` with a CHECK constraint (readable in psql, easy to extend).

-- Tenants: one authorization server each, at {public_url}/t/{slug}.
CREATE TABLE tenants (
    id               uuid        PRIMARY KEY,
    slug             text        NOT NULL UNIQUE,             -- [a-z0-9-]{1,63}, the URL segment
    display_name     text        NOT NULL,                    -- shown on consent pages
    source           text        NOT NULL DEFAULT 'api'       -- who owns the row: the config file or the admin API
                     CHECK (source IN ('config', 'api')),
    status           text        NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'disabled')),
    scopes           text[]      NOT NULL DEFAULT '{mcp}',    -- scopes clients may request
    access_token_ttl_seconds bigint NULL CHECK (access_token_ttl_seconds > 0), -- overrides auth.access_token_ttl
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Upstream identity providers of a tenant and the bridge's client registration at each.
CREATE TABLE upstream_providers (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             text        NOT NULL,                    -- path segment of /t/{t}/callback/{name}
    kind             text        NOT NULL
                     CHECK (kind IN ('oidc', 'keycloak', 'google', 'atlassian', 'salesforce', 'github', 'dev')),
    position         integer     NOT NULL DEFAULT 0,          -- order in the tenant; the first is the default
    issuer           text        NULL,                        -- OIDC issuer / Keycloak realm URL
    client_id        text        NULL,                        -- the bridge's client id upstream
    client_secret    bytea       NULL,                        -- sealed
    client_secret_key_id text    NULL,                        -- sealing key of client_secret
    scopes           text[]      NULL,                        -- NULL: the kind's defaults
    authorization_url text       NULL,                        -- overrides of discovered endpoints
    token_url        text        NULL,
    userinfo_url     text        NULL,
    jwks_url         text        NULL,
    revocation_url   text        NULL,
    default_token_lifetime_seconds bigint NULL,               -- for token responses without expires_in
    settings         jsonb       NOT NULL DEFAULT '{}',       -- kind-specific, non-secret (dev user, Salesforce host, …)
    source           text        NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    CHECK ((client_secret IS NULL) = (client_secret_key_id IS NULL))
);

-- MCP servers: the protected resources at {public_url}/t/{tenant}/mcp/{name}.
CREATE TABLE mcp_servers (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             text        NOT NULL,                    -- path segment
    upstream_url     text        NOT NULL,                    -- where the gateway forwards
    provider_id      uuid        NULL REFERENCES upstream_providers (id) ON DELETE SET NULL, -- NULL: tenant's first provider
    scopes           text[]      NULL,                        -- advertised in RFC 9728 metadata; NULL: tenant scopes
    required_scopes  text[]      NOT NULL DEFAULT '{}',       -- needed to call it (else 403 insufficient_scope)
    forward_upstream_token boolean NOT NULL DEFAULT false,    -- opt-in: send the user's upstream token
    exchange_client_id text      NULL,                        -- RFC 8693 credentials of this server
    exchange_secret_hash bytea   NULL,                        -- SHA-256 of its secret
    source           text        NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    CHECK ((exchange_client_id IS NULL) = (exchange_secret_hash IS NULL))
);
CREATE UNIQUE INDEX mcp_servers_exchange_client ON mcp_servers (tenant_id, exchange_client_id)
    WHERE exchange_client_id IS NOT NULL;

-- OAuth clients of a tenant: dynamically registered (RFC 7591), from a client ID metadata
-- document (client_id is an https URL), or created by an operator.
CREATE TABLE oauth_clients (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id        text        NOT NULL,                    -- what the client sends
    kind             text        NOT NULL CHECK (kind IN ('dynamic', 'metadata_document', 'static')),
    client_secret_hash bytea     NULL,                        -- SHA-256; NULL for public clients
    client_secret_expires_at timestamptz NULL,                -- NULL: never
    token_endpoint_auth_method text NOT NULL
                     CHECK (token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
    application_type text        NOT NULL DEFAULT 'web' CHECK (application_type IN ('web', 'native')),
    client_name      text        NULL,
    redirect_uris    text[]      NOT NULL,                    -- compared exactly (loopback: any port)
    grant_types      text[]      NOT NULL DEFAULT '{authorization_code,refresh_token}',
    scope            text        NULL,                        -- space-separated scopes it registered for
    metadata         jsonb       NOT NULL DEFAULT '{}',       -- the rest of its registration metadata
    registration_token_hash bytea NULL,                       -- RFC 7592 registration access token (SHA-256)
    metadata_expires_at timestamptz NULL,                     -- metadata documents: refetch after this
    registered_from  text        NULL,                        -- client IP at registration (abuse triage)
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_used_at     timestamptz NULL,                        -- last /authorize or /token; sweeper drops unused dynamic clients
    UNIQUE (tenant_id, client_id)
);
CREATE INDEX oauth_clients_unused ON oauth_clients (created_at) WHERE kind = 'dynamic' AND last_used_at IS NULL;

-- Consents a user gave a client, recorded after login so they can be listed and revoked, and a
-- returning user is not asked again for what they already approved.
CREATE TABLE consents (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_pk        uuid        NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    subject          text        NOT NULL,                    -- upstream user id (provider-qualified)
    scopes           text[]      NOT NULL,
    mcp_server_id    uuid        NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    granted_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz NULL,
    UNIQUE (client_pk, subject, mcp_server_id)
);
CREATE INDEX consents_subject ON consents (tenant_id, subject);

-- Authorizations in progress: created at /authorize, consumed once at the upstream callback.
-- They live in Postgres because the callback may land on another replica.
CREATE TABLE pending_authorizations (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_pk        uuid        NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    provider_id      uuid        NOT NULL REFERENCES upstream_providers (id) ON DELETE CASCADE,
    mcp_server_id    uuid        NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    redirect_uri     text        NOT NULL,                    -- exactly as the client sent it
    client_state     text        NULL,                        -- the client's state, echoed back
    code_challenge   text        NOT NULL,                    -- PKCE S256 challenge of the client
    scopes           text[]      NOT NULL,
    resource         text        NOT NULL,                    -- RFC 8707 resource URL
    consent_binding_hash bytea   NULL,                        -- SHA-256 of the consent cookie's nonce, set at consent
    upstream_state_hash bytea    NULL UNIQUE,                 -- SHA-256 of the upstream `state`, created after consent
    upstream_pkce_verifier bytea NULL,                        -- sealed PKCE verifier for the upstream
    upstream_pkce_key_id text    NULL,
    upstream_nonce   text        NULL,                        -- OIDC nonce (not a secret: it is in the ID token)
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL
);
CREATE INDEX pending_authorizations_expiry ON pending_authorizations (expires_at);

-- Grants: one user's upstream login through one client, holding the upstream tokens.
CREATE TABLE grants (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider_id      uuid        NOT NULL REFERENCES upstream_providers (id) ON DELETE CASCADE,
    client_pk        uuid        NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    subject          text        NOT NULL,                    -- upstream user id
    user_context     jsonb       NOT NULL DEFAULT '{}',       -- last normalised user context (no secrets)
    upstream_access_token bytea  NOT NULL,                    -- sealed
    upstream_access_key_id text  NOT NULL,
    upstream_access_expires_at timestamptz NULL,              -- NULL: the upstream said it does not expire
    upstream_refresh_token bytea NULL,                        -- sealed; NULL when the upstream issues none
    upstream_refresh_key_id text NULL,
    upstream_refresh_expires_at timestamptz NULL,
    upstream_scopes  text[]      NOT NULL DEFAULT '{}',
    upstream_extra   jsonb       NOT NULL DEFAULT '{}',       -- provider data kept from token responses (instance_url, …)
    status           text        NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'needs_reauth', 'revoked')),
    version          bigint      NOT NULL DEFAULT 1,          -- bumped on every token change (optimistic concurrency)
    refresh_lease_until timestamptz NULL,                     -- a replica refreshing upstream holds this lease
    refresh_lease_owner uuid     NULL,
    last_refreshed_at timestamptz NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz NULL,
    CHECK ((upstream_refresh_token IS NULL) = (upstream_refresh_key_id IS NULL))
);
CREATE INDEX grants_subject ON grants (tenant_id, subject);
CREATE INDEX grants_client ON grants (client_pk);
CREATE INDEX grants_status_updated ON grants (status, updated_at);

-- The bridge's authorization codes: single use, short-lived, stored hashed.
CREATE TABLE authorization_codes (
    code_hash        bytea       PRIMARY KEY,                 -- SHA-256 of the code
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_pk        uuid        NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    grant_id         uuid        NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    mcp_server_id    uuid        NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    redirect_uri     text        NOT NULL,
    code_challenge   text        NOT NULL,
    scopes           text[]      NOT NULL,
    resource         text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz NULL                         -- set once at redemption; a second use is a replay
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

-- Refresh-token families: all tokens descending from one authorization code.
CREATE TABLE refresh_token_families (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    grant_id         uuid        NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_pk        uuid        NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    mcp_server_id    uuid        NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    code_hash        bytea       NULL,                        -- the code it was issued from (replay revokes it)
    scopes           text[]      NOT NULL,
    resource         text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    absolute_expires_at timestamptz NOT NULL,                 -- no rotation extends past this
    revoked_at       timestamptz NULL,
    revoked_reason   text        NULL                         -- 'reuse', 'code_replay', 'revoked', 'admin', …
);
CREATE INDEX refresh_token_families_grant ON refresh_token_families (grant_id);
CREATE INDEX refresh_token_families_code ON refresh_token_families (code_hash) WHERE code_hash IS NOT NULL;
CREATE INDEX refresh_token_families_expiry ON refresh_token_families (absolute_expires_at);

-- MCP refresh tokens, one row per generation of a family; stored hashed.
CREATE TABLE refresh_tokens (
    token_hash       bytea       PRIMARY KEY,                 -- SHA-256 of the token
    family_id        uuid        NOT NULL REFERENCES refresh_token_families (id) ON DELETE CASCADE,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    generation       integer     NOT NULL,                    -- 1 for the first token of a family
    status           text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'rotated', 'revoked')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,                    -- idle expiry
    rotated_at       timestamptz NULL,
    grace_until      timestamptz NULL,                        -- a reuse before this gets the same successor
    grace_response   bytea       NULL,                        -- sealed token response returned to such a reuse
    grace_response_key_id text   NULL,
    UNIQUE (family_id, generation)
);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- MCP access tokens issued (JWTs): their jti maps to the grant, so revocation bites at once.
CREATE TABLE access_tokens (
    jti              uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    grant_id         uuid        NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_pk        uuid        NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    family_id        uuid        NULL REFERENCES refresh_token_families (id) ON DELETE CASCADE,
    mcp_server_id    uuid        NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    subject          text        NOT NULL,
    audience         text        NOT NULL,                    -- the resource URL (aud)
    scopes           text[]      NOT NULL,
    issued_at        timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    revoked_at       timestamptz NULL
);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
CREATE INDEX access_tokens_family ON access_tokens (family_id) WHERE family_id IS NOT NULL;
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

-- Tenant JWT signing keys; the private key sealed. Retired keys stay published until the
-- tokens they signed have expired.
CREATE TABLE signing_keys (
    kid              text        PRIMARY KEY,                 -- RFC 7638 thumbprint
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    algorithm        text        NOT NULL DEFAULT 'ES256' CHECK (algorithm IN ('ES256')),
    private_key      bytea       NOT NULL,                    -- sealed PKCS#8 DER
    private_key_key_id text      NOT NULL,
    public_jwk       jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    retired_at       timestamptz NULL,
    publish_until    timestamptz NULL                         -- retired keys leave the JWKS after this
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (tenant_id) WHERE status = 'active';

-- The audit log: who changed what. Outlives the rows it describes (no foreign keys).
CREATE TABLE audit_log (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    tenant_id        uuid        NULL,
    actor            text        NOT NULL,                    -- admin token name, 'config', 'system', an MCP server
    action           text        NOT NULL,                    -- e.g. 'tenant.update', 'grant.revoke', 'token.exchange'
    target_type      text        NULL,
    target_id        text        NULL,
    before           jsonb       NULL,                        -- secrets removed
    after            jsonb       NULL,                        -- secrets removed
    request_id       text        NULL
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at DESC);
CREATE INDEX audit_log_at ON audit_log (at DESC);

-- Sweeper runs, so every replica (and the admin API) can tell when the last sweep ran.
CREATE TABLE sweeper_runs (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NULL,
    deleted          jsonb       NOT NULL DEFAULT '{}',       -- rows deleted per kind
    error            text        NULL
);
