//! Filtering `tools/list`, `resources/list` and `prompts/list` results to what the user may
//! use: an item stays when the call it offers (`tools/call` of that name, …) is allowed or could
//! be after a step-up, and goes when it would be denied.

use serde_json::Value;

use super::evaluate::{Call, Decision, Evaluation};

/// Where a list result keeps its items and how an item is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListKind {
    /// The array under `result`.
    pub key: &'static str,
    /// The item's field that is the target.
    pub field: &'static str,
    /// The method an item is used with.
    pub used_with: &'static str,
}

/// The kind of list `method` returns, if its result is filtered.
pub fn list_kind(method: &str) -> Option<ListKind> {
    let kind = |key, field, used_with| ListKind {
        key,
        field,
        used_with,
    };
    match method {
        "tools/list" => Some(kind("tools", "name", "tools/call")),
        "resources/list" => Some(kind("resources", "uri", "resources/read")),
        "prompts/list" => Some(kind("prompts", "name", "prompts/get")),
        _ => None,
    }
}

/// Removes from a JSON-RPC response the items the user may not use; returns how many went.
/// A response that is an error, or has no such array, is left as it is.
pub fn filter_response(
    evaluation: &Evaluation<'_, '_>,
    kind: ListKind,
    response: &mut Value,
) -> usize {
    let Some(items) = response
        .get_mut("result")
        .and_then(|result| result.get_mut(kind.key))
        .and_then(Value::as_array_mut)
    else {
        return 0;
    };
    let before = items.len();
    items.retain(|item| {
        let target = item.get(kind.field).and_then(Value::as_str);
        let call = Call {
            method: kind.used_with,
            target,
        };
        target.is_some() && !matches!(evaluation.decide(&call), Decision::Deny { .. })
    });
    before - items.len()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        domain::MappedClaims,
        policy::{Policy, PolicyDocument, Subject},
    };

    #[test]
    fn denied_tools_leave_the_list_and_step_up_tools_stay() {
        let document: PolicyDocument = toml::from_str(
            r#"
            default = "deny"
            [[rules]]
            name = "read"
            effect = "allow"
            targets = ["read_*"]
            [[rules]]
            name = "write"
            effect = "allow"
            targets = ["write_issue"]
            scopes = ["issues:write"]
            "#,
        )
        .unwrap();
        let policy = Policy::compile(&document).unwrap();
        let claims = MappedClaims::new();
        let subject = Subject {
            subject: "u",
            email: None,
            name: None,
            claims: &claims,
            scopes: "mcp",
            client_id: "c",
            tenant: "t",
        };
        let evaluation = Evaluation::new(&policy, &subject);
        let mut response = json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": [
            {"name": "read_issue"}, {"name": "write_issue"}, {"name": "delete_issue"}, {"title": "no name"}
        ]}});
        let kind = list_kind("tools/list").unwrap();
        assert_eq!(filter_response(&evaluation, kind, &mut response), 2);
        let names: Vec<&str> = response["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["read_issue", "write_issue"]);
    }
}
