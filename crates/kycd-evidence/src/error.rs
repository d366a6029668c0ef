use std::fmt;

/// Everything that can go wrong while rendering, signing, archiving or checking evidence.
/// Messages say what was wrong and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("could not serialise {what} to JSON: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("could not render the PDF report: {reason}")]
    Pdf { reason: String },

    #[error("the evidence signing key is unusable: {reason}")]
    Key { reason: String },

    #[error("the evidence token was refused: {reason}")]
    Token { reason: String },

    #[error(
        "the JWKS is unusable: {reason}; pass the tenant's key set as served by its JWKS endpoint, e.g. {{\"keys\":[{{\"kty\":\"EC\",…}}]}}"
    )]
    Jwks { reason: String },

    #[error("'{name}' cannot be used as an evidence file name: {reason}")]
    EntryName { name: String, reason: &'static str },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{context}: {source}")]
    Zip {
        context: String,
        #[source]
        source: zip::result::ZipError,
    },

    #[error("{path} is not a readable evidence archive: {reason}")]
    NotAnArchive { path: String, reason: String },

    /// The archive was read, but what it holds does not match what was signed. Every file
    /// with a problem is listed.
    #[error("{}", Problems(.problems))]
    ArchiveInvalid { problems: Vec<FileProblem> },
}

impl EvidenceError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
    pub(crate) fn zip(context: impl Into<String>, source: zip::result::ZipError) -> Self {
        Self::Zip {
            context: context.into(),
            source,
        }
    }
    pub(crate) fn token(reason: impl Into<String>) -> Self {
        Self::Token { reason: reason.into() }
    }

    /// The files an [`EvidenceError::ArchiveInvalid`] names (empty for other errors).
    pub fn problem_files(&self) -> Vec<&str> {
        match self {
            Self::ArchiveInvalid { problems } => problems.iter().map(|p| p.file.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

/// One file of an archive that failed verification, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The entry name inside the archive, e.g. `images/file_….jpg`.
    pub file: String,
    pub problem: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.problem)
    }
}

struct Problems<'a>(&'a [FileProblem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut files: Vec<&str> = Vec::new();
        for p in self.0 {
            if !files.contains(&p.file.as_str()) {
                files.push(&p.file);
            }
        }
        write!(f, "archive NOT verified: {} failed the check", files.join(", "))?;
        for p in self.0 {
            write!(f, "\n  - {p}")?;
        }
        write!(
            f,
            "\nDo not rely on this archive: it was changed after it was signed, or it was not signed with a key of the JWKS given. \
             Export the evidence again from kycd."
        )
    }
}
