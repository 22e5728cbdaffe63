//! Inventory config: the TOML file model, loading, validation and its errors.
//! Must not import ratatui, bollard or anything that does I/O beyond reading files.
//!
//! [`load`] reads, parses (`raw`, serde with spans), and validates (`validate`)
//! into the plain [`model`] types. Every failure is one [`ConfigError`] naming
//! file, line, column, dotted key and the quoted bad value.

// `ConfigError` has the fields the API promises (file, line, column, key, value,
// problem, hint); it is built once per failed start, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod colour;
pub mod context;
pub mod discovered;
mod endpoint;
mod error;
pub mod keys;
mod locate;
mod login;
pub mod model;
mod raw;
mod secret;
mod validate;
mod values;

use std::path::Path;

use serde::Deserialize;

pub use colour::{COLOUR_NAMES, ColourSpec, NamedColour};
pub use error::ConfigError;
pub use login::{LoginError, RegistryLogin};
pub use model::*;
pub use secret::SecretError;

pub(crate) use error::{line_col, quote};
pub(crate) use values::{check_name, suggest};

/// Reads, parses and validates the inventory at `path`. `Config.path` is `path` as given;
/// relative TLS and `file:` secret paths resolve against its directory.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        key: "(file)".into(),
        value: error::quote(&path.display().to_string()),
        problem: format!("cannot read the config file: {e}"),
        hint: if e.kind() == std::io::ErrorKind::NotFound {
            format!("check the path, or write the inventory there ({WRITE_ONE})")
        } else {
            "check the path and its permissions".into()
        },
    })?;
    load_str(&src, path)
}

/// How to start an inventory, for every message that lacks one.
pub const WRITE_ONE: &str =
    "start from config/example.toml in shipdeck's repository; `shipdeck check` validates it";

/// The error of a command that needs an inventory when none was given
/// (`--config`, `$SHIPDECK_CONFIG`) and none was found (`./shipdeck.toml`,
/// `default`, the user's config file).
pub fn no_inventory(default: &Path) -> ConfigError {
    ConfigError {
        file: default.to_path_buf(),
        line: 1,
        column: 1,
        key: "(file)".into(),
        value: error::quote(&default.display().to_string()),
        problem: format!(
            "no inventory: neither ./shipdeck.toml nor {} exists, and no --config or $SHIPDECK_CONFIG names one",
            default.display()
        ),
        hint: format!(
            "write the inventory to ./shipdeck.toml or {} ({WRITE_ONE}), or pass --config FILE; `shipdeck` alone opens a read-only console on $DOCKER_HOST or the current Docker context",
            default.display()
        ),
    }
}

/// Like [`load`], from a string; `path` is used in messages and as the base for
/// relative paths.
pub fn load_str(src: &str, path: &Path) -> Result<Config, ConfigError> {
    let at = error::Located { src, file: path };
    let root = toml::de::DeTable::parse(src).map_err(|e| locate::syntax_error(&at, &e))?;
    let raw = raw::RawConfig::deserialize(toml::de::Deserializer::from(root.clone()))
        .map_err(|e| locate::schema_error(&at, root.get_ref(), &e))?;
    let base = path.parent().unwrap_or(Path::new(""));
    validate::validate(raw, &at, base)
}
