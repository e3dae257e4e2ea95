//! The gradient checker (placeholder module map; filled in below).
pub mod bugs;
