//! Reading a condition of a recognised shape ([`super::native`]): the atoms it is made of and
//! the small tokenizer and parser that find them in the source; anything else is CEL's.

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Atom {
    /// `'needle' in list`.
    In { needle: Box<str>, list: List },
    /// `has(user.claims.name)`.
    HasClaim(Box<str>),
    /// `text == 'literal'` (or `!=` when `equal` is false).
    Compare {
        text: Text,
        literal: Box<str>,
        equal: bool,
    },
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(super) enum List {
    Groups,
    Roles,
    Scopes,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Text {
    Sub,
    Email,
    Name,
    ClientId,
    Tenant,
    Method,
    Target,
    Claim(Box<str>),
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Token<'a> {
    /// A dotted path of identifiers (`user.claims.hd`), or a single identifier (`in`, `has`).
    Path(Vec<&'a str>),
    /// A quoted string without escapes: its content.
    Literal(&'a str),
    And,
    Equal,
    NotEqual,
    Open,
    Close,
}

/// Splits `source` into tokens, or `None` at anything outside the recognised shapes (escapes,
/// raw or byte strings, comments, numbers, other operators).
pub(super) fn tokens(source: &str) -> Option<Vec<Token<'_>>> {
    let mut tokens = Vec::new();
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        if matches!(c, ' ' | '\t' | '\n' | '\r') {
            rest = rest.get(1..)?;
            continue;
        }
        let two = rest.get(..2);
        let (token, length) = match c {
            '&' if two == Some("&&") => (Token::And, 2),
            '=' if two == Some("==") => (Token::Equal, 2),
            '!' if two == Some("!=") => (Token::NotEqual, 2),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            '\'' | '"' => {
                let body = rest.get(1..)?;
                let end = body.find(c)?;
                let content = body.get(..end)?;
                if content.contains(['\\', '\'', '"']) || content.chars().any(char::is_control) {
                    return None;
                }
                (Token::Literal(content), end + 2)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let end = rest
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
                    .unwrap_or(rest.len());
                let path = rest.get(..end)?;
                let parts: Vec<&str> = path.split('.').collect();
                let identifier = |p: &&str| {
                    p.chars()
                        .next()
                        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                };
                if !parts.iter().all(identifier) {
                    return None;
                }
                (Token::Path(parts), end)
            }
            _ => return None,
        };
        tokens.push(token);
        rest = rest.get(length..)?;
    }
    Some(tokens)
}

/// One atom at the start of `tokens`, and the tokens after it.
pub(super) fn atom<'t>(tokens: &'t [Token<'t>]) -> Option<(Atom, &'t [Token<'t>])> {
    match tokens {
        [
            Token::Literal(needle),
            Token::Path(keyword),
            Token::Path(path),
            rest @ ..,
        ] if keyword.as_slice() == ["in"] => {
            let list = match path.as_slice() {
                ["user", "groups"] => List::Groups,
                ["user", "roles"] => List::Roles,
                ["token", "scopes"] => List::Scopes,
                _ => return None,
            };
            let needle = (*needle).into();
            Some((Atom::In { needle, list }, rest))
        }
        [
            Token::Path(has),
            Token::Open,
            Token::Path(path),
            Token::Close,
            rest @ ..,
        ] if has.as_slice() == ["has"] => match path.as_slice() {
            ["user", "claims", name] if !reserved(name) => {
                Some((Atom::HasClaim((*name).into()), rest))
            }
            _ => None,
        },
        [
            Token::Path(path),
            operator,
            Token::Literal(literal),
            rest @ ..,
        ] => {
            let equal = match operator {
                Token::Equal => true,
                Token::NotEqual => false,
                _ => return None,
            };
            let text = match path.as_slice() {
                ["user", "sub"] => Text::Sub,
                ["user", "email"] => Text::Email,
                ["user", "name"] => Text::Name,
                ["token", "client_id"] => Text::ClientId,
                ["tenant"] => Text::Tenant,
                ["request", "method"] => Text::Method,
                ["request", "target"] => Text::Target,
                ["user", "claims", name] if !reserved(name) => Text::Claim((*name).into()),
                _ => return None,
            };
            let literal = (*literal).into();
            Some((
                Atom::Compare {
                    text,
                    literal,
                    equal,
                },
                rest,
            ))
        }
        _ => None,
    }
}

/// CEL's reserved words and literals: never a claim name here (CEL would read them otherwise).
fn reserved(name: &str) -> bool {
    matches!(
        name,
        "in" | "true"
            | "false"
            | "null"
            | "as"
            | "break"
            | "const"
            | "continue"
            | "else"
            | "for"
            | "function"
            | "if"
            | "import"
            | "let"
            | "loop"
            | "package"
            | "namespace"
            | "return"
            | "var"
            | "void"
            | "while"
    )
}
