//! `skein consume --template`: kcat-style output format strings.
//!
//! `%t` topic, `%p` partition, `%o` offset, `%k` key, `%s` value, `%T`
//! timestamp (ms), `%h` headers (`name=value` joined by `,`), `%S` value
//! size in bytes (-1 for a null value), `%K` key size, `%%` a percent sign;
//! `\n`, `\t`, `\r` and `\\` escapes. A null key or value prints nothing.
//! The template is parsed once; unknown directives are usage errors.
use std::io::Write;

use kafka_protocol::records::Record;

use super::exit_status::UsageError;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Topic,
    Partition,
    Offset,
    Key,
    Value,
    Timestamp,
    Headers,
    ValueSize,
    KeySize,
}

/// A parsed output template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTemplate {
    pieces: Vec<Piece>,
}

impl RecordTemplate {
    /// Parses `text`.
    ///
    /// # Errors
    /// [`UsageError`] naming an unknown `%` directive or `\` escape, or a
    /// template ending in a lone `%` or `\`.
    pub fn parse(text: &str) -> Result<RecordTemplate, UsageError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let directive = chars
                        .next()
                        .ok_or_else(|| UsageError("--template ends in a lone %".to_owned()))?;
                    let piece = match directive {
                        '%' => {
                            literal.push('%');
                            continue;
                        }
                        't' => Piece::Topic,
                        'p' => Piece::Partition,
                        'o' => Piece::Offset,
                        'k' => Piece::Key,
                        's' => Piece::Value,
                        'T' => Piece::Timestamp,
                        'h' => Piece::Headers,
                        'S' => Piece::ValueSize,
                        'K' => Piece::KeySize,
                        other => {
                            return Err(UsageError(format!(
                                "--template: unknown directive %{other} (try %t %p %o %k %s %T %h %S %K %%)"
                            )))
                        }
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                }
                '\\' => {
                    let escaped = chars
                        .next()
                        .ok_or_else(|| UsageError("--template ends in a lone \\".to_owned()))?;
                    literal.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '\\' => '\\',
                        other => {
                            return Err(UsageError(format!(
                                "--template: unknown escape \\{other} (try \\n \\t \\r \\\\)"
                            )))
                        }
                    });
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(RecordTemplate { pieces })
    }

    /// Writes `record` of `topic`-`partition` as the template says.
    ///
    /// # Errors
    /// Write failures of `out`.
    pub fn write(
        &self,
        out: &mut impl Write,
        topic: &str,
        partition: i32,
        record: &Record,
    ) -> std::io::Result<()> {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.write_all(text.as_bytes())?,
                Piece::Topic => out.write_all(topic.as_bytes())?,
                Piece::Partition => write!(out, "{partition}")?,
                Piece::Offset => write!(out, "{}", record.offset)?,
                Piece::Key => out.write_all(record.key.as_deref().unwrap_or_default())?,
                Piece::Value => out.write_all(record.value.as_deref().unwrap_or_default())?,
                Piece::Timestamp => write!(out, "{}", record.timestamp)?,
                Piece::Headers => {
                    for (index, (name, value)) in record.headers.iter().enumerate() {
                        if index > 0 {
                            out.write_all(b",")?;
                        }
                        out.write_all(name.as_bytes())?;
                        out.write_all(b"=")?;
                        out.write_all(value.as_deref().unwrap_or_default())?;
                    }
                }
                Piece::ValueSize => write!(out, "{}", size(record.value.as_deref()))?,
                Piece::KeySize => write!(out, "{}", size(record.key.as_deref()))?,
            }
        }
        Ok(())
    }
}

/// A key or value's size, -1 for null (as kcat prints it).
fn size(bytes: Option<&[u8]>) -> i64 {
    bytes.map_or(-1, |bytes| i64::try_from(bytes.len()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use kafka_protocol::protocol::StrBytes;

    fn record() -> Record {
        let mut headers = kafka_protocol::indexmap::IndexMap::new();
        headers.insert(
            StrBytes::from_static_str("a"),
            Some(Bytes::from_static(b"1")),
        );
        headers.insert(StrBytes::from_static_str("b"), None);
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: 42,
            sequence: -1,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from_static(b"user1")),
            value: Some(Bytes::from_static(b"clicked")),
            headers,
        }
    }

    fn render(template: &str, record: &Record) -> String {
        let mut out = Vec::new();
        RecordTemplate::parse(template)
            .expect("a valid template")
            .write(&mut out, "events", 3, record)
            .expect("write to a Vec");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn every_directive_and_escape_renders() {
        assert_eq!(
            render("%t/%p@%o %k=%s\\t%T [%h] %S %K 100%%\\n", &record()),
            "events/3@42 user1=clicked\t1700000000000 [a=1,b=] 7 5 100%\n"
        );
    }

    #[test]
    fn null_key_and_value_print_nothing_and_size_minus_one() {
        let mut null = record();
        null.key = None;
        null.value = None;
        assert_eq!(render("[%k][%s] %K %S", &null), "[][] -1 -1");
    }

    #[test]
    fn unknown_directives_and_trailing_escapes_are_usage_errors() {
        for bad in ["%x", "abc%", "\\q", "tail\\"] {
            assert!(RecordTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
