//! Conditions of the common shapes, recognised when the policy is compiled and evaluated without
//! CEL: a conjunction (`&&`) of `'x' in user.groups` (or `user.roles`, `token.scopes`),
//! `has(user.claims.x)`, and `==` / `!=` between a string variable and a string literal.
//!
//! Running such a condition through the CEL interpreter costs microseconds (its variables are
//! CEL values built per request and looked up per rule); here it is a few string comparisons.
//! The compiled CEL program is kept and stays the reference: whenever an operand is not a plain
//! string here (a missing claim, a `null` email, a claim that is a list), [`Condition::evaluate`]
//! answers `None` and the caller runs CEL, so errors and their denials are CEL's own.

use super::{
    input::{Call, Subject},
    native_parse::{Atom, List, Text, Token, atom, tokens},
};
use crate::domain::ClaimValue;

/// A condition of a recognised shape: every atom must hold.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Condition {
    atoms: Box<[Atom]>,
}

impl Condition {
    /// The condition `source` as native atoms, or `None` when it is not of a recognised shape
    /// (then only CEL evaluates it).
    pub(super) fn recognise(source: &str) -> Option<Self> {
        let tokens = tokens(source)?;
        let mut atoms = Vec::new();
        let mut rest = tokens.as_slice();
        loop {
            let (atom, after) = atom(rest)?;
            atoms.push(atom);
            match after {
                [] => break,
                [Token::And, more @ ..] => rest = more,
                _ => return None,
            }
        }
        Some(Self {
            atoms: atoms.into(),
        })
    }

    /// `Some(verdict)` when every atom could be evaluated natively; `None` when one could not
    /// (an operand that is not a plain string), and CEL must decide, errors included.
    pub(super) fn evaluate(&self, subject: &Subject<'_>, call: &Call<'_>) -> Option<bool> {
        // Every atom is evaluated (no short circuit), so that any atom CEL might turn into an
        // error sends the whole condition to CEL whatever the others say.
        let mut all = true;
        for atom in &self.atoms {
            all &= atom.evaluate(subject, call)?;
        }
        Some(all)
    }
}

impl Atom {
    fn evaluate(&self, subject: &Subject<'_>, call: &Call<'_>) -> Option<bool> {
        match self {
            Self::In { needle, list } => Some(match list {
                List::Groups | List::Roles => {
                    let name = if *list == List::Groups {
                        "groups"
                    } else {
                        "roles"
                    };
                    subject
                        .claims
                        .get(name)
                        .is_some_and(|claim| claim.as_list().contains(&&**needle))
                }
                List::Scopes => subject
                    .scopes
                    .split(' ')
                    .any(|s| !s.is_empty() && s == &**needle),
            }),
            Self::HasClaim(name) => Some(subject.claims.contains_key(&**name)),
            Self::Compare {
                text,
                literal,
                equal,
            } => {
                let value = match text {
                    Text::Sub => Some(subject.subject),
                    Text::Email => subject.email,
                    Text::Name => subject.name,
                    Text::ClientId => Some(subject.client_id),
                    Text::Tenant => Some(subject.tenant),
                    Text::Method => Some(call.method),
                    Text::Target => call.target,
                    Text::Claim(name) => match subject.claims.get(&**name) {
                        Some(ClaimValue::Text(s)) => Some(s.as_str()),
                        _ => None,
                    },
                }?;
                Some((value == &**literal) == *equal)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::MappedClaims,
        policy::{Evaluation, Policy, PolicyDocument},
    };

    const RECOGNISED: [&str; 12] = [
        "'writers' in user.groups",
        "'admin' in user.roles && token.client_id != ''",
        "\"mcp:tools\" in token.scopes",
        "'writers' in user.groups && user.claims.hd == 'example.com'",
        "has(user.claims.hd)",
        "has(user.claims.missing) && user.claims.hd != 'other.org'",
        "user.email == 'jane@example.com'",
        "user.name != 'Jane'",
        "user.sub == 'u1' && tenant == 'acme'",
        "request.method == 'tools/call' && request.target == 'write_issue'",
        "user.claims.level == '3'",
        "user.claims.groups == 'readers'",
    ];

    const NOT_RECOGNISED: [&str; 10] = [
        "'a' in user.groups || 'b' in user.groups",
        "!('a' in user.groups)",
        "('a' in user.groups)",
        "'a\\'b' in user.groups",
        "r'a' in user.groups",
        "'''a''' in user.groups",
        "user.groups.exists(g, g == 'x')",
        "'a' in user.claims.teams",
        "tenant == 1",
        "'a' in user.groups &&",
    ];

    #[test]
    fn common_shapes_are_recognised_and_others_left_to_cel() {
        for source in RECOGNISED {
            assert!(Condition::recognise(source).is_some(), "{source}");
        }
        for source in NOT_RECOGNISED {
            assert_eq!(Condition::recognise(source), None, "{source}");
        }
    }

    /// Whatever the subject and the call, a native verdict is CEL's verdict; where CEL fails
    /// (a missing claim, a `null`), the native evaluation defers to it.
    #[test]
    fn native_verdicts_agree_with_cel() {
        let subjects = [
            MappedClaims::from([
                (
                    "groups".to_owned(),
                    ClaimValue::List(vec!["writers".into(), "eng".into()]),
                ),
                ("roles".to_owned(), ClaimValue::Text("admin".into())),
                ("hd".to_owned(), ClaimValue::Text("example.com".into())),
                ("level".to_owned(), ClaimValue::Int(3)),
            ]),
            MappedClaims::from([
                ("groups".to_owned(), ClaimValue::Text("readers".into())),
                (
                    "hd".to_owned(),
                    ClaimValue::List(vec!["example.com".into()]),
                ),
                ("level".to_owned(), ClaimValue::Text("3".into())),
            ]),
            MappedClaims::new(),
        ];
        let calls = [
            Call {
                method: "tools/call",
                target: Some("write_issue"),
            },
            Call {
                method: "tools/list",
                target: None,
            },
        ];
        let document: PolicyDocument = toml::from_str(
            &RECOGNISED
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    format!("[[rules]]\nname = \"r{i}\"\neffect = \"allow\"\nwhen = '''{w} '''\n")
                })
                .collect::<String>(),
        )
        .unwrap();
        let policy = Policy::compile(&document).unwrap();
        let mut native_answers = 0;
        for claims in &subjects {
            for (email, name, scopes) in [
                (Some("jane@example.com"), Some("Jane"), "mcp mcp:tools"),
                (None, None, ""),
            ] {
                let subject = Subject {
                    subject: "u1",
                    email,
                    name,
                    claims,
                    scopes,
                    client_id: "c1",
                    tenant: "acme",
                };
                let evaluation = Evaluation::new(&policy, &subject);
                for call in &calls {
                    for rule in &policy.rules {
                        let native = rule.native.as_ref().unwrap().evaluate(&subject, call);
                        let program = rule.when.as_ref().unwrap();
                        let cel = evaluation.condition(program, call);
                        // `None`: CEL decides alone, as before.
                        if let Some(verdict) = native {
                            native_answers += 1;
                            assert_eq!(
                                cel.ok(),
                                Some(verdict),
                                "{} {claims:?} {call:?} {email:?}",
                                rule.name
                            );
                        }
                    }
                }
            }
        }
        assert!(native_answers > 60, "{native_answers}");
    }
}
