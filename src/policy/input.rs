//! What a decision is asked about: who calls ([`Subject`]) and what is called ([`Call`]).
//! Read by the native conditions and by CEL evaluation alike.

use crate::domain::MappedClaims;

/// Who is calling: the user context and the access token's claims.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub subject: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub claims: &'a MappedClaims,
    /// The token's scopes, space-separated as in the token.
    pub scopes: &'a str,
    pub client_id: &'a str,
    /// The tenant's slug.
    pub tenant: &'a str,
}

/// What is called: the JSON-RPC method and its target (tool name, resource URI, prompt name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call<'a> {
    pub method: &'a str,
    pub target: Option<&'a str>,
}
