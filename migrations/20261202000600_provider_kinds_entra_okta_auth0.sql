-- Issue 15 item 7: Microsoft Entra ID, Okta and Auth0 as provider kinds of their own.
ALTER TABLE upstream_providers DROP CONSTRAINT upstream_providers_kind_check;
ALTER TABLE upstream_providers ADD CONSTRAINT upstream_providers_kind_check
    CHECK (kind IN ('oidc', 'keycloak', 'google', 'atlassian', 'salesforce', 'github',
                    'entra', 'okta', 'auth0', 'dev'));
