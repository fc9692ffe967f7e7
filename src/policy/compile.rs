//! Compiling a [`PolicyDocument`] once: names checked, targets parsed, CEL conditions parsed
//! and tried on a sample request, so that a typo is a configuration error naming the rule rather
//! than a denial at three in the morning.

use std::{collections::HashSet, sync::Arc};

use super::{
    document::{Effect, PolicyDocument, RuleDocument},
    evaluate::{Call, Evaluation, Subject},
    native::Condition,
    rules::{Pattern, Policy, Rule},
};

/// Rules per policy, at most.
pub const MAX_RULES: usize = 200;
/// Bytes of one CEL condition, at most.
pub const MAX_CONDITION_BYTES: usize = 4096;

/// Why a policy was refused: which rule, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy rule {rule:?}: {reason}")]
pub struct PolicyError {
    /// The rule's name (or its position when it has none; `policy` for the whole document).
    pub rule: String,
    pub reason: String,
}

impl Policy {
    /// Compiles every rule; the first invalid one is the error.
    pub fn compile(document: &PolicyDocument) -> Result<Self, PolicyError> {
        if document.rules.len() > MAX_RULES {
            return Err(PolicyError {
                rule: "policy".into(),
                reason: format!("more than {MAX_RULES} rules"),
            });
        }
        let env = Arc::new(cel::Env::stdlib());
        let mut names = HashSet::new();
        let mut rules = Vec::with_capacity(document.rules.len());
        for (position, rule) in document.rules.iter().enumerate() {
            let label = if rule.name.is_empty() {
                format!("#{}", position + 1)
            } else {
                rule.name.clone()
            };
            let fail = |reason: String| PolicyError {
                rule: label.clone(),
                reason,
            };
            if !names.insert(rule.name.as_str()) {
                return Err(fail("another rule has the same name".into()));
            }
            rules.push(compile_rule(&env, rule).map_err(fail)?);
        }
        let policy = Self {
            default: document.default,
            rules,
            env,
        };
        policy.try_conditions()?;
        Ok(policy)
    }

    /// Evaluates every condition once on a sample request: an undeclared variable (`usr.groups`)
    /// or a condition that is not a boolean is found now. Missing keys are fine (a claim a user
    /// may not have).
    fn try_conditions(&self) -> Result<(), PolicyError> {
        let claims = Default::default();
        let sample = Subject {
            subject: "sample",
            email: Some("sample@example.com"),
            name: Some("Sample"),
            claims: &claims,
            scopes: "mcp",
            client_id: "sample-client",
            tenant: "sample",
        };
        let evaluation = Evaluation::new(self, &sample);
        let call = Call {
            method: "tools/call",
            target: Some("sample_tool"),
        };
        for rule in &self.rules {
            if let Some(program) = &rule.when {
                evaluation
                    .condition(program, &call)
                    .or_else(|e| match e {
                        cel::ExecutionError::NoSuchKey(_) => Ok(false),
                        other => Err(other),
                    })
                    .map_err(|e| PolicyError {
                        rule: rule.name.to_string(),
                        reason: format!("`when` cannot be evaluated: {e}"),
                    })?;
            }
        }
        Ok(())
    }
}

fn compile_rule(env: &cel::Env, rule: &RuleDocument) -> Result<Rule, String> {
    if rule.name.is_empty() || rule.name.len() > 64 || rule.name.chars().any(char::is_control) {
        return Err("a rule needs a name of 1 to 64 characters".into());
    }
    if rule.methods.iter().any(String::is_empty) {
        return Err("a method must not be empty".into());
    }
    let targets = rule
        .targets
        .iter()
        .map(String::as_str)
        .map(pattern)
        .collect::<Result<Vec<_>, _>>()?;
    if !rule.scopes.is_empty() && rule.effect == Effect::Deny {
        return Err("`scopes` (step-up) is for allow rules".into());
    }
    if rule
        .scopes
        .iter()
        .any(|s| s.is_empty() || s.contains([' ', '"', '\\']))
    {
        return Err("a scope must be a non-empty scope token".into());
    }
    let when = match &rule.when {
        None => None,
        Some(source) if source.len() > MAX_CONDITION_BYTES => {
            return Err(format!("`when` is longer than {MAX_CONDITION_BYTES} bytes"));
        }
        Some(source) => Some(
            env.compile(source)
                .map_err(|e| format!("`when` is not valid CEL: {e}"))?,
        ),
    };
    let native = rule.when.as_deref().and_then(Condition::recognise);
    Ok(Rule {
        name: rule.name.as_str().into(),
        effect: rule.effect,
        methods: rule.methods.iter().map(|m| m.as_str().into()).collect(),
        targets: targets.into(),
        when,
        native,
        scopes: rule.scopes.iter().map(|s| s.as_str().into()).collect(),
    })
}

fn pattern(target: &str) -> Result<Pattern, String> {
    match target.strip_suffix('*') {
        _ if target.is_empty() => Err("a target must not be empty".into()),
        Some(prefix) if prefix.contains('*') => {
            Err(format!("target {target:?}: `*` only at the end"))
        }
        Some(prefix) => Ok(Pattern::Prefix(prefix.into())),
        None if target.contains('*') => Err(format!("target {target:?}: `*` only at the end")),
        None => Ok(Pattern::Exact(target.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, when: Option<&str>) -> RuleDocument {
        RuleDocument {
            name: name.into(),
            effect: Effect::Allow,
            methods: vec!["tools/call".into()],
            targets: vec![],
            when: when.map(str::to_owned),
            scopes: vec![],
        }
    }

    fn compile(rules: Vec<RuleDocument>) -> Result<Policy, PolicyError> {
        Policy::compile(&PolicyDocument {
            default: Effect::Deny,
            rules,
        })
    }

    #[test]
    fn invalid_cel_is_refused_naming_the_rule() {
        let e = compile(vec![
            rule("ok", None),
            rule("broken", Some("user.groups ===")),
        ]);
        assert_eq!(e.unwrap_err().rule, "broken");
    }

    #[test]
    fn an_undeclared_variable_or_a_non_boolean_condition_is_refused() {
        let typo = compile(vec![rule("typo", Some("'a' in usr.groups"))]).unwrap_err();
        assert_eq!(typo.rule, "typo");
        let number = compile(vec![rule("number", Some("1 + 1"))]).unwrap_err();
        assert_eq!(number.rule, "number");
    }

    #[test]
    fn conditions_over_every_variable_compile() {
        let ok = "'eng' in user.groups && token.client_id != '' && tenant == 'sample' \
                  && request.method == 'tools/call' && user.groups.exists(g, g == 'x') == false \
                  && (has(user.claims.hd) ? user.claims.hd == 'example.com' : true)";
        compile(vec![rule("all", Some(ok))]).unwrap();
    }

    #[test]
    fn duplicate_names_bad_targets_and_step_up_on_deny_are_refused() {
        assert!(compile(vec![rule("a", None), rule("a", None)]).is_err());
        let mut star = rule("star", None);
        star.targets = vec!["re*ad".into()];
        assert!(compile(vec![star]).is_err());
        let mut deny = rule("deny", None);
        deny.effect = Effect::Deny;
        deny.scopes = vec!["x".into()];
        assert!(compile(vec![deny]).is_err());
    }
}
