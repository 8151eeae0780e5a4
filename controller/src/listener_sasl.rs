//! The SASL settings of one SASL_PLAINTEXT or SASL_SSL listener, resolved
//! from Kafka's properties with the per-listener overrides winning, as
//! Kafka resolves them: `sasl.enabled.mechanisms` (or
//! `listener.name.<name>.sasl.enabled.mechanisms`), the JAAS entry of each
//! mechanism (`listener.name.<name>.<mechanism>.sasl.jaas.config`) and
//! `connections.max.reauth.ms`.
//!
//! Invariant: a [`ListenerSasl`] that [`SaslSettings::resolve`] returned
//! enables at least one mechanism, only mechanisms Skein serves (PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512), and PLAIN only with a JAAS entry of
//! Kafka's `PlainLoginModule` listing its users.

use std::collections::BTreeMap;

use crate::jaas_config::{JaasConfig, PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE};
use crate::scram_credential::ScramMechanism;

/// A SASL mechanism Skein serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616): user and password in the clear (use SASL_SSL),
    /// checked against the listener's JAAS users.
    Plain,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`, against the credentials of the
    /// metadata log.
    Scram(ScramMechanism),
}

impl SaslMechanism {
    /// The mechanism's SASL name.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(scram) => scram.mechanism_name(),
        }
    }

    /// The mechanism named `name` exactly (Kafka compares case-sensitively).
    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        if name == "PLAIN" {
            return Some(SaslMechanism::Plain);
        }
        ScramMechanism::from_mechanism_name(name).map(SaslMechanism::Scram)
    }
}

/// A SASL listener's settings as configured (see
/// [`crate::BrokerConfig::listener_sasl`]); [`SaslSettings::resolve`]
/// checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    /// The listener's name, upper-cased.
    pub listener: String,
    /// `sasl.enabled.mechanisms` as given, upper-cased.
    pub enabled_mechanisms: Vec<String>,
    /// Whether `sasl.enabled.mechanisms` was set (else it is Kafka's
    /// default, GSSAPI).
    pub mechanisms_set: bool,
    /// The JAAS entries by mechanism name (upper-cased), as given.
    pub jaas_configs: BTreeMap<String, String>,
    /// `connections.max.reauth.ms`: 0 for sessions that never expire.
    pub reauth_ms: u64,
}

/// A SASL listener ready to authenticate clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSasl {
    /// The enabled mechanisms, in configured order.
    pub mechanisms: Vec<SaslMechanism>,
    /// PLAIN's users and passwords (empty without PLAIN).
    pub plain_users: BTreeMap<String, String>,
    /// `connections.max.reauth.ms`: a session's lifetime; 0 for none.
    pub reauth_ms: u64,
}

impl SaslSettings {
    fn refuse(&self, property: &str, reason: impl std::fmt::Display) -> String {
        format!("{property} (listener {}): {reason}", self.listener)
    }

    /// Checks the settings and resolves what the listener serves.
    ///
    /// # Errors
    /// A reason naming the property: no mechanism, a mechanism Skein does
    /// not serve (GSSAPI, OAUTHBEARER, unknown), Kafka's GSSAPI default left
    /// in place, a JAAS entry that does not parse or is of the wrong login
    /// module, or PLAIN without users.
    pub fn resolve(&self) -> Result<ListenerSasl, String> {
        if !self.mechanisms_set {
            return Err(self.refuse(
                "sasl.enabled.mechanisms",
                "not set, and Kafka's default GSSAPI (Kerberos) is not served by Skein: set it to PLAIN, SCRAM-SHA-256 and/or SCRAM-SHA-512",
            ));
        }
        let mut mechanisms = Vec::new();
        for name in &self.enabled_mechanisms {
            let mechanism = SaslMechanism::from_name(name).ok_or_else(|| {
                let why = match name.as_str() {
                    "GSSAPI" => "GSSAPI (Kerberos) is not served by Skein",
                    "OAUTHBEARER" => "OAUTHBEARER is not served by Skein",
                    _ => "unknown mechanism",
                };
                self.refuse(
                    "sasl.enabled.mechanisms",
                    format!("{name}: {why} (Skein serves PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"),
                )
            })?;
            mechanisms.push(mechanism);
        }
        if mechanisms.is_empty() {
            return Err(self.refuse(
                "sasl.enabled.mechanisms",
                "a SASL listener needs at least one mechanism",
            ));
        }
        for (mechanism, text) in &self.jaas_configs {
            let property = format!(
                "listener.name.{}.{}.sasl.jaas.config",
                self.listener.to_ascii_lowercase(),
                mechanism.to_ascii_lowercase()
            );
            let Some(known) = SaslMechanism::from_name(mechanism) else {
                return Err(self.refuse(&property, "not a mechanism Skein serves"));
            };
            let jaas = JaasConfig::parse(text).map_err(|e| self.refuse(&property, e))?;
            let module = match known {
                SaslMechanism::Plain => PLAIN_LOGIN_MODULE,
                SaslMechanism::Scram(_) => SCRAM_LOGIN_MODULE,
            };
            if jaas.login_module != module {
                return Err(self.refuse(
                    &property,
                    format!(
                        "the login module of {mechanism} is {module}, not {}",
                        jaas.login_module
                    ),
                ));
            }
        }
        let mut plain_users = BTreeMap::new();
        if mechanisms.contains(&SaslMechanism::Plain) {
            let property = format!(
                "listener.name.{}.plain.sasl.jaas.config",
                self.listener.to_ascii_lowercase()
            );
            let text = self.jaas_configs.get("PLAIN").ok_or_else(|| {
                self.refuse(
                    &property,
                    format!("PLAIN is enabled but has no users: set {property} to `{PLAIN_LOGIN_MODULE} required user_<name>=\"<password>\";`"),
                )
            })?;
            let jaas = JaasConfig::parse(text).map_err(|e| self.refuse(&property, e))?;
            plain_users = jaas.plain_users();
            if plain_users.is_empty() {
                return Err(self.refuse(
                    &property,
                    "no user_<name>=\"<password>\" option: PLAIN would let nobody in",
                ));
            }
        }
        Ok(ListenerSasl {
            mechanisms,
            plain_users,
            reauth_ms: self.reauth_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mechanisms: &[&str]) -> SaslSettings {
        SaslSettings {
            listener: "SASL_PLAINTEXT".into(),
            enabled_mechanisms: mechanisms.iter().map(|m| m.to_string()).collect(),
            mechanisms_set: true,
            jaas_configs: BTreeMap::new(),
            reauth_ms: 0,
        }
    }

    #[test]
    fn scram_alone_needs_no_jaas_entry() {
        let sasl = settings(&["SCRAM-SHA-256", "SCRAM-SHA-512"])
            .resolve()
            .unwrap();
        assert_eq!(
            sasl.mechanisms,
            vec![
                SaslMechanism::Scram(ScramMechanism::Sha256),
                SaslMechanism::Scram(ScramMechanism::Sha512)
            ]
        );
    }

    #[test]
    fn plain_takes_its_users_from_the_jaas_entry() {
        let mut s = settings(&["PLAIN"]);
        s.jaas_configs.insert(
            "PLAIN".into(),
            format!("{PLAIN_LOGIN_MODULE} required user_alice=\"a\";"),
        );
        let sasl = s.resolve().unwrap();
        assert_eq!(sasl.plain_users["alice"], "a");
    }

    #[test]
    fn unservable_settings_are_refused_with_the_reason() {
        let refused = |s: SaslSettings, needle: &str| {
            let error = s.resolve().unwrap_err();
            assert!(error.contains(needle), "{error}");
        };
        refused(settings(&["GSSAPI"]), "GSSAPI (Kerberos) is not served");
        refused(settings(&["OAUTHBEARER"]), "OAUTHBEARER");
        refused(settings(&[]), "at least one mechanism");
        refused(settings(&["PLAIN"]), "PLAIN is enabled but has no users");
        let mut unset = settings(&["GSSAPI"]);
        unset.mechanisms_set = false;
        refused(unset, "Kafka's default GSSAPI");
        let mut wrong_module = settings(&["PLAIN"]);
        wrong_module
            .jaas_configs
            .insert("PLAIN".into(), format!("{SCRAM_LOGIN_MODULE} required;"));
        refused(wrong_module, "the login module of PLAIN");
        let mut broken = settings(&["PLAIN"]);
        broken
            .jaas_configs
            .insert("PLAIN".into(), "x required user_a=\"".into());
        refused(broken, "unterminated");
    }
}
