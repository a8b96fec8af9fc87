//! The gate's own decisions and answers: routing, CORS, challenges, forwarding plan, logs,
//! and the protected-request pipeline that ties the stages together.

pub mod cors;
pub mod forward;
pub mod header_edit;
pub mod health;
pub mod logline;
pub mod metadata;
pub mod pipeline;
pub mod request_line;
pub mod respond;
pub mod route;

pub use respond::{ChallengeContext, GateError};
pub use route::{route, Route};
