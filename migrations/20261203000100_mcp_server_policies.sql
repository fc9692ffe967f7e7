-- Per-tool authorization at the gateway (issue 16): one row per MCP server that has a policy
-- or sends the user's groups and roles as headers. A server without a row allows every call
-- and sends no claim headers (the behaviour before this table).
CREATE TABLE mcp_server_policies (
    server_id     uuid        PRIMARY KEY REFERENCES mcp_servers (id) ON DELETE CASCADE,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    document      jsonb       NULL,                        -- the policy as written (policy::PolicyDocument), compiled when loaded; NULL: no policy
    claim_headers boolean     NOT NULL DEFAULT false,      -- send X-Auth-Groups / X-Auth-Roles
    source        text        NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api')), -- who wrote it: the configuration file's wins at start-up
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mcp_server_policies_tenant ON mcp_server_policies (tenant_id);
