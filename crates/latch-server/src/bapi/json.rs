//! The Backend API's JSON: the shapes live in `latch_flows::backend::json`, because the
//! webhook events a flow writes carry the same JSON as `data`.

pub use latch_flows::backend::json::*;
