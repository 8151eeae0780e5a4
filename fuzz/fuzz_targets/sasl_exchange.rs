//! Fuzzes a SASL listener's authenticator with whatever a client may send
//! before it is authenticated: a handshake naming any mechanism (v0 or v1),
//! then any sequence of tokens (PLAIN, SCRAM client-first and client-final
//! messages) — every outcome is an answer or a refusal, never a panic, and
//! the connection is only ever authenticated as a principal the exchange
//! named.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use skein_controller::{
    KafkaPrincipal, ListenerSasl, SaslMechanism, ScramCredential, ScramMechanism,
};
use skein_net::authenticator::Authenticator;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let sasl = Arc::new(ListenerSasl {
        mechanisms: vec![
            SaslMechanism::Plain,
            SaslMechanism::Scram(ScramMechanism::Sha256),
            SaslMechanism::Scram(ScramMechanism::Sha512),
        ],
        plain_users: BTreeMap::from([("u".to_string(), "p".to_string())]),
        reauth_ms: 0,
    });
    let credential = |user: &str, m: ScramMechanism| {
        (user == "u").then(|| ScramCredential::from_password(m, "p", vec![1; 16], 4096))
    };
    let mut auth = Authenticator::new(Some(sasl), KafkaPrincipal::anonymous());
    let mechanism = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", ""]
        [usize::from(selector) % 5];
    if auth.handshake(mechanism, i16::from(selector & 1)).is_err() {
        return;
    }
    // Tokens are length-prefixed (one byte) pieces of the rest.
    let mut rest = rest;
    while let [len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (token, after) = tail.split_at(len);
        rest = after;
        if auth.authenticate(token, Instant::now(), credential).is_err() {
            assert!(auth.principal().is_anonymous(), "a failed exchange names nobody");
            return;
        }
        if !auth.principal().is_anonymous() {
            assert_eq!(auth.principal(), &KafkaPrincipal::user("u"));
            return;
        }
    }
});
