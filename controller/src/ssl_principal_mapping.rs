//! `ssl.principal.mapping.rules`: how the subject of a client certificate
//! becomes a principal name, with Kafka's rule syntax (`SslPrincipalMapper`):
//! a comma-separated list of `RULE:<regex>/<replacement>/[LU]` and
//! `DEFAULT`, tried in order. A rule applies when its regex matches the
//! whole subject (RFC 2253 form, `CN=alice,OU=eng,O=acme`); the name is then
//! the subject with every match replaced (Java's `$1` group references),
//! lower- (`L`) or upper-cased (`U`). `DEFAULT` gives the subject as it is.
//! When no rule applies, authentication fails, as in Kafka.

use regex::Regex;

/// One parsed rule.
#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        /// The regex anchored to the whole subject.
        whole: Regex,
        /// The regex as written, for the replacement.
        pattern: Regex,
        /// The replacement in the regex crate's syntax.
        replacement: String,
        case: Option<Case>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Case {
    Lower,
    Upper,
}

/// Parsed `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
pub struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

/// Splits `text` at the first unescaped `/`: (before, after).
fn split_unescaped_slash(text: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '/' => return Some((text.get(..i)?, text.get(i + 1..)?)),
            _ => {}
        }
    }
    None
}

/// Java's replacement syntax (`$1`, `\$`) in the regex crate's (`${1}`, `$$`).
fn replacement(java: &str) -> String {
    let mut out = String::new();
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {}
            },
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    out.push(d);
                    chars.next();
                }
                out.push('}');
            }
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

impl SslPrincipalMapper {
    /// Parses the rules.
    ///
    /// # Errors
    /// A rule that is neither `DEFAULT` nor `RULE:…/…/[LU]`, or whose regex
    /// does not compile.
    pub fn parse(text: &str) -> Result<SslPrincipalMapper, String> {
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) = split_unescaped_slash(after)
                    .ok_or_else(|| format!("rule {rest:?} has no `/` after its pattern"))?;
                let (java_replacement, after) = split_unescaped_slash(after)
                    .ok_or_else(|| format!("rule {rest:?} has no `/` after its replacement"))?;
                let (case, after) = match after.chars().next() {
                    Some('L') => (Some(Case::Lower), after.get(1..).unwrap_or_default()),
                    Some('U') => (Some(Case::Upper), after.get(1..).unwrap_or_default()),
                    _ => (None, after),
                };
                let pattern = pattern.replace("\\/", "/");
                let compile =
                    |p: &str| Regex::new(p).map_err(|e| format!("rule pattern {pattern:?}: {e}"));
                rules.push(Rule::Replace {
                    whole: compile(&format!("^(?:{pattern})$"))?,
                    pattern: compile(&pattern)?,
                    replacement: replacement(java_replacement),
                    case,
                });
                rest = after;
            } else {
                return Err(format!(
                    "invalid rule {rest:?}: expected DEFAULT or RULE:<regex>/<replacement>/[LU]"
                ));
            }
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after.trim_start();
            } else if !rest.is_empty() {
                return Err(format!("expected `,` between rules before {rest:?}"));
            }
        }
        Ok(SslPrincipalMapper { rules })
    }

    /// The principal name of certificate subject `subject` (RFC 2253 form):
    /// the first rule that applies, or `None` when none does.
    pub fn name(&self, subject: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| match rule {
            Rule::Default => Some(subject.to_string()),
            Rule::Replace {
                whole,
                pattern,
                replacement,
                case,
            } => {
                if !whole.is_match(subject) {
                    return None;
                }
                let name = pattern
                    .replace_all(subject, replacement.as_str())
                    .into_owned();
                Some(match case {
                    Some(Case::Lower) => name.to_lowercase(),
                    Some(Case::Upper) => name.to_uppercase(),
                    None => name,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_documented_rules_map_subjects() {
        // The examples of Kafka's security documentation.
        let mapper = SslPrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT",
        )
        .unwrap();
        assert_eq!(
            mapper
                .name("CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .as_deref(),
            Some("serviceuser")
        );
        assert_eq!(
            mapper
                .name("CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .as_deref(),
            Some("adminuser@admin")
        );
        assert_eq!(
            mapper.name("OU=x,cn=Bob.Smith,O=y").as_deref(),
            Some("bob.smith")
        );
        assert_eq!(mapper.name("O=nobody").as_deref(), Some("O=nobody"));
    }

    #[test]
    fn default_alone_keeps_the_subject_and_no_match_is_none() {
        let mapper = SslPrincipalMapper::parse("DEFAULT").unwrap();
        assert_eq!(mapper.name("CN=a,O=b").as_deref(), Some("CN=a,O=b"));
        let strict = SslPrincipalMapper::parse("RULE:^CN=(.*)$/$1/U").unwrap();
        assert_eq!(strict.name("CN=alice").as_deref(), Some("ALICE"));
        assert_eq!(strict.name("O=x"), None);
    }

    #[test]
    fn malformed_rules_are_refused() {
        for text in [
            "RULE:abc",
            "RULE:a/b",
            "NOPE",
            "DEFAULT DEFAULT",
            "RULE:(/x/",
        ] {
            assert!(SslPrincipalMapper::parse(text).is_err(), "{text}");
        }
    }
}
