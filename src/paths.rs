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
    /// `./shipdeck.toml`, else `$XDG_CONFIG_HOME/shipdeck/config.toml`.
    pub fn config_file(&self, flag: Option<&Path>) -> PathBuf {
        if let Some(p) = flag {
            return p.to_path_buf();
        }
        if let Some(p) = std::env::var_os("SHIPDECK_CONFIG").filter(|v| !v.is_empty()) {
            return PathBuf::from(p);
        }
        let local = PathBuf::from("shipdeck.toml");
        if local.is_file() {
            return local;
        }
        self.config_dir.join("config.toml")
    }
}
