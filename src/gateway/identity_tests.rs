use super::*;

fn identity() -> Identity {
    Identity {
        subject: "user-1".into(),
        email: Some("ada@example.com".into()),
        name: Some("Ada\r\nX-Auth-Subject: admin".into()),
        tenant: "acme".into(),
        client_id: "client-1".into(),
        scopes: vec!["mcp".into(), "read".into()],
        upstream_token: Some("upstream-secret".into()),
        assertion: None,
        groups: None,
        roles: None,
    }
}

#[test]
fn groups_and_roles_are_sent_only_when_opted_in_with_commas_encoded_inside_values() {
    use crate::domain::ClaimValue;
    let user = CachedUser {
        claims: [
            (
                "groups".to_owned(),
                ClaimValue::List(vec!["eng".into(), "a,b".into(), "Zoë".into()]),
            ),
            ("roles".to_owned(), ClaimValue::Text("admin".into())),
        ]
        .into(),
        ..CachedUser::default()
    };
    let mut headers = HeaderMap::new();
    identity().headers().replace_headers(&mut headers);
    assert!(headers.get(GROUPS).is_none());
    identity()
        .with_claim_headers(&user)
        .headers()
        .replace_headers(&mut headers);
    assert_eq!(headers[GROUPS], "eng,a%2Cb,Zo%C3%AB");
    assert_eq!(headers[ROLES], "admin");
}

#[test]
fn a_value_with_a_newline_is_percent_encoded_not_split() {
    let mut headers = HeaderMap::new();
    identity().headers().replace_headers(&mut headers);
    assert_eq!(headers[NAME], "Ada%0D%0AX-Auth-Subject: admin");
    assert_eq!(headers[SUBJECT], "user-1");
    assert_eq!(headers.get_all(SUBJECT).iter().count(), 1);
}

#[test]
fn non_ascii_and_percent_are_encoded() {
    let mut headers = HeaderMap::new();
    let mut identity = identity();
    identity.name = Some("José 100%".into());
    identity.headers().replace_headers(&mut headers);
    assert_eq!(headers[NAME], "Jos%C3%A9 100%25");
}

#[test]
fn spoofed_identity_headers_are_replaced_and_absent_ones_removed() {
    let mut headers = HeaderMap::new();
    headers.insert("x-auth-subject", HeaderValue::from_static("admin"));
    headers.insert("x-auth-assertion", HeaderValue::from_static("forged"));
    headers.insert("x-auth-anything", HeaderValue::from_static("forged"));
    identity().headers().replace_headers(&mut headers);
    assert_eq!(headers[SUBJECT], "user-1");
    assert!(headers.get(ASSERTION).is_none());
    assert!(headers.get("x-auth-anything").is_none());
    assert_eq!(headers[SCOPES], "mcp read");
    assert!(headers[UPSTREAM_TOKEN].is_sensitive());
}

/// The gateway's per-request path (`IdentityHeaders::of`) and the `Identity` one send the
/// same headers, byte for byte and sensitivity alike.
#[test]
fn headers_built_for_a_token_are_those_of_its_identity() {
    use crate::domain::ClaimValue;
    let claims = TokenClaims::from(crate::tokens::AccessClaims {
        iss: "https://bridge.example.com/t/acme".into(),
        sub: "user-1".into(),
        aud: "https://bridge.example.com/t/acme/mcp/github".into(),
        client_id: "client-1".into(),
        scope: "mcp  read".into(),
        jti: uuid::Uuid::nil(),
        iat: 0,
        exp: 1,
    });
    let user = CachedUser {
        email: Some("".into()),
        name: Some("José\r\n100%".into()),
        claims: [(
            "groups".to_owned(),
            ClaimValue::List(vec!["eng".into(), "a,b".into()]),
        )]
        .into(),
    };
    let signed = Signed::for_tests(0);
    let jwt = signed.encode(&claims, &user).unwrap();
    for claim_headers in [false, true] {
        let mut identity = Identity::of(&claims, "acme", &user, Some(jwt.clone()));
        if claim_headers {
            identity = identity.with_claim_headers(&user);
        }
        let (mut expected, mut built) = (HeaderMap::new(), HeaderMap::new());
        identity.headers().replace_headers(&mut expected);
        IdentityHeaders::of(&claims, "acme", &user, Some(&signed), claim_headers)
            .replace_headers(&mut built);
        assert_eq!(built, expected);
        for (name, value) in &expected {
            assert_eq!(built[name].is_sensitive(), value.is_sensitive(), "{name}");
        }
        assert_eq!(built[NAME], "Jos%C3%A9%0D%0A100%25");
        assert_eq!(built[SCOPES], "mcp read");
        assert!(built.get(EMAIL).is_none());
        assert!(built[ASSERTION].is_sensitive());
        assert_eq!(built.get(GROUPS).is_some(), claim_headers);
    }
    let mut unsigned = HeaderMap::new();
    IdentityHeaders::of(&claims, "acme", &user, None, false).replace_headers(&mut unsigned);
    assert!(unsigned.get(ASSERTION).is_none());
    assert_eq!(unsigned[SUBJECT], "user-1");
}

#[test]
fn debug_leaves_the_credentials_out() {
    let shown = format!("{:?}", identity());
    assert!(!shown.contains("upstream-secret"));
}
