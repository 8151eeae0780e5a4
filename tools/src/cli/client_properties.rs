//! Kafka client properties on the command line: `-X key=value` (as kcat
//! takes them) and `--command-config FILE` (a Java properties file, as
//! Kafka's own tools take it), turned into the connection's
//! [`ClientSecurity`] (TLS and SASL; see `skein_net::tool_client_security` for
//! the property names). Shared by the admin subcommands and `skein bench`.
use std::path::PathBuf;

use anyhow::Context;
use skein_net::tool_client_security::ClientSecurity;

use crate::config_file::parse_properties;

/// The client properties of one invocation.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientProperties {
    /// A Kafka client property, `KEY=VALUE` (repeatable; after
    /// --command-config): security.protocol, sasl.mechanism,
    /// sasl.username, sasl.password, ssl.ca.location,
    /// ssl.certificate.location, ssl.key.location, …
    #[arg(
        short = 'X',
        long = "property",
        value_name = "KEY=VALUE",
        value_parser = parse_property,
        global = true
    )]
    pub properties: Vec<(String, String)>,
    /// A Java properties file of Kafka client properties (as Kafka's tools'
    /// --command-config).
    #[arg(long, value_name = "FILE", global = true)]
    pub command_config: Option<PathBuf>,
}

/// `key=value` → `(key, value)`.
fn parse_property(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("{text:?} has no key"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

impl ClientProperties {
    /// The connection security from, in rising precedence (the last value
    /// of a name wins): `fallback`, the --command-config file, `options`
    /// (e.g. from --sasl-* options), each -X. Prints a warning for
    /// properties that do not concern security, which the tools do not use.
    ///
    /// # Errors
    /// An unreadable --command-config file; unusable security properties.
    pub fn security(
        &self,
        fallback: &[(String, String)],
        options: &[(String, String)],
    ) -> anyhow::Result<ClientSecurity> {
        let mut all = fallback.to_vec();
        if let Some(path) = &self.command_config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--command-config {}", path.display()))?;
            all.extend(parse_properties(&text));
        }
        all.extend(options.iter().cloned());
        all.extend(self.properties.iter().cloned());
        let security = ClientSecurity::from_properties(
            all.iter()
                .map(|(key, value)| (key.as_str(), value.as_str())),
        )?;
        for name in security.ignored_properties() {
            eprintln!("skein: warning: client property {name} is not used by this tool");
        }
        Ok(security)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skein_net::tool_client_security::SecurityProtocol;

    #[test]
    fn x_properties_override_the_command_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.properties");
        std::fs::write(
            &file,
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=a\nsasl.password=file\n",
        )
        .unwrap();
        let properties = ClientProperties {
            properties: vec![parse_property("sasl.password=flag=1").unwrap()],
            command_config: Some(file),
        };
        let security = properties.security(&[], &[]).unwrap();
        assert_eq!(security.protocol(), SecurityProtocol::SaslPlaintext);
        assert_eq!(security.sasl().unwrap().password, "flag=1");
    }

    #[test]
    fn a_property_without_equals_is_refused() {
        assert!(parse_property("security.protocol").is_err());
        assert!(parse_property("=x").is_err());
    }
}
