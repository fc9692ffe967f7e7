//! Who is calling: `Authorization: Bearer <token>` against `admin.tokens` (stored as SHA-256),
//! each token global or bound to one tenant. The layer puts an [`Admin`] into the request;
//! handlers ask it whether the caller may touch a tenant.

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::problem::AdminError;
use crate::{
    config::AdminConfig,
    crypto::hash,
    domain::{TenantSlug, tenant::Tenant},
    services::Services,
    store,
    telemetry::request_id::RequestId,
};

/// The authenticated caller of one admin request, as the audit log names it.
#[derive(Clone, Debug)]
pub struct Admin {
    /// The token's `name` in the configuration: the audit log's actor.
    pub name: String,
    /// `Some` for a tenant-bound token: it sees and changes only this tenant.
    pub tenant: Option<TenantSlug>,
    pub request_id: Option<String>,
}

/// Matches the presented token's hash against every configured hash in constant time, and
/// against all of them (no early exit), so timing reveals neither a hash nor its position.
fn authenticate(config: &AdminConfig, headers: &HeaderMap) -> Result<Admin, AdminError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AdminError::unauthorized(
            "send an admin token as `Authorization: Bearer <token>`",
        ))?;
    let digest = hash::sha256_hex(presented.as_bytes());
    let mut found = None;
    for token in &config.tokens {
        if hash::constant_time_eq(digest.as_bytes(), token.sha256.as_bytes()) {
            found = Some(token);
        }
    }
    let token = found.ok_or(AdminError::unauthorized("the admin token is not valid"))?;
    Ok(Admin {
        name: token.name.clone(),
        tenant: token.tenant.clone(),
        request_id: None,
    })
}

/// The authentication layer of every `/admin/v1` route except the OpenAPI document.
pub async fn layer(State(state): State<Services>, mut request: Request, next: Next) -> Response {
    match authenticate(&state.config.admin, request.headers()) {
        Ok(mut admin) => {
            admin.request_id = request
                .extensions()
                .get::<RequestId>()
                .map(|r| r.as_str().to_owned());
            tracing::debug!(actor = %admin.name, "admin call");
            request.extensions_mut().insert(admin);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Admin>()
            .cloned()
            .ok_or(AdminError::unauthorized("not authenticated"))
    }
}

impl Admin {
    /// An end user acting on their own grants and consents from the account page: bound to
    /// their tenant, named `user:{subject}` in the audit log. Only the account page builds
    /// one, after checking that what it acts on is the user's own.
    pub fn end_user(tenant: TenantSlug, subject: &str, request_id: Option<String>) -> Self {
        Self {
            name: format!("user:{subject}"),
            tenant: Some(tenant),
            request_id,
        }
    }

    /// Operations across tenants (creating tenants, the sweeper, the global cache) need a
    /// global token.
    pub fn require_global(&self) -> Result<(), AdminError> {
        match self.tenant {
            None => Ok(()),
            Some(_) => Err(AdminError::forbidden(
                "this operation needs a global admin token; this token is bound to one tenant",
            )),
        }
    }

    /// Whether this token may touch the tenant named `slug` (before knowing whether it exists,
    /// so a tenant-bound token learns nothing about other tenants).
    pub fn may_access(&self, slug: &str) -> Result<(), AdminError> {
        match &self.tenant {
            Some(own) if own.as_str() != slug => Err(AdminError::forbidden(
                "this admin token is bound to another tenant",
            )),
            _ => Ok(()),
        }
    }

    /// Loads the tenant at `{slug}` if this token may see it: 403 for another tenant's token,
    /// 404 when there is no such tenant.
    pub async fn tenant(&self, state: &Services, slug: &str) -> Result<Tenant, AdminError> {
        self.may_access(slug)?;
        let unknown = || AdminError::not_found(format!("no tenant {slug:?}"));
        let parsed = TenantSlug::parse(slug).map_err(|_| unknown())?;
        store::tenants::find_tenant(&state.pool, &parsed)
            .await?
            .ok_or_else(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AdminTokenConfig;

    fn config() -> AdminConfig {
        AdminConfig {
            tokens: vec![AdminTokenConfig {
                name: "ops".into(),
                sha256: hash::sha256_hex(b"s3cret"),
                tenant: None,
            }],
            ..AdminConfig::default()
        }
    }

    fn bearer(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn a_configured_token_authenticates_as_its_name() {
        let admin = authenticate(&config(), &bearer("Bearer s3cret")).unwrap();
        assert_eq!(admin.name, "ops");
    }

    #[test]
    fn a_wrong_or_missing_token_is_401() {
        let e = authenticate(&config(), &bearer("Bearer nope")).unwrap_err();
        assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
        let e = authenticate(&config(), &HeaderMap::new()).unwrap_err();
        assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_tenant_bound_token_may_not_touch_another_tenant() {
        let admin = Admin {
            name: "a".into(),
            tenant: Some(TenantSlug::parse("acme").unwrap()),
            request_id: None,
        };
        assert!(admin.may_access("acme").is_ok());
        assert!(admin.may_access("other").is_err());
        assert!(admin.require_global().is_err());
    }
}
