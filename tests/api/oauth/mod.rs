//! Every way an authorization can go wrong, and the shape of each answer: an error page (never a
//! redirect) before the client and redirect URI are trusted, an RFC 6749 redirect after, RFC 6749
//! JSON at the token endpoint. One file per security property.

mod authorization_codes;
mod consent;
mod login_callback;
mod refresh_reuse;
mod refresh_scope;
mod setup_support;
mod token_endpoint_shape;
mod trusted_redirect_errors;
mod untrusted_redirect_uri;
