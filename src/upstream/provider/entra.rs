//! Microsoft Entra ID's multi-tenant issuers. The discovery document of `…/common/v2.0` (and
//! `organizations`, `consumers`) names the issuer `https://login.microsoftonline.com/{tenantid}/v2.0`
//! with a literal placeholder, and each ID token's `iss` carries the user's own directory id,
//! which the token repeats as `tid`. So the expected issuer is the template filled with the
//! token's `tid` — a GUID, nothing else — and the signature check (keys shared by every tenant)
//! then vouches for both. A single-tenant issuer has no placeholder and is compared as is.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// The placeholder in Entra's tenant-independent discovery documents.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Whether a discovery document fetched for `configured` may name `named` as its issuer: the
/// same URL, or Entra's template whose placeholder stands for exactly one path segment of the
/// configured issuer (`common`, `organizations`, a tenant id).
pub fn discovery_names(named: &str, configured: &str) -> bool {
    let (named, configured) = (
        named.trim_end_matches('/'),
        configured.trim_end_matches('/'),
    );
    if named == configured {
        return true;
    }
    let Some((prefix, suffix)) = named.split_once(TENANT_PLACEHOLDER) else {
        return false;
    };
    configured
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .is_some_and(|segment| !segment.is_empty() && !segment.contains(['/', '{', '}']))
}

/// The issuer an ID token must carry when the known issuer is Entra's template: the template
/// with the token's `tid`. `None` when there is no placeholder (compare as configured) or the
/// token has no `tid` in GUID form (the template itself is then expected, and fails).
pub fn issuer_for(template: &str, id_token: &str) -> Option<String> {
    if !template.contains(TENANT_PLACEHOLDER) {
        return None;
    }
    let tid = unverified_claim(id_token, "tid")?;
    is_guid(&tid).then(|| template.replace(TENANT_PLACEHOLDER, &tid))
}

/// A string claim of a JWT's payload, read before its signature is checked: used only to pick
/// which issuer to require, never trusted on its own.
fn unverified_claim(jwt: &str, name: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}

/// `8-4-4-4-12` hexadecimal digits, as Entra writes directory ids.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const TID: &str = "9f6f3b1e-2a4c-4d8e-9b1a-0c2d3e4f5a6b";

    fn token(claims: &str) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.sig",
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn the_template_stands_for_one_path_segment_of_the_configured_issuer() {
        for configured in [
            "https://login.microsoftonline.com/common/v2.0",
            "https://login.microsoftonline.com/organizations/v2.0/",
            &format!("https://login.microsoftonline.com/{TID}/v2.0"),
        ] {
            assert!(discovery_names(TEMPLATE, configured), "{configured}");
        }
        for configured in [
            "https://login.microsoftonline.com/a/b/v2.0",
            "https://login.microsoftonline.com//v2.0",
            "https://evil.example/common/v2.0",
            "https://login.microsoftonline.com/common",
        ] {
            assert!(!discovery_names(TEMPLATE, configured), "{configured}");
        }
        assert!(discovery_names("https://a.test/", "https://a.test"));
        assert!(!discovery_names("https://b.test", "https://a.test"));
    }

    #[test]
    fn the_expected_issuer_is_the_template_filled_with_a_guid_tid() {
        let good = token(&format!(r#"{{"tid":"{TID}"}}"#));
        assert_eq!(
            issuer_for(TEMPLATE, &good).as_deref(),
            Some(format!("https://login.microsoftonline.com/{TID}/v2.0").as_str())
        );
        for bad in [
            r#"{"tid":"../evil"}"#,
            r#"{"tid":"common"}"#,
            r#"{"tid":"9f6f3b1e-2a4c-4d8e-9b1a-0c2d3e4f5a6b/x"}"#,
            r#"{"sub":"no-tid"}"#,
        ] {
            assert_eq!(issuer_for(TEMPLATE, &token(bad)), None, "{bad}");
        }
        assert_eq!(issuer_for("https://a.test", &good), None);
    }
}
