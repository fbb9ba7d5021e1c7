//! The one error type that crosses the FFI boundary, and conversions into it.

use duroxide::ClientError;

/// Mirrors `DuroxideError` in `udl/duroxide.udl`; the Python layer maps each variant to
/// an exception class (`python/duroxide/errors.py`).
#[derive(Debug, thiserror::Error)]
pub enum DuroxideError {
    #[error("{reason}")]
    InvalidInput { reason: String },
    #[error("{reason}")]
    NotFound { reason: String },
    #[error("{reason}")]
    NotRegistered { reason: String },
    #[error("{reason}")]
    Timeout { reason: String },
    #[error("{reason}")]
    Provider { reason: String },
    #[error("{reason}")]
    Closed { reason: String },
    #[error("{reason}")]
    Internal { reason: String },
}

pub type Result<T> = std::result::Result<T, DuroxideError>;

impl DuroxideError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput {
            reason: message.into(),
        }
    }
    pub fn provider(message: impl Into<String>) -> Self {
        Self::Provider {
            reason: message.into(),
        }
    }
    pub fn closed(message: impl Into<String>) -> Self {
        Self::Closed {
            reason: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            reason: message.into(),
        }
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::Timeout {
            reason: message.into(),
        }
    }
}

impl From<ClientError> for DuroxideError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::InvalidInput { message } => Self::InvalidInput { reason: message },
            ClientError::Timeout => Self::timeout("timed out waiting for the instance"),
            ClientError::InstanceNotFound { instance_id } => Self::NotFound {
                reason: format!("instance '{instance_id}' not found"),
            },
            ClientError::InstanceStillRunning { instance_id } => Self::invalid(format!(
                "instance '{instance_id}' is still running; cancel it and wait until it ends, or pass force=True"
            )),
            ClientError::CannotDeleteSubOrchestration { instance_id } => Self::invalid(format!(
                "instance '{instance_id}' is a sub-orchestration; delete its root instance instead (deletion cascades to children)"
            )),
            // PostgreSQL words the running-instance refusal of a delete its own way.
            ClientError::Provider(e) if e.message.contains("is Running") && e.message.contains("force") => {
                Self::invalid(format!(
                    "{}: the instance is still running; cancel it and wait until it ends, or pass force=True",
                    e.message
                ))
            }
            ClientError::Provider(e) if e.message.to_ascii_lowercase().contains("not found") => {
                Self::NotFound {
                    reason: e.to_string(),
                }
            }
            ClientError::Provider(e) => Self::provider(e.to_string()),
            other => Self::provider(other.to_string()),
        }
    }
}

/// A foreign callback that raised something its implementation did not declare.
/// Without this conversion UniFFI would panic inside the runtime.
impl From<uniffi::UnexpectedUniFFICallbackError> for DuroxideError {
    fn from(err: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::internal(format!("foreign callback failed: {}", err.reason))
    }
}
