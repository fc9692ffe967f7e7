-- Remote MCP servers that have their own OAuth authorization server (issue 18): the bridge is an
-- OAuth client of each and keeps one token set per (tenant, user subject, server).

-- Which MCP servers are remote-OAuth ones, and how the bridge registers with their
-- authorization server. One row per such server; the server row itself stays in `mcp_servers`.
CREATE TABLE remote_oauth_servers (
    mcp_server_id    uuid        PRIMARY KEY REFERENCES mcp_servers (id) ON DELETE CASCADE,
    scopes           text[]      NULL,                        -- requested at the remote AS; NULL: the PRM's scopes_supported
    client_id        text        NULL,                        -- pre-configured registration (first choice)
    client_secret    bytea       NULL,                        -- sealed, aad remote:{mcp_server_id}:client_secret
    client_secret_key_id text    NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- What discovery found and the registration the bridge obtained (pre-configured, client ID
-- metadata document, or RFC 7591): kept and reused; deleted when the remote refuses it, so the
-- next connect registers again.
CREATE TABLE remote_registrations (
    mcp_server_id    uuid        PRIMARY KEY REFERENCES remote_oauth_servers (mcp_server_id) ON DELETE CASCADE,
    method           text        NOT NULL CHECK (method IN ('preconfigured', 'metadata_document', 'dynamic')),
    issuer           text        NOT NULL,                    -- the remote AS (RFC 8414 issuer)
    resource         text        NOT NULL,                    -- RFC 8707 resource (the PRM's `resource`)
    authorization_endpoint text  NOT NULL,
    token_endpoint   text        NOT NULL,
    revocation_endpoint text     NULL,                        -- RFC 7009, when advertised
    scopes           text[]      NOT NULL DEFAULT '{}',       -- what connects ask for
    client_id        text        NOT NULL,
    client_secret    bytea       NULL,                        -- sealed, aad remote:{mcp_server_id}:registration_secret
    client_secret_key_id text    NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- One-time connect links handed to the user's MCP client (in the URL elicitation): bound to the
-- user's grant and the server, short-lived, consumed atomically when opened.
CREATE TABLE remote_connect_links (
    link_hash        bytea       PRIMARY KEY,                 -- SHA-256 of the random link token
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    mcp_server_id    uuid        NOT NULL REFERENCES remote_oauth_servers (mcp_server_id) ON DELETE CASCADE,
    grant_id         uuid        NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    subject          text        NOT NULL,                    -- the grant's user
    elicitation_id   uuid        NOT NULL,                    -- sent to the MCP client beside the URL
    expires_at       timestamptz NOT NULL
);
CREATE INDEX remote_connect_links_expiry ON remote_connect_links (expires_at);

-- Authorization requests in flight at a remote AS: `state` → PKCE verifier and who it is for.
CREATE TABLE remote_pending (
    state_hash       bytea       PRIMARY KEY,                 -- SHA-256 of `state`
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    mcp_server_id    uuid        NOT NULL REFERENCES remote_oauth_servers (mcp_server_id) ON DELETE CASCADE,
    grant_id         uuid        NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    subject          text        NOT NULL,
    browser_hash     bytea       NOT NULL,                    -- SHA-256 of the nonce in the browser's binding cookie
    code_verifier    bytea       NOT NULL,                    -- sealed, aad remote_pending:{state_hash hex}
    code_verifier_key_id text    NOT NULL,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX remote_pending_expiry ON remote_pending (expires_at);

-- The user's token set at a remote server. Tokens sealed; expiry absolute; `version` grows with
-- every write so that a refresh that waited on the row lock sees that someone else refreshed.
CREATE TABLE remote_connections (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    mcp_server_id    uuid        NOT NULL REFERENCES remote_oauth_servers (mcp_server_id) ON DELETE CASCADE,
    subject          text        NOT NULL,
    status           text        NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'needs_reconnect')),
    access_token     bytea       NOT NULL,                    -- sealed, aad remote_connection:{id}:access
    access_key_id    text        NOT NULL,
    access_expires_at timestamptz NULL,                       -- NULL: the remote gave no expires_in
    refresh_token    bytea       NULL,                        -- sealed, aad remote_connection:{id}:refresh
    refresh_key_id   text        NULL,
    scopes           text[]      NOT NULL DEFAULT '{}',
    version          bigint      NOT NULL DEFAULT 1,
    connected_at     timestamptz NOT NULL DEFAULT now(),
    refreshed_at     timestamptz NULL,
    UNIQUE (tenant_id, subject, mcp_server_id)
);
CREATE INDEX remote_connections_server ON remote_connections (mcp_server_id);
