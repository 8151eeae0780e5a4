//! The transaction coordinator (KIP-98, with KIP-360's epoch bumps): it hands
//! transactional producers their producer id and epoch (InitProducerId with
//! a `transactional.id`), records which partitions each transaction touches
//! (AddPartitionsToTxn, AddOffsetsToTxn), ends transactions in two phases
//! (EndTxn: PrepareCommit/PrepareAbort written, transaction markers sent to
//! every partition, then CompleteCommit/CompleteAbort written), aborts
//! transactions that outlive their timeout, and answers
//! DescribeTransactions and ListTransactions. Its state lives in the
//! compacted `__transaction_state` topic, one record per transactional id,
//! in Kafka's `TransactionLogKey`/`TransactionLogValue` v0 layout.
//!
//! The core is sans-IO like the group coordinator: [`TransactionCoordinator`]
//! takes requests with a [`RequestToken`], ticks, append completions and
//! marker completions, with the caller's clock `now_ms`, and returns
//! [`Action`]s: responses (possibly for earlier requests), appends to a
//! `__transaction_state` partition, and marker sends. The driver owns
//! sockets, logs and timers.
//!
//! Lives on: the control shard only.
//!
//! # A driver in miniature
//!
//! ```
//! use skein_controller::transaction_coordinator::*;
//!
//! let config = TransactionCoordinatorConfig::default();
//! let mut coordinator = TransactionCoordinator::new(config.clone());
//! let now = 1_700_000_000_000;
//! for p in 0..config.transaction_state_num_partitions {
//!     coordinator.load_partition(p, 0, Vec::new(), now).unwrap();
//! }
//! let init = InitProducerId {
//!     transactional_id: "orders-tx".into(),
//!     transaction_timeout_ms: 60_000,
//!     producer_id_and_epoch: None,
//!     fresh_producer_id: 4_000,
//! };
//! // The answer waits for the new state to be written.
//! let actions = coordinator.request(now, RequestToken(1), Request::InitProducerId(init));
//! let [Action::Persist { id, .. }] = actions.as_slice() else { unreachable!() };
//! let actions = coordinator.persisted(now, *id, Ok(()));
//! assert_eq!(
//!     actions,
//!     vec![Action::Respond {
//!         token: RequestToken(1),
//!         response: Response::InitProducerId(Ok((4_000, 0))),
//!     }]
//! );
//! ```

mod action;
mod config;
mod coordinator;
mod error;
mod metadata;
mod record;
mod request;
mod response;

pub use action::{
    Action, AppendError, MarkerId, PersistId, RequestToken, StateRecord, TransactionMarkers,
};
pub use config::TransactionCoordinatorConfig;
pub use coordinator::TransactionCoordinator;
pub use error::{TransactionError, TransactionLoadError};
pub use metadata::TransactionState;
pub use record::{
    decode_key, decode_value, encode_key, encode_value, partition_for_transactional_id,
    TransactionLogValue, TRANSACTION_STATE_TOPIC,
};
pub use request::{AddOffsets, AddPartitions, EndTxn, InitProducerId, ListTransactions, Request};
pub use response::{DescribedTransaction, ListedTransaction, Response};
