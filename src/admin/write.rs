//! The one path every admin change takes: begin a transaction, write, record the audit entry
//! and the cache events on that same transaction, commit, then apply the events here (every
//! other replica gets them through LISTEN/NOTIFY when the transaction commits). Keeping the skeleton in one place is what guarantees no
//! change without its entry, no entry for a rolled-back change, and no cache event for a
//! change that did not commit.

use std::ops::{Deref, DerefMut};

use serde::Serialize;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::{auth::Admin, problem::AdminError};
use crate::{
    coherence::{self, CacheEvent},
    services::Services,
    store::audit::{self, AuditEntry},
};

/// Every change the admin API audits; its name and target type are what the audit log
/// stores and operators filter on, so they never change once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    TenantCreate,
    TenantUpdate,
    TenantDelete,
    ProviderCreate,
    ProviderUpdate,
    ProviderDelete,
    ServerCreate,
    ServerUpdate,
    ServerDelete,
    PolicyPut,
    PolicyDelete,
    ClientDelete,
    ConsentRevoke,
    GrantRevoke,
    KeyRotate,
    TenantCacheFlush,
    GrantCacheFlush,
    SweeperRun,
    RemoteOAuthSet,
    RemoteOAuthDelete,
}

impl Action {
    /// The `action` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantCreate => "tenant.create",
            Self::TenantUpdate => "tenant.update",
            Self::TenantDelete => "tenant.delete",
            Self::ProviderCreate => "provider.create",
            Self::ProviderUpdate => "provider.update",
            Self::ProviderDelete => "provider.delete",
            Self::ServerCreate => "mcp_server.create",
            Self::ServerUpdate => "mcp_server.update",
            Self::ServerDelete => "mcp_server.delete",
            Self::PolicyPut => "mcp_server.policy.put",
            Self::PolicyDelete => "mcp_server.policy.delete",
            Self::ClientDelete => "client.delete",
            Self::ConsentRevoke => "consent.revoke",
            Self::GrantRevoke => "grant.revoke",
            Self::KeyRotate => "signing_key.rotate",
            Self::TenantCacheFlush | Self::GrantCacheFlush => "cache.flush",
            Self::SweeperRun => "sweeper.run",
            Self::RemoteOAuthSet => "mcp_server.remote_oauth.set",
            Self::RemoteOAuthDelete => "mcp_server.remote_oauth.delete",
        }
    }

    /// The `target_type` column: what kind of row `target_id` names.
    fn target_type(self) -> &'static str {
        match self {
            Self::TenantCreate | Self::TenantUpdate | Self::TenantDelete => "tenant",
            Self::TenantCacheFlush => "tenant",
            Self::ProviderCreate | Self::ProviderUpdate | Self::ProviderDelete => "provider",
            Self::ServerCreate | Self::ServerUpdate | Self::ServerDelete => "mcp_server",
            Self::RemoteOAuthSet | Self::RemoteOAuthDelete => "mcp_server",
            Self::PolicyPut | Self::PolicyDelete => "mcp_server",
            Self::ClientDelete => "client",
            Self::ConsentRevoke => "consent",
            Self::GrantRevoke | Self::GrantCacheFlush => "grant",
            Self::KeyRotate => "signing_key",
            Self::SweeperRun => "sweeper",
        }
    }
}

/// One audit entry. `before` and `after` are the API's own views of the row, which never hold
/// a secret (write-only fields appear only as `*_set` flags).
pub struct Entry {
    action: Action,
    target_id: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
}

impl Entry {
    pub fn new(action: Action, target_id: impl ToString) -> Self {
        Self {
            action,
            target_id: target_id.to_string(),
            before: None,
            after: None,
        }
    }

    /// The row as it was (for updates and deletions).
    pub fn before(mut self, view: &impl Serialize) -> Self {
        self.before = snapshot(view);
        self
    }

    /// The row as it is now (for creations and updates).
    pub fn after(mut self, view: &impl Serialize) -> Self {
        self.after = snapshot(view);
        self
    }
}

/// A view as audit JSON (`None` if it somehow does not serialize: the change still happens).
fn snapshot<T: Serialize>(view: &T) -> Option<serde_json::Value> {
    serde_json::to_value(view).ok()
}

/// An admin change in progress: its transaction (write through it as a `PgConnection`), the
/// caller who makes it and the tenant it concerns. Dropped without [`commit`](Self::commit),
/// everything rolls back.
pub struct AuditedWrite<'a> {
    tx: Transaction<'static, Postgres>,
    state: &'a Services,
    admin: &'a Admin,
    tenant_id: Option<Uuid>,
}

impl Admin {
    /// Begins a change to `tenant_id` (`None` for one that spans every tenant).
    pub async fn begin<'a>(
        &'a self,
        state: &'a Services,
        tenant_id: Option<Uuid>,
    ) -> Result<AuditedWrite<'a>, AdminError> {
        Ok(AuditedWrite {
            tx: state.pool.begin().await?,
            state,
            admin: self,
            tenant_id,
        })
    }

    /// Audits something that is not a row change (a cache flush, a sweep) in its own
    /// transaction, then publishes `events`.
    pub async fn record(
        &self,
        state: &Services,
        tenant_id: Option<Uuid>,
        entry: Entry,
        events: impl IntoIterator<Item = CacheEvent>,
    ) -> Result<(), AdminError> {
        self.begin(state, tenant_id)
            .await?
            .finish(entry, events)
            .await
    }
}

impl AuditedWrite<'_> {
    /// For a change that creates its tenant: the entry belongs to the tenant just inserted.
    pub fn set_tenant(&mut self, tenant_id: Uuid) {
        self.tenant_id = Some(tenant_id);
    }

    /// Records `entry` with this caller as the actor, on the change's own transaction.
    pub async fn audit(&mut self, entry: Entry) -> Result<(), AdminError> {
        audit::record(
            &mut self.tx,
            &AuditEntry {
                tenant_id: self.tenant_id,
                actor: &self.admin.name,
                action: entry.action.as_str(),
                target_type: Some(entry.action.target_type()),
                target_id: Some(entry.target_id),
                before: entry.before,
                after: entry.after,
                request_id: self.admin.request_id.as_deref(),
            },
        )
        .await?;
        Ok(())
    }

    /// Announces `events` on the transaction (Postgres sends them to the other replicas exactly
    /// when it commits), commits, then applies them to this replica's caches in order.
    pub async fn commit(
        mut self,
        events: impl IntoIterator<Item = CacheEvent>,
    ) -> Result<(), AdminError> {
        let events: Vec<CacheEvent> = events.into_iter().collect();
        for event in &events {
            coherence::announce_in(&mut self.tx, event).await?;
        }
        self.tx.commit().await?;
        for event in &events {
            coherence::apply(&self.state.caches, event).await;
        }
        Ok(())
    }

    /// [`audit`](Self::audit) then [`commit`](Self::commit): the end of a one-row change.
    pub async fn finish(
        mut self,
        entry: Entry,
        events: impl IntoIterator<Item = CacheEvent>,
    ) -> Result<(), AdminError> {
        self.audit(entry).await?;
        self.commit(events).await
    }
}

impl Deref for AuditedWrite<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for AuditedWrite<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}
