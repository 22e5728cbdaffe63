//! `shipdeck info`: where shipdeck keeps its files.

use std::io::Write;

use crate::paths::Paths;

/// `shipdeck info [--json]`: where things live.
pub fn info(
    paths: &Paths,
    config_file: &std::path::Path,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if json {
        let mut v = serde_json::to_value(paths)?;
        v["config_file"] = serde_json::Value::String(config_file.display().to_string());
        v["version"] = serde_json::Value::String(env!("CARGO_PKG_VERSION").into());
        serde_json::to_writer(&mut *out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(out, "shipdeck {}", env!("CARGO_PKG_VERSION"))?;
        writeln!(out, "config file:  {}", config_file.display())?;
        writeln!(out, "config dir:   {}", paths.config_dir.display())?;
        writeln!(out, "themes dir:   {}", paths.themes_dir.display())?;
        writeln!(out, "state dir:    {}", paths.state_dir.display())?;
        writeln!(out, "log file:     {}", paths.log_file.display())?;
    }
    Ok(())
}
