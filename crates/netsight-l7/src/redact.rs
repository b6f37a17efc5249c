//! Redaction of secrets in what records carry.

/// What replaces a redacted value.
pub const REDACTED: &str = "REDACTED";
