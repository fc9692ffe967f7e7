//! A client's `client_name` (RFC 7591 section 2), as the consent page shows it. The name is
//! only what the client says it is; what it must not do is read differently from what it is:
//! invisible or reordering characters ("Trojan Source", CVE-2021-42574; UTS #55), fillers that
//! render as nothing, and stacks of combining marks that paint over the rest of the page.

use std::fmt;

/// A checked client name: trimmed, non-empty, bounded, displayable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientNameError {
    #[error("client_name must be at most {MAX_CHARS} characters")]
    TooLong,
    #[error(
        "client_name must not contain control, bidirectional formatting or invisible (default-ignorable) characters"
    )]
    Invisible,
    #[error(
        "client_name must not stack more than {MAX_MARKS_IN_A_ROW} combining marks on a character, nor be mostly marks"
    )]
    CombiningMarks,
}

pub const MAX_CHARS: usize = 200;
/// Enough for every living script's decomposed letters (Vietnamese uses two).
pub const MAX_MARKS_IN_A_ROW: usize = 2;

impl ClientName {
    /// `Ok(None)` for a name that is empty once trimmed.
    pub fn parse(given: &str) -> Result<Option<Self>, ClientNameError> {
        let name = given.trim();
        if name.chars().count() > MAX_CHARS {
            return Err(ClientNameError::TooLong);
        }
        if name
            .chars()
            .any(|c| c.is_control() || is_default_ignorable(c))
        {
            return Err(ClientNameError::Invisible);
        }
        check_marks(name)?;
        Ok((!name.is_empty()).then(|| Self(name.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// At most [`MAX_MARKS_IN_A_ROW`] combining marks (General_Category M) after a character, and
/// no more marks than other characters in the whole name.
fn check_marks(name: &str) -> Result<(), ClientNameError> {
    let (mut run, mut marks, mut others) = (0usize, 0usize, 0usize);
    for c in name.chars() {
        if unicode_normalization::char::is_combining_mark(c) {
            run += 1;
            marks += 1;
            if run > MAX_MARKS_IN_A_ROW {
                return Err(ClientNameError::CombiningMarks);
            }
        } else {
            run = 0;
            others += 1;
        }
    }
    if marks > others {
        return Err(ClientNameError::CombiningMarks);
    }
    Ok(())
}

/// Unicode `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt, Unicode 15.1), which
/// includes every `Bidi_Control` character (U+061C, U+200E/F, U+202A..E, U+2066..9): characters
/// a renderer shows as nothing, so a name carrying them reads differently from what it is.
/// The table is short and stable (assignments to it are frozen by the stability policy).
pub fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_in_many_scripts_are_accepted() {
        for ok in [
            "Claude Desktop",
            "Éloïse's Client",
            "Cle\u{301}ment",
            "Vie\u{323}\u{302}t",
            "हिन्दी क्लाइंट",
            "日本語クライアント",
            "Клиент",
            "عميل",
        ] {
            assert!(ClientName::parse(ok).unwrap().is_some(), "{ok}");
        }
        assert_eq!(ClientName::parse("   ").unwrap(), None);
    }

    #[test]
    fn bidi_controls_and_invisible_characters_are_refused() {
        for c in [
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{3164}',
            '\u{115F}',
            '\u{1160}',
            '\u{FFA0}',
            '\u{FE0F}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}',
            '\u{E0100}',
            '\u{180E}',
            '\u{034F}',
        ] {
            let name = format!("Claude{c}Desktop");
            assert_eq!(
                ClientName::parse(&name),
                Err(ClientNameError::Invisible),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn stacks_of_combining_marks_are_refused() {
        let zalgo = format!("Cl{}aude", "\u{0336}\u{0334}\u{0335}");
        assert_eq!(
            ClientName::parse(&zalgo),
            Err(ClientNameError::CombiningMarks)
        );
        let mostly_marks = "a\u{301}\u{302}b\u{301}\u{302}";
        assert_eq!(
            ClientName::parse(mostly_marks),
            Err(ClientNameError::CombiningMarks)
        );
    }

    #[test]
    fn a_name_longer_than_the_limit_is_refused() {
        assert_eq!(
            ClientName::parse(&"a".repeat(MAX_CHARS + 1)),
            Err(ClientNameError::TooLong)
        );
    }
}
