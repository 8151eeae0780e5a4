//! The subject of an X.509 certificate as RFC 2253 writes it — Java's
//! `X500Principal.getName()`, which Kafka's `ssl.principal.mapping.rules`
//! match: the relative distinguished names in reverse order, comma
//! separated, `CN=alice,OU=eng,O=acme,C=US`.
//!
//! A small DER reader walks to the subject (certificate → tbsCertificate →
//! the sixth field) and nothing else. The certificate has been verified by
//! rustls against the trust store, but it is still bytes from a peer: every
//! length is checked against what is there, nothing panics, and nothing is
//! allocated by a length.

use std::fmt::Write as _;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const CONTEXT_0: u8 = 0xA0;

/// One DER element: tag, content, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = (rest.get(..count)?, rest.get(count..)?);
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// The element of `tag` at the start of `input`.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = element(input)?;
    (found == tag).then_some((content, rest))
}

/// An OID in dotted form.
fn oid_text(oid: &[u8]) -> Option<String> {
    let (&first, rest) = oid.split_first()?;
    let mut text = format!("{}.{}", first / 40, first % 40);
    let mut value: u64 = 0;
    for byte in rest {
        value = value
            .checked_mul(128)?
            .checked_add(u64::from(byte & 0x7f))?;
        if byte & 0x80 == 0 {
            write!(text, ".{value}").ok()?;
            value = 0;
        }
    }
    Some(text)
}

/// RFC 2253's keyword of an attribute type, as Java writes them.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// A string value's text; `None` for a type that is not a string.
fn string_value(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, NumericString, VisibleString
        0x0C | 0x13 | 0x16 | 0x12 | 0x1A => String::from_utf8(content.to_vec()).ok(),
        // T61String: read as Latin-1.
        0x14 => Some(content.iter().map(|b| char::from(*b)).collect()),
        // BMPString: UTF-16BE.
        0x1E => {
            let units: Vec<u16> = content
                .chunks_exact(2)
                .map(|pair| match pair {
                    [high, low] => u16::from_be_bytes([*high, *low]),
                    _ => 0,
                })
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The subject of the DER certificate `der` in RFC 2253 form; `None` when
/// the bytes are not a certificate this reader understands.
pub fn subject(der: &[u8]) -> Option<String> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut fields = tbs;
    if let Some((CONTEXT_0, _, rest)) = element(fields) {
        fields = rest; // version
    }
    for _ in 0..4 {
        // serialNumber, signature, issuer, validity
        let (_, _, rest) = element(fields)?;
        fields = rest;
    }
    let (mut name, _) = expect(fields, SEQUENCE)?;
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (mut set, rest) = expect(name, SET)?;
        name = rest;
        let mut attributes = Vec::new();
        while !set.is_empty() {
            let (attribute, rest) = expect(set, SEQUENCE)?;
            set = rest;
            let (oid, value) = expect(attribute, OID)?;
            let oid = oid_text(oid)?;
            let (tag, content, _) = element(value)?;
            let text = match (keyword(&oid), string_value(tag, content)) {
                (Some(keyword), Some(text)) => format!("{keyword}={}", escape(&text)),
                _ => {
                    // Java writes other types as OID=#<hex of the DER value>.
                    let der_len = value.len() - element(value)?.2.len();
                    let mut hex = String::new();
                    for byte in value.get(..der_len)? {
                        write!(hex, "{byte:02x}").ok()?;
                    }
                    format!("{oid}=#{hex}")
                }
            };
            attributes.push(text);
        }
        rdns.push(attributes.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A DER TLV.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(content);
        out
    }

    fn attribute(oid: &[u8], tag: u8, value: &str) -> Vec<u8> {
        tlv(
            SET,
            &tlv(
                SEQUENCE,
                &[tlv(OID, oid), tlv(tag, value.as_bytes())].concat(),
            ),
        )
    }

    fn certificate(subject: Vec<u8>) -> Vec<u8> {
        let tbs = [
            tlv(CONTEXT_0, &tlv(0x02, &[2])),
            tlv(0x02, &[1, 2, 3]),
            tlv(SEQUENCE, &[]),
            tlv(SEQUENCE, &attribute(&[0x55, 4, 3], 0x0C, "issuer")),
            tlv(SEQUENCE, &[]),
            subject,
        ]
        .concat();
        tlv(
            SEQUENCE,
            &[tlv(SEQUENCE, &tbs), tlv(SEQUENCE, &[]), tlv(0x03, &[0])].concat(),
        )
    }

    #[test]
    fn subject_reads_in_rfc2253_order_with_escapes() {
        let name = [
            attribute(&[0x55, 4, 6], 0x13, "US"),
            attribute(&[0x55, 4, 10], 0x0C, "Acme, Inc"),
            attribute(&[0x55, 4, 3], 0x0C, "alice"),
        ]
        .concat();
        let der = certificate(tlv(SEQUENCE, &name));
        assert_eq!(subject(&der).unwrap(), "CN=alice,O=Acme\\, Inc,C=US");
    }

    #[test]
    fn truncated_or_garbage_certificates_give_none() {
        let der = certificate(tlv(SEQUENCE, &attribute(&[0x55, 4, 3], 0x0C, "bob")));
        for cut in 0..der.len() {
            assert_eq!(subject(&der[..cut]), None, "{cut}");
        }
        assert_eq!(subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(subject(b""), None);
    }
}
