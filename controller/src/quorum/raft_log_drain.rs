//! raft-rs logs through `slog`; this drain hands its records to `tracing`
//! so the quorum's logs go where the rest of Skein's go.
//!
//! raft-rs is chatty (it logs every election step at info and every
//! rejected append at debug), so its levels are lowered by one notch:
//! critical and error become `warn`, warning and info become `debug`, debug
//! and trace become `trace`. A record is only rendered when its `tracing`
//! level is enabled.
use std::fmt::{self, Write as _};

use slog::{Drain, Level, OwnedKVList, Record, KV};

/// A `slog` drain that forwards to `tracing` (target `skein_controller::raft`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RaftLogDrain;

/// Collects a record's key-value pairs as ` key=value`.
struct KvLine(String);

impl slog::Serializer for KvLine {
    fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments) -> slog::Result {
        // Writing into a String cannot fail.
        write!(self.0, " {key}={val}").map_err(|_| slog::Error::Other)
    }
}

fn render(record: &Record, values: &OwnedKVList) -> String {
    let mut line = KvLine(record.msg().to_string());
    // A key-value pair that fails to render is left out of the line; the
    // message itself is still logged.
    record.kv().serialize(record, &mut line).ok();
    values.serialize(record, &mut line).ok();
    line.0
}

impl Drain for RaftLogDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), slog::Never> {
        match record.level() {
            Level::Critical | Level::Error => {
                if tracing::enabled!(target: "skein_controller::raft", tracing::Level::WARN) {
                    tracing::warn!(target: "skein_controller::raft", "{}", render(record, values));
                }
            }
            Level::Warning | Level::Info => {
                if tracing::enabled!(target: "skein_controller::raft", tracing::Level::DEBUG) {
                    tracing::debug!(target: "skein_controller::raft", "{}", render(record, values));
                }
            }
            Level::Debug | Level::Trace => {
                if tracing::enabled!(target: "skein_controller::raft", tracing::Level::TRACE) {
                    tracing::trace!(target: "skein_controller::raft", "{}", render(record, values));
                }
            }
        }
        Ok(())
    }
}

/// The logger handed to raft-rs for node `node_id`.
pub(crate) fn raft_logger(node_id: u64) -> slog::Logger {
    slog::Logger::root(RaftLogDrain, slog::o!("raft_id" => node_id))
}
