//! Where broker properties come from besides `--set`: a configuration file,
//! either TOML (`num.partitions = 3`, dotted keys or tables) or Kafka's own
//! `server.properties` (Java properties syntax, taken as it is), and the
//! environment (`SKEIN_NODE_ID=1`, as docker images pass settings).
//!
//! Every reader returns `(name, value)` pairs in file order; the caller sets
//! them on a `BrokerConfig`, which validates each.

use std::path::Path;

use anyhow::{bail, Context};

/// The syntax of a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSyntax {
    /// TOML: `log.retention.ms = 1` or `[log] retention.ms = 1`.
    Toml,
    /// Java properties, as Kafka's `server.properties`.
    Properties,
}

/// Reads a configuration file into `(name, value)` pairs. `.toml` files are
/// TOML, `.properties` files Java properties; any other name is TOML if it
/// parses as TOML and Java properties otherwise (a properties file with
/// values such as `PLAINTEXT://host:9092` is not TOML).
///
/// # Errors
/// The file cannot be read, or is not valid in its syntax.
pub fn read_config_file(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let syntax = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => ConfigSyntax::Toml,
        Some("properties") => ConfigSyntax::Properties,
        _ if text.parse::<toml::Table>().is_ok() => ConfigSyntax::Toml,
        _ => ConfigSyntax::Properties,
    };
    match syntax {
        ConfigSyntax::Toml => {
            let table: toml::Table = text
                .parse()
                .with_context(|| format!("{} is not valid TOML", path.display()))?;
            let mut pairs = Vec::new();
            flatten("", &table, &mut pairs)?;
            Ok(pairs)
        }
        ConfigSyntax::Properties => Ok(parse_properties(&text)),
    }
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    pairs: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&name, inner, pairs)?,
            toml::Value::String(text) => pairs.push((name, text.clone())),
            toml::Value::Integer(n) => pairs.push((name, n.to_string())),
            toml::Value::Boolean(b) => pairs.push((name, b.to_string())),
            other => bail!("{name}: unsupported value {other}"),
        }
    }
    Ok(())
}

/// Parses Java properties text as `java.util.Properties.load` does: `#` and
/// `!` comment lines, `key=value`, `key: value` or `key value`, a backslash
/// at the end of a line continuing it (leading blanks of the next line
/// dropped), and the escapes `\t \n \r \f \uXXXX` (any other escaped
/// character stands for itself, so `\=` and `\:` may appear in keys). A key
/// given twice keeps its last value, as in Java; order is first appearance.
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for logical in logical_lines(text) {
        let (key, value) = split_key_value(&logical);
        if key.is_empty() && value.is_empty() {
            continue;
        }
        match pairs.iter_mut().find(|(k, _)| *k == key) {
            Some(pair) => pair.1 = value,
            None => pairs.push((key, value)),
        }
    }
    pairs
}

/// The logical lines of properties text: comments and blank lines dropped,
/// continuations joined (the escapes are still in place).
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim_start_matches([' ', '\t', '\x0c']);
        if current.is_none() && (line.is_empty() || line.starts_with(['#', '!'])) {
            continue;
        }
        let trailing_backslashes = line.chars().rev().take_while(|c| *c == '\\').count();
        let continues = trailing_backslashes % 2 == 1;
        let content = if continues {
            &line[..line.len() - 1]
        } else {
            line
        };
        let joined = current.get_or_insert_with(String::new);
        joined.push_str(content);
        if !continues {
            lines.extend(current.take());
        }
    }
    lines.extend(current);
    lines
}

/// Splits one logical line at the first unescaped `=`, `:` or blank, and
/// unescapes both halves.
fn split_key_value(line: &str) -> (String, String) {
    let mut key_end = line.len();
    let mut escaped = false;
    for (index, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' | ' ' | '\t' | '\x0c' => {
                key_end = index;
                break;
            }
            _ => {}
        }
    }
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(stripped) = rest.strip_prefix(['=', ':']) {
        rest = stripped.trim_start_matches([' ', '\t', '\x0c']);
    }
    (unescape(key), unescape(rest))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => out.push(decoded),
                    // Java throws on a malformed \u escape; keep the text so
                    // that validation names the odd value.
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The prefix of environment variables that set broker properties.
pub const ENV_PREFIX: &str = "SKEIN_";

/// The property an environment variable names, with the convention docker
/// images for Kafka use: after the prefix, `_` is `.`, `__` is `_` and
/// `___` is `-`, lower-cased: `SKEIN_NODE_ID` is `node.id`,
/// `SKEIN_LISTENER_NAME_INTERNAL__PLAIN_X` is `listener.name.internal_plain.x`.
pub fn env_property_name(variable: &str) -> Option<String> {
    let rest = variable.strip_prefix(ENV_PREFIX)?;
    if rest.is_empty() {
        return None;
    }
    let lower = rest.to_ascii_lowercase();
    // Placeholders that cannot occur in a variable name keep the longer
    // runs from being split by the shorter rule.
    Some(
        lower
            .replace("___", "\u{1}")
            .replace("__", "\u{2}")
            .replace('_', ".")
            .replace('\u{1}', "-")
            .replace('\u{2}', "_"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keys_flatten_to_kafka_names() {
        let table: toml::Table =
            "num.partitions = 3\n[log]\nretention.ms = 5\n[auto.create.topics]\nenable = false\n"
                .parse()
                .unwrap();
        let mut pairs = Vec::new();
        flatten("", &table, &mut pairs).unwrap();
        pairs.sort();
        assert_eq!(
            pairs,
            vec![
                ("auto.create.topics.enable".to_string(), "false".to_string()),
                ("log.retention.ms".to_string(), "5".to_string()),
                ("num.partitions".to_string(), "3".to_string()),
            ]
        );
    }

    #[test]
    fn a_kraft_server_properties_parses_as_java_does() {
        let text = "# KRaft combined node\n\
                    ! another comment style\n\
                    process.roles=broker,controller\n\
                    node.id = 1\n\
                    controller.quorum.voters: 1@localhost:9093\n\
                    listeners=PLAINTEXT://:9092,\\\n    CONTROLLER://:9093\n\
                    \n\
                    log.dirs /tmp/kraft-combined-logs\n\
                    key\\=with\\:escapes=a\\tb\\u0041\n\
                    empty.value=\n\
                    node.id=2\n\
                    trailing.backslash.escaped=c:\\\\\n";
        let pairs = parse_properties(text);
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("process.roles"), Some("broker,controller"));
        assert_eq!(get("node.id"), Some("2"), "the last value wins");
        assert_eq!(get("controller.quorum.voters"), Some("1@localhost:9093"));
        assert_eq!(
            get("listeners"),
            Some("PLAINTEXT://:9092,CONTROLLER://:9093")
        );
        assert_eq!(get("log.dirs"), Some("/tmp/kraft-combined-logs"));
        assert_eq!(get("key=with:escapes"), Some("a\tbA"));
        assert_eq!(get("empty.value"), Some(""));
        assert_eq!(get("trailing.backslash.escaped"), Some("c:\\"));
        assert_eq!(
            pairs.first().map(|(k, _)| k.as_str()),
            Some("process.roles")
        );
        assert_eq!(pairs.len(), 8);
    }

    #[test]
    fn files_are_read_by_extension_then_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let properties = dir.path().join("server.conf");
        std::fs::write(&properties, "listeners=PLAINTEXT://127.0.0.1:9092\n").unwrap();
        assert_eq!(
            read_config_file(&properties).unwrap(),
            [(
                "listeners".to_string(),
                "PLAINTEXT://127.0.0.1:9092".to_string()
            )]
        );
        let toml = dir.path().join("skein.conf");
        std::fs::write(&toml, "[log]\nretention.ms = 5\n").unwrap();
        assert_eq!(
            read_config_file(&toml).unwrap(),
            [("log.retention.ms".to_string(), "5".to_string())]
        );
        let forced = dir.path().join("server.properties");
        std::fs::write(&forced, "a=\"quoted\"\n").unwrap();
        assert_eq!(
            read_config_file(&forced).unwrap(),
            [("a".to_string(), "\"quoted\"".to_string())]
        );
    }

    #[test]
    fn environment_names_map_to_properties_as_docker_images_do() {
        assert_eq!(
            env_property_name("SKEIN_NODE_ID").as_deref(),
            Some("node.id")
        );
        assert_eq!(
            env_property_name("SKEIN_CONTROLLER_QUORUM_VOTERS").as_deref(),
            Some("controller.quorum.voters")
        );
        assert_eq!(
            env_property_name("SKEIN_LISTENER_NAME_INTERNAL__PLAIN_X").as_deref(),
            Some("listener.name.internal_plain.x")
        );
        assert_eq!(env_property_name("SKEIN_A___B").as_deref(), Some("a-b"));
        assert_eq!(env_property_name("SKEIN_"), None);
        assert_eq!(env_property_name("KAFKA_NODE_ID"), None);
    }
}
