//! Deciding one call: the first matching rule, else the default. Conditions of the common shapes
//! are evaluated natively ([`super::native`]); the CEL context (the user, the token, the tenant)
//! is built once per request and only if some other condition is reached; rules without `when`
//! cost a few string comparisons.

use std::{collections::HashMap, sync::OnceLock};

use cel::{Context, ExecutionError, Value};

pub use super::input::{Call, Subject};
use super::{
    document::Effect,
    rules::{Policy, Rule},
};
use crate::domain::ClaimValue;

/// Methods every MCP session needs that carry no target: allowed by a `deny` default (a rule can
/// still deny them). Notifications (`notifications/…`) are allowed the same way.
const HOUSEKEEPING: [&str; 7] = [
    "initialize",
    "ping",
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "prompts/list",
    "logging/setLevel",
];

/// The answer for one call, naming the rule that decided (`default` when none matched).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<'p> {
    Allow {
        rule: &'p str,
    },
    Deny {
        rule: &'p str,
    },
    /// An allow rule matched but the token lacks these scopes.
    StepUp {
        rule: &'p str,
        scopes: Vec<&'p str>,
    },
}

impl Decision<'_> {
    pub fn rule(&self) -> &str {
        match self {
            Self::Allow { rule } | Self::Deny { rule } | Self::StepUp { rule, .. } => rule,
        }
    }
}

/// One request's evaluation of a policy: holds the CEL variables built for its subject.
pub struct Evaluation<'p, 's> {
    policy: &'p Policy,
    subject: &'s Subject<'s>,
    context: OnceLock<Context<'static, 'static>>,
}

impl<'p, 's> Evaluation<'p, 's> {
    pub fn new(policy: &'p Policy, subject: &'s Subject<'s>) -> Self {
        Self {
            policy,
            subject,
            context: OnceLock::new(),
        }
    }

    /// The decision for `call`. A condition that fails to evaluate (a claim the user lacks, a
    /// type error) denies: a policy never allows by accident.
    pub fn decide(&self, call: &Call<'_>) -> Decision<'p> {
        for rule in &self.policy.rules {
            if !rule.applies_to(call) {
                continue;
            }
            if let Some(program) = &rule.when {
                let native = rule
                    .native
                    .as_ref()
                    .and_then(|n| n.evaluate(self.subject, call));
                let verdict = match native {
                    Some(verdict) => Ok(verdict),
                    None => self.condition(program, call),
                };
                match verdict {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(error) => {
                        tracing::warn!(rule = %rule.name, %error, "a policy condition failed; denied");
                        return Decision::Deny { rule: &rule.name };
                    }
                }
            }
            return self.apply(rule);
        }
        let housekeeping =
            HOUSEKEEPING.contains(&call.method) || call.method.starts_with("notifications/");
        match self.policy.default {
            Effect::Deny if !housekeeping => Decision::Deny { rule: "default" },
            _ => Decision::Allow { rule: "default" },
        }
    }

    fn apply(&self, rule: &'p Rule) -> Decision<'p> {
        if rule.effect == Effect::Deny {
            return Decision::Deny { rule: &rule.name };
        }
        let granted = |wanted: &str| self.subject.scopes.split(' ').any(|s| s == wanted);
        let missing: Vec<&str> = rule
            .scopes
            .iter()
            .map(|s| &**s)
            .filter(|&s| !granted(s))
            .collect();
        if missing.is_empty() {
            Decision::Allow { rule: &rule.name }
        } else {
            Decision::StepUp {
                rule: &rule.name,
                scopes: rule.scopes.iter().map(|s| &**s).collect(),
            }
        }
    }

    /// Evaluates `program` for `call`: `Ok(bool)`, or why it could not be.
    pub(super) fn condition(
        &self,
        program: &cel::Program,
        call: &Call<'_>,
    ) -> Result<bool, ExecutionError> {
        let base = self
            .context
            .get_or_init(|| subject_context(self.policy, self.subject));
        let mut scope = base.new_inner_scope();
        scope.add_variable_from_value("request", request_value(call));
        match program.execute(&scope)? {
            Value::Bool(b) => Ok(b),
            other => Err(ExecutionError::UnexpectedType {
                got: other.type_of().to_string(),
                want: "bool".into(),
            }),
        }
    }
}

impl Rule {
    fn applies_to(&self, call: &Call<'_>) -> bool {
        let method = self.methods.is_empty() || self.methods.iter().any(|m| **m == *call.method);
        let target = self.targets.is_empty()
            || call
                .target
                .is_some_and(|t| self.targets.iter().any(|p| p.matches(t)));
        method && target
    }
}

/// `user`, `token` and `tenant`, as CEL values.
fn subject_context(policy: &Policy, s: &Subject<'_>) -> Context<'static, 'static> {
    let mut context = Context::with_env(policy.env.clone());
    let list = |name: &str| -> Value {
        s.claims
            .get(name)
            .map(ClaimValue::as_list)
            .unwrap_or_default()
            .into_iter()
            .map(Value::from)
            .collect::<Vec<Value>>()
            .into()
    };
    let claims: HashMap<String, Value> = s
        .claims
        .iter()
        .map(|(name, value)| (name.clone(), claim_value(value)))
        .collect();
    let user: HashMap<&str, Value> = HashMap::from([
        ("sub", Value::from(s.subject)),
        ("email", s.email.map(Value::from).unwrap_or(Value::Null)),
        ("name", s.name.map(Value::from).unwrap_or(Value::Null)),
        ("groups", list("groups")),
        ("roles", list("roles")),
        ("claims", claims.into()),
    ]);
    let scopes: Vec<Value> = s
        .scopes
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(Value::from)
        .collect();
    let token: HashMap<&str, Value> = HashMap::from([
        ("scopes", scopes.into()),
        ("client_id", Value::from(s.client_id)),
    ]);
    context.add_variable_from_value("user", user);
    context.add_variable_from_value("token", token);
    context.add_variable_from_value("tenant", s.tenant);
    context
}

fn claim_value(value: &ClaimValue) -> Value {
    match value {
        ClaimValue::Bool(b) => Value::Bool(*b),
        ClaimValue::Int(i) => Value::Int(*i),
        ClaimValue::Text(s) => Value::from(s.as_str()),
        ClaimValue::List(items) => items
            .iter()
            .map(|s| Value::from(s.as_str()))
            .collect::<Vec<Value>>()
            .into(),
    }
}

fn request_value(call: &Call<'_>) -> Value {
    HashMap::from([
        ("method", Value::from(call.method)),
        (
            "target",
            call.target.map(Value::from).unwrap_or(Value::Null),
        ),
    ])
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{domain::MappedClaims, policy::PolicyDocument};

    fn policy(toml: &str) -> Policy {
        let document: PolicyDocument = toml::from_str(toml).unwrap();
        Policy::compile(&document).unwrap()
    }

    fn subject<'a>(claims: &'a MappedClaims, scopes: &'a str) -> Subject<'a> {
        Subject {
            subject: "u1",
            email: Some("u1@example.com"),
            name: None,
            claims,
            scopes,
            client_id: "c1",
            tenant: "acme",
        }
    }

    fn call<'a>(method: &'a str, target: &'a str) -> Call<'a> {
        Call {
            method,
            target: Some(target),
        }
    }

    const POLICY: &str = r#"
        default = "deny"
        [[rules]]
        name = "no-deletes"
        effect = "deny"
        methods = ["tools/call"]
        targets = ["delete_*"]
        [[rules]]
        name = "admins-write"
        effect = "allow"
        methods = ["tools/call"]
        targets = ["write_issue"]
        when = "'admin' in user.roles"
        scopes = ["issues:write"]
        [[rules]]
        name = "readers"
        effect = "allow"
        methods = ["tools/call", "resources/read"]
        when = "'readers' in user.groups || user.claims.hd == 'example.com'"
    "#;

    #[test]
    fn the_first_matching_rule_decides_and_unmatched_calls_get_the_default() {
        let p = policy(POLICY);
        let claims = MappedClaims::from([(
            "groups".to_owned(),
            ClaimValue::List(vec!["readers".into()]),
        )]);
        let s = subject(&claims, "mcp");
        let e = Evaluation::new(&p, &s);
        assert_eq!(
            e.decide(&call("tools/call", "delete_issue")),
            Decision::Deny { rule: "no-deletes" }
        );
        assert_eq!(
            e.decide(&call("tools/call", "read_issue")),
            Decision::Allow { rule: "readers" }
        );
        assert_eq!(
            e.decide(&call("prompts/get", "p")),
            Decision::Deny { rule: "default" }
        );
        let list = Call {
            method: "tools/list",
            target: None,
        };
        assert_eq!(e.decide(&list), Decision::Allow { rule: "default" });
    }

    #[test]
    fn an_allow_rule_with_scopes_the_token_lacks_asks_for_a_step_up() {
        let p = policy(POLICY);
        let claims =
            MappedClaims::from([("roles".to_owned(), ClaimValue::List(vec!["admin".into()]))]);
        let narrow = subject(&claims, "mcp");
        assert_eq!(
            Evaluation::new(&p, &narrow).decide(&call("tools/call", "write_issue")),
            Decision::StepUp {
                rule: "admins-write",
                scopes: vec!["issues:write"]
            }
        );
        let wide = subject(&claims, "mcp issues:write");
        assert_eq!(
            Evaluation::new(&p, &wide).decide(&call("tools/call", "write_issue")),
            Decision::Allow {
                rule: "admins-write"
            }
        );
    }

    #[test]
    fn a_condition_that_fails_to_evaluate_denies() {
        // `user.claims.hd` is missing for this user: an error, not a silent false.
        let claims = MappedClaims::new();
        let s = subject(&claims, "mcp");
        let p = policy(POLICY);
        assert_eq!(
            Evaluation::new(&p, &s).decide(&call("tools/call", "read_issue")),
            Decision::Deny { rule: "readers" }
        );
    }

    #[test]
    fn targets_are_compared_exactly_without_case_folding() {
        let p = policy(POLICY);
        let claims = MappedClaims::from([(
            "groups".to_owned(),
            ClaimValue::List(vec!["readers".into()]),
        )]);
        let s = subject(&claims, "mcp");
        let e = Evaluation::new(&p, &s);
        // Not a `delete_*` target by its bytes: the deny rule does not match, and the readers'
        // rule (any tool) allows it. Deny-lists do not hold against look-alike names;
        // allow-lists under a `deny` default do.
        assert_eq!(
            e.decide(&call("tools/call", "Delete_issue")),
            Decision::Allow { rule: "readers" }
        );
        assert_eq!(
            e.decide(&call("Tools/Call", "read_issue")),
            Decision::Deny { rule: "default" }
        );
    }

    #[test]
    fn an_empty_policy_allows_everything() {
        let p = Policy::compile(&PolicyDocument::default()).unwrap();
        let claims = MappedClaims::new();
        let s = subject(&claims, "");
        assert_eq!(
            Evaluation::new(&p, &s).decide(&call("tools/call", "anything")),
            Decision::Allow { rule: "default" }
        );
    }
}
