//! Errors returned to the host, with constructors per category.

pub use crate::types::{ConnectorError, ErrorCategory};

/// Result type of every connector function.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

impl ConnectorError {
    /// An error of `category` with a stable `code` and a message telling the
    /// user what to fix.
    pub fn new(
        category: ErrorCategory,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConnectorError {
            category,
            code: code.into(),
            message: message.into(),
            retryable: false,
            details: None,
        }
    }

    /// A configuration error (missing or malformed key, bad path).
    pub fn config(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Config, code, message)
    }

    /// Credentials rejected or privileges missing.
    pub fn auth(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Auth, code, message)
    }

    /// A network failure; retryable by default.
    pub fn network(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Network, code, message).retryable()
    }

    /// A value could not be read, converted or written.
    pub fn data(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Data, code, message)
    }

    /// The data does not have the expected shape.
    pub fn schema(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Schema, code, message)
    }

    /// An unexpected condition inside the connector.
    pub fn internal(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Internal, code, message)
    }

    /// Marks the error as retryable.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// Attaches a JSON object of extra context.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details.to_string());
        self
    }
}
