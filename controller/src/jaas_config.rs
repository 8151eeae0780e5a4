//! Kafka's `sasl.jaas.config` syntax: one JAAS login module entry,
//! `<login module class> <flag> key="value" … ;`, as Kafka's `JaasConfig`
//! reads it with Java's `StreamTokenizer`: values are double-quoted strings
//! (with `\"` `\\` `\n` `\t` escapes) or bare words; `//` and `/* */`
//! comments are skipped; the entry ends with `;` and nothing but another
//! entry may follow (Kafka refuses more than one module).
//!
//! The text comes from an operator's file, but it is parsed as hostile:
//! every malformed input is a [`JaasError`] naming where it went wrong,
//! never a panic, and nothing is allocated beyond the input's own size.

use std::collections::BTreeMap;

/// The JAAS login module of SASL/PLAIN (Kafka's `PlainLoginModule`).
pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

/// The JAAS login module of SASL/SCRAM (Kafka's `ScramLoginModule`).
pub const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";

/// The JAAS control flag of a login module entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlFlag {
    /// `required`.
    Required,
    /// `requisite`.
    Requisite,
    /// `sufficient`.
    Sufficient,
    /// `optional`.
    Optional,
}

/// One parsed `sasl.jaas.config` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasConfig {
    /// The login module class name.
    pub login_module: String,
    /// Its control flag.
    pub control_flag: ControlFlag,
    /// The options, by name (a repeated name keeps its last value, as
    /// Java's map does).
    pub options: BTreeMap<String, String>,
}

/// Why a `sasl.jaas.config` value is not one JAAS entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaasError {
    /// Empty, or only comments.
    #[error("no login module entry (expected `<LoginModule> required key=\"value\" …;`)")]
    Empty,
    /// A quoted string or comment that does not end.
    #[error("unterminated {what} starting at character {at}")]
    Unterminated { what: &'static str, at: usize },
    /// A token other than the grammar allows.
    #[error("expected {expected} at character {at}, found {found:?}")]
    Unexpected {
        expected: &'static str,
        found: String,
        at: usize,
    },
    /// The control flag is not one of JAAS's four.
    #[error("invalid control flag {0:?} (expected required, requisite, sufficient or optional)")]
    ControlFlag(String),
    /// More than one login module entry.
    #[error("sasl.jaas.config contains {0} login modules, should be 1 module")]
    SeveralModules(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => w.clone(),
            Token::Quoted(q) => format!("\"{q}\""),
            Token::Equals => "=".into(),
            Token::Semicolon => ";".into(),
        }
    }
}

/// Splits `text` into tokens with their character positions.
fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, JaasError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while chars.get(i).is_some_and(|c| *c != '\n') {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let start = i;
            i += 2;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (Some('*'), Some('/')) => {
                        i += 2;
                        break;
                    }
                    (Some(_), _) => i += 1,
                    (None, _) => {
                        return Err(JaasError::Unterminated {
                            what: "comment",
                            at: start,
                        })
                    }
                }
            }
        } else if c == '=' {
            tokens.push((i, Token::Equals));
            i += 1;
        } else if c == ';' {
            tokens.push((i, Token::Semicolon));
            i += 1;
        } else if c == '"' || c == '\'' {
            let (start, quote) = (i, c);
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(JaasError::Unterminated {
                            what: "quoted string",
                            at: start,
                        })
                    }
                    Some(c) if *c == quote => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        let escaped = match chars.get(i + 1) {
                            None => {
                                return Err(JaasError::Unterminated {
                                    what: "quoted string",
                                    at: start,
                                })
                            }
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some('r') => '\r',
                            Some(other) => *other,
                        };
                        value.push(escaped);
                        i += 2;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
            tokens.push((start, Token::Quoted(value)));
        } else {
            let start = i;
            let mut word = String::new();
            while let Some(&c) = chars.get(i) {
                if c.is_whitespace() || matches!(c, '=' | ';' | '"' | '\'') {
                    break;
                }
                if c == '/' && matches!(chars.get(i + 1), Some('/' | '*')) {
                    break;
                }
                word.push(c);
                i += 1;
            }
            tokens.push((start, Token::Word(word)));
        }
    }
    Ok(tokens)
}

impl JaasConfig {
    /// Parses a `sasl.jaas.config` value.
    ///
    /// # Errors
    /// [`JaasError`] for anything but exactly one well-formed entry.
    pub fn parse(text: &str) -> Result<JaasConfig, JaasError> {
        let tokens = tokenize(text)?;
        let end = text.chars().count();
        let mut tokens = tokens.into_iter().peekable();
        let mut entries = Vec::new();
        while tokens.peek().is_some() {
            let mut expect = |expected: &'static str| -> Result<(usize, Token), JaasError> {
                tokens.next().ok_or(JaasError::Unexpected {
                    expected,
                    found: "end of text".into(),
                    at: end,
                })
            };
            let login_module = match expect("a login module class name")? {
                (_, Token::Word(word)) => word,
                (at, other) => {
                    return Err(JaasError::Unexpected {
                        expected: "a login module class name",
                        found: other.describe(),
                        at,
                    })
                }
            };
            let control_flag = match expect("a control flag")? {
                (_, Token::Word(flag)) => match flag.to_ascii_lowercase().as_str() {
                    "required" => ControlFlag::Required,
                    "requisite" => ControlFlag::Requisite,
                    "sufficient" => ControlFlag::Sufficient,
                    "optional" => ControlFlag::Optional,
                    _ => return Err(JaasError::ControlFlag(flag)),
                },
                (at, other) => {
                    return Err(JaasError::Unexpected {
                        expected: "a control flag",
                        found: other.describe(),
                        at,
                    })
                }
            };
            let mut options = BTreeMap::new();
            loop {
                let key = match expect("an option name or `;`")? {
                    (_, Token::Semicolon) => break,
                    (_, Token::Word(key)) => key,
                    (at, other) => {
                        return Err(JaasError::Unexpected {
                            expected: "an option name or `;`",
                            found: other.describe(),
                            at,
                        })
                    }
                };
                match expect("`=`")? {
                    (_, Token::Equals) => {}
                    (at, other) => {
                        return Err(JaasError::Unexpected {
                            expected: "`=`",
                            found: other.describe(),
                            at,
                        })
                    }
                }
                let value = match expect("an option value")? {
                    (_, Token::Word(value) | Token::Quoted(value)) => value,
                    (at, other) => {
                        return Err(JaasError::Unexpected {
                            expected: "an option value",
                            found: other.describe(),
                            at,
                        })
                    }
                };
                options.insert(key, value);
            }
            entries.push(JaasConfig {
                login_module,
                control_flag,
                options,
            });
        }
        match entries.len() {
            0 => Err(JaasError::Empty),
            1 => Ok(entries.remove(0)),
            n => Err(JaasError::SeveralModules(n)),
        }
    }

    /// The users of a `PlainLoginModule` entry on a broker: each
    /// `user_<name>="<password>"` option, by name.
    pub fn plain_users(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(key, value)| {
                key.strip_prefix("user_")
                    .map(|user| (user.to_string(), value.clone()))
            })
            .collect()
    }

    /// The `username` and `password` options: the identity this node logs
    /// in with as a client.
    pub fn client_credentials(&self) -> Option<(&str, &str)> {
        Some((
            self.options.get("username")?.as_str(),
            self.options.get("password")?.as_str(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KAFKA_EXAMPLE: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#;

    #[test]
    fn kafkas_documented_plain_entry_parses_into_users() {
        let config = JaasConfig::parse(KAFKA_EXAMPLE).unwrap();
        assert_eq!(config.login_module, PLAIN_LOGIN_MODULE);
        assert_eq!(config.control_flag, ControlFlag::Required);
        assert_eq!(config.client_credentials(), Some(("admin", "admin-secret")));
        let users = config.plain_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["admin"], "admin-secret");
        assert_eq!(users["alice"], "alice-secret");
    }

    #[test]
    fn escapes_bare_values_comments_and_newlines_are_read_as_java_does() {
        let text = "/* broker */ org.Example  Optional\n  a=bare // note\n b=\"q\\\"uo\\\\te;=\" c='single';";
        let config = JaasConfig::parse(text).unwrap();
        assert_eq!(config.control_flag, ControlFlag::Optional);
        assert_eq!(config.options["a"], "bare");
        assert_eq!(config.options["b"], "q\"uo\\te;=");
        assert_eq!(config.options["c"], "single");
    }

    #[test]
    fn malformed_entries_are_refused_with_a_reason() {
        for (text, want) in [
            ("", JaasError::Empty),
            ("  /* only a comment */ ", JaasError::Empty),
            (
                "m required a=\"open",
                JaasError::Unterminated {
                    what: "quoted string",
                    at: 13,
                },
            ),
            ("m always;", JaasError::ControlFlag("always".into())),
            ("m required; n required;", JaasError::SeveralModules(2)),
        ] {
            assert_eq!(JaasConfig::parse(text), Err(want), "{text:?}");
        }
        for text in [
            "m required a=\"1\"",
            "m required a",
            "m required a=;",
            "m required =1;",
            "m",
            ";",
            "m required a=\"x\\",
            "m required /* open",
        ] {
            assert!(JaasConfig::parse(text).is_err(), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_parses_or_fails_without_panicking(text in ".{0,200}") {
            let _ = JaasConfig::parse(&text);
        }

        #[test]
        fn arbitrary_passwords_round_trip_through_quoting(password in "[^\"\\\\]{0,40}") {
            let text = format!("{PLAIN_LOGIN_MODULE} required user_bob=\"{password}\";");
            let config = JaasConfig::parse(&text).unwrap();
            proptest::prop_assert_eq!(&config.plain_users()["bob"], &password);
        }
    }
}
