//! Where shipdeck keeps things on disk (XDG base directories), and which
//! inventory file it reads.

use std::path::{Path, PathBuf};

/// All the paths `shipdeck info` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Paths {
    /// `$XDG_CONFIG_HOME/shipdeck`
    pub config_dir: PathBuf,
    /// User themes: `$XDG_CONFIG_HOME/shipdeck/themes`
    pub themes_dir: PathBuf,
    /// `$XDG_STATE_HOME/shipdeck`: journal, build logs, log file.
    pub state_dir: PathBuf,
    /// `$XDG_STATE_HOME/shipdeck/shipdeck.log`
    pub log_file: PathBuf,
}

impl Paths {
    /// Resolve from the environment (XDG variables, then the platform defaults).
    pub fn from_env() -> Self {
        let home = dirs::home_dir().unwrap_or_else(|| PathBuf::from("/tmp"));
        let config_root = dirs::config_dir().unwrap_or_else(|| home.join(".config"));
        let state_root = dirs::state_dir().unwrap_or_else(|| home.join(".local/state"));
        let config_dir = config_root.join("shipdeck");
        let state_dir = state_root.join("shipdeck");
        Self {
            themes_dir: config_dir.join("themes"),
            log_file: state_dir.join("shipdeck.log"),
            config_dir,
            state_dir,
        }
    }

    /// The inventory file to read: `--config`, else `$SHIPDECK_CONFIG`, else
    /// `./shipdeck.toml`, else `$XDG_CONFIG_HOME/shipdeck/config.toml`
    /// (whether or not it exists).
    pub fn config_file(&self, flag: Option<&Path>) -> PathBuf {
        match self.inventory(flag) {
            Inventory::Given(p) | Inventory::Found(p) => p,
            Inventory::Missing { default } => default,
        }
    }

    /// Which inventory to read, in [`Paths::config_file`]'s order, telling a
    /// file that was asked for (read even when it is missing: a wrong path
    /// is an error) from none at all (the console then opens read-only on
    /// the Docker environment's engine).
    pub fn inventory(&self, flag: Option<&Path>) -> Inventory {
        if let Some(p) = flag {
            return Inventory::Given(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os("SHIPDECK_CONFIG").filter(|v| !v.is_empty()) {
            return Inventory::Given(PathBuf::from(p));
        }
        let local = PathBuf::from(LOCAL_INVENTORY);
        if local.is_file() {
            return Inventory::Found(local);
        }
        let default = self.config_dir.join("config.toml");
        if default.is_file() {
            Inventory::Found(default)
        } else {
            Inventory::Missing { default }
        }
    }
}

/// The inventory looked for in the working directory.
pub const LOCAL_INVENTORY: &str = "shipdeck.toml";

/// Where the inventory comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inventory {
    /// `--config` or `$SHIPDECK_CONFIG`.
    Given(PathBuf),
    /// `./shipdeck.toml` or the user's config file, found.
    Found(PathBuf),
    /// Neither given nor found; `default` is the user's config file.
    Missing { default: PathBuf },
}
