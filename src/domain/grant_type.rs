//! OAuth grant types: what `/token` is asked for, and what a client registered to use.

/// Parsed once: from the `grant_type` parameter at `/token`, and from `oauth_clients.grant_types`
/// in the store mapper, so nothing behind the edge compares grant-type strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    /// RFC 6749 section 4.1.3.
    AuthorizationCode,
    /// RFC 6749 section 6, rotating (OAuth 2.1 section 4.3.1).
    RefreshToken,
    /// RFC 8693: an MCP server exchanges a user's MCP access token for the upstream one. Never
    /// registered by a client (MCP servers authenticate with their own credentials).
    TokenExchange,
}

impl GrantType {
    pub const TOKEN_EXCHANGE: &'static str = "urn:ietf:params:oauth:grant-type:token-exchange";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::TokenExchange => Self::TOKEN_EXCHANGE,
        }
    }

    /// `None` for a grant type the bridge does not implement (`unsupported_grant_type` at
    /// `/token`; a corrupt row in the store).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            Self::TOKEN_EXCHANGE => Some(Self::TokenExchange),
            _ => None,
        }
    }

    /// Every value parsed, or `None` if any is unknown.
    pub fn parse_all<S: AsRef<str>>(values: &[S]) -> Option<Vec<Self>> {
        values.iter().map(|v| Self::parse(v.as_ref())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::GrantType;

    #[test]
    fn every_grant_type_parses_back_from_its_wire_name() {
        for g in [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::TokenExchange,
        ] {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
    }

    #[test]
    fn an_unimplemented_grant_type_is_not_parsed() {
        assert_eq!(GrantType::parse("password"), None);
        assert_eq!(GrantType::parse("client_credentials"), None);
        assert_eq!(GrantType::parse("Authorization_Code"), None);
    }

    #[test]
    fn a_list_with_one_unknown_grant_type_is_refused_whole() {
        assert_eq!(
            GrantType::parse_all(&["authorization_code", "refresh_token"]),
            Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken])
        );
        assert_eq!(
            GrantType::parse_all(&["authorization_code", "implicit"]),
            None
        );
    }
}
