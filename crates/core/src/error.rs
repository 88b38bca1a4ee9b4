//! The core error type.
//!
//! Family crates classify their SDK errors before they reach this type, so that an error here is
//! either something the operator can act on or a failure to report with its cause.

use crate::safety::Refusal;

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core and in the resource families.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An environment file is wrong; the message names the file, the key and the fix.
    #[error("{0}")]
    Config(String),
    /// A change was refused for safety before any mutating call (exit code 3).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The credentials belong to an account the environment does not allow.
    #[error("{0}")]
    WrongAccount(String),
    /// A resource under our name belongs to someone else (another account's bucket, …).
    #[error("{0}")]
    Foreign(String),
    /// A call to AWS failed; `operation` names what we were doing.
    #[error("{operation}: {message}")]
    Aws {
        /// What we were doing, e.g. `PutBucketVersioning on dal-dev-ai-data`.
        operation: String,
        /// The service's error code and message.
        message: String,
    },
    /// A create found the resource already there (a retried call whose first answer was lost,
    /// or another run): the engine converges it if it is ours.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A value needed from another resource is not known yet (plan before create).
    #[error("value not known until apply: {0}")]
    Unknown(String),
    /// Another run holds the environment's run lock; the message says who, since when, and how
    /// to wait or break it.
    #[error("{0}")]
    Locked(String),
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// A failed call of `service`'s `operation` on `what` (`rds:CreateDBCluster on dal-dev-aurora`;
    /// `what` empty: the call alone), with AWS's code and message: the one constructor every
    /// resource's calls use.
    pub fn aws_on<E>(service: &str, operation: &str, what: &str, err: &E) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error,
    {
        if what.is_empty() {
            Error::aws(format!("{service}:{operation}"), err)
        } else {
            Error::aws(format!("{service}:{operation} on {what}"), err)
        }
    }

    /// Build an [`Error::Aws`] from an SDK error, keeping its code and message but never its raw
    /// request or response (which could carry a secret value).
    pub fn aws<E>(operation: impl Into<String>, err: &E) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error,
    {
        let message = match (err.code(), err.message()) {
            (Some(code), Some(msg)) => format!("{code}: {msg}"),
            (Some(code), None) => code.to_string(),
            // The chain of Display messages only: a Debug print of an SDK error carries the raw
            // response, which may hold a secret value.
            _ => {
                let mut msg = err.to_string();
                let mut source = err.source();
                while let Some(s) = source {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    source = s.source();
                }
                msg
            }
        };
        Error::Aws {
            operation: operation.into(),
            message,
        }
    }

    /// An SDK error of a create: [`Error::AlreadyExists`] when its code is one of `codes`, else
    /// [`Error::aws`].
    pub fn on_create<E>(operation: &str, name: &str, err: &E, codes: &[&str]) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error,
    {
        if err.code().is_some_and(|c| codes.contains(&c)) {
            Error::AlreadyExists(format!("`{name}`"))
        } else {
            Error::aws(format!("{operation} on {name}"), err)
        }
    }

    /// Whether this is an AWS error with the service's error code `code`.
    pub fn is_code(&self, code: &str) -> bool {
        match self {
            Error::Aws { message, .. } => {
                message == code
                    || message
                        .strip_prefix(code)
                        .is_some_and(|r| r.starts_with(':'))
            }
            _ => false,
        }
    }

    /// The process exit code this error maps to (see [`crate::ExitCode`]).
    pub fn exit_code(&self) -> crate::ExitCode {
        match self {
            Error::Refused(_) => crate::ExitCode::Refused,
            _ => crate::ExitCode::Error,
        }
    }
}
