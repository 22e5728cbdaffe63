//! Secret references (`env:NAME`, `file:PATH`): parsing and resolving.
//! Errors name the reference and the reason, never the secret's value.

use std::fmt;
use std::path::PathBuf;

use super::model::{Secret, SecretRef};

/// Why a secret reference could not be resolved. Never carries the value.
/// Displays as `secret env:NAME: environment variable NAME is not set`.
#[derive(Debug)]
pub enum SecretError {
    EnvUnset {
        name: String,
    },
    EnvEmpty {
        name: String,
    },
    EnvNotUnicode {
        name: String,
    },
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    FileEmpty {
        path: PathBuf,
    },
}

impl SecretError {
    /// The reference that failed (`env:NAME` / `file:PATH`, the path resolved).
    pub fn reference(&self) -> String {
        match self {
            SecretError::EnvUnset { name }
            | SecretError::EnvEmpty { name }
            | SecretError::EnvNotUnicode { name } => format!("env:{name}"),
            SecretError::FileUnreadable { path, .. } | SecretError::FileEmpty { path } => {
                format!("file:{}", path.display())
            }
        }
    }

    /// Why it failed, without the reference.
    pub fn reason(&self) -> String {
        match self {
            SecretError::EnvUnset { name } => format!("environment variable {name} is not set"),
            SecretError::EnvEmpty { name } => format!("environment variable {name} is empty"),
            SecretError::EnvNotUnicode { name } => {
                format!("environment variable {name} is not valid UTF-8")
            }
            SecretError::FileUnreadable { source, .. } => format!("cannot read the file: {source}"),
            SecretError::FileEmpty { .. } => "the file is empty".to_string(),
        }
    }
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "secret {}: {}", self.reference(), self.reason())
    }
}

impl std::error::Error for SecretError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SecretError::FileUnreadable { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl SecretRef {
    /// Parses `env:NAME` (NAME a valid environment variable name) or
    /// `file:PATH` (non-empty). Anything else — a literal secret — is `None`.
    /// A relative `file:` path is kept as written; the config loader resolves it
    /// against the config file's directory.
    pub fn parse(s: &str) -> Option<SecretRef> {
        if let Some(name) = s.strip_prefix("env:") {
            super::values::is_env_var_name(name).then(|| SecretRef::Env(name.to_string()))
        } else if let Some(path) = s.strip_prefix("file:") {
            (!path.trim().is_empty()).then(|| SecretRef::File(PathBuf::from(path)))
        } else {
            None
        }
    }

    /// Reads the secret: the environment variable must exist and be non-empty;
    /// the file must be readable and non-empty (trailing newlines are trimmed).
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        match self {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if v.is_empty() => Err(SecretError::EnvEmpty { name: name.clone() }),
                Ok(v) => Ok(Secret::new(v)),
                Err(std::env::VarError::NotPresent) => {
                    Err(SecretError::EnvUnset { name: name.clone() })
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(SecretError::EnvNotUnicode { name: name.clone() })
                }
            },
            SecretRef::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| {
                    SecretError::FileUnreadable {
                        path: path.clone(),
                        source,
                    }
                })?;
                let value = text.trim_end_matches(['\n', '\r']);
                if value.is_empty() {
                    return Err(SecretError::FileEmpty { path: path.clone() });
                }
                Ok(Secret::new(value.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_references() {
        assert_eq!(
            SecretRef::parse("env:DB_PASSWORD"),
            Some(SecretRef::Env("DB_PASSWORD".into()))
        );
        assert_eq!(
            SecretRef::parse("file:secrets/db"),
            Some(SecretRef::File("secrets/db".into()))
        );
        for literal in [
            "hunter2", "env:", "env:1BAD", "env:A B", "file:", "file:  ", "ENV:X",
        ] {
            assert_eq!(SecretRef::parse(literal), None, "{literal:?}");
        }
    }

    #[test]
    fn resolve_reports_the_reference_not_the_value() {
        let unset = SecretRef::Env("SHIPDECK_TEST_SURELY_UNSET_UNIT_7F3A".into());
        let err = unset
            .resolve()
            .err()
            .map(|e| (e.reference(), e.to_string()));
        assert_eq!(
            err,
            Some((
                "env:SHIPDECK_TEST_SURELY_UNSET_UNIT_7F3A".into(),
                "secret env:SHIPDECK_TEST_SURELY_UNSET_UNIT_7F3A: environment variable SHIPDECK_TEST_SURELY_UNSET_UNIT_7F3A is not set".into()
            ))
        );
        let missing = SecretRef::File("/nonexistent/shipdeck/secret".into());
        assert!(matches!(
            missing.resolve(),
            Err(SecretError::FileUnreadable { .. })
        ));
    }

    #[test]
    fn resolve_file_trims_trailing_newline() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n")?;
        let secret = SecretRef::File(path.clone()).resolve()?;
        assert_eq!(secret.expose(), "s3cret");
        std::fs::write(&path, "\n")?;
        assert!(matches!(
            SecretRef::File(path).resolve(),
            Err(SecretError::FileEmpty { .. })
        ));
        Ok(())
    }
}
