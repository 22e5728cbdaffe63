//! Themes: every colour the UI uses, named by meaning (`health_bad`,
//! `rollout_failed`…), loaded from flat TOML files. Built-ins live in `themes/`
//! and are embedded with `include_str!`; a user theme in the user's theme dir
//! overrides only the keys it sets. The colour grammar itself is
//! [`crate::config::ColourSpec`]; this module only maps it to ratatui.
//! Must not import the engine, the app state or anything async.

// `ThemeError` carries a whole located message like `ConfigError`; it is built
// once per failed start, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use ratatui::style::Color;
use toml::de::{DeTable, DeValue};

use crate::config::{ColourSpec, Environment, NamedColour};

/// Built-in themes: (name, file name, TOML source).
const BUILTINS: &[(&str, &str, &str)] = &[
    (
        "default",
        "themes/default.toml",
        include_str!("../themes/default.toml"),
    ),
    (
        "high-contrast",
        "themes/high-contrast.toml",
        include_str!("../themes/high-contrast.toml"),
    ),
];

const BUILTIN_NAMES: &[&str] = &["default", "high-contrast"];

/// The names of the built-in themes.
pub fn builtin_names() -> &'static [&'static str] {
    BUILTIN_NAMES
}

macro_rules! theme_struct {
    ($( $(#[doc = $doc:expr])* $key:ident ),* $(,)?) => {
        /// Every colour the UI draws with. Views take these by meaning and never
        /// hard-code a colour.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Theme {
            $( $(#[doc = $doc])* pub $key: Color, )*
            /// Set by [`Theme::no_color`] (`NO_COLOR`): every colour is `Reset`
            /// and [`Theme::env_accent`] ignores accents from the config; the UI
            /// then relies on bold / reversed / underline.
            pub monochrome: bool,
        }

        impl Theme {
            /// Every key a theme file may set, in file order.
            pub const KEYS: &'static [&'static str] = &[ $( stringify!($key) ),* ];

            /// A theme with every colour `Color::Reset` (for `NO_COLOR`).
            pub fn no_color() -> Theme {
                Theme { $( $key: Color::Reset, )* monochrome: true }
            }

            /// The colour of a key by name.
            pub fn get(&self, key: &str) -> Option<Color> {
                match key {
                    $( stringify!($key) => Some(self.$key), )*
                    _ => None,
                }
            }

            /// Sets a key; false when there is no such key.
            fn set(&mut self, key: &str, colour: Color) -> bool {
                match key {
                    $( stringify!($key) => self.$key = colour, )*
                    _ => return false,
                }
                true
            }
        }
    };
}

theme_struct! {
    /// Normal text.
    fg,
    /// Background of the whole console (`reset` keeps the terminal's own).
    bg,
    /// Secondary text: timestamps, units, placeholders.
    muted,
    /// The console's accent: the active tab, the palette prompt.
    accent,
    /// Borders of panes that do not have focus.
    border,
    /// The border of the focused pane.
    border_focus,
    /// Pane titles.
    title,
    /// Table header text.
    header_fg,
    /// Table header background.
    header_bg,
    /// Text of the selected row.
    selection_fg,
    /// Background of the selected row.
    selection_bg,
    /// Key names in the footer and the help view.
    key_hint,
    /// The part of a name that matches the `/` filter.
    filter_match,
    /// Health check passing.
    health_ok,
    /// Health check failing.
    health_bad,
    /// Health check in its start period.
    health_starting,
    /// No health check configured or known.
    health_none,
    /// The host's Docker engine answers.
    host_reachable,
    /// The host's Docker engine does not answer.
    host_unreachable,
    /// Connecting or reconnecting to the host.
    host_connecting,
    /// Container running.
    state_running,
    /// Container stopped / exited.
    state_stopped,
    /// Any other container state (created, restarting, paused, dead).
    state_other,
    /// A rollout or batch in progress.
    rollout_running,
    /// A rollout or batch that succeeded.
    rollout_ok,
    /// A rollout or batch that failed.
    rollout_failed,
    /// A paused rollout (waiting for an operator).
    rollout_paused,
    /// Accent of an environment without `confirm`.
    env_default,
    /// Accent of an environment with `confirm = true` (prod).
    env_prod,
    /// Error messages.
    error,
    /// Warnings.
    warning,
    /// Log lines written to stderr.
    log_stderr,
    /// The console's own lines in a log (dropped lines, a reconnect).
    log_marker,
    /// A search hit in a log.
    search_match,
    /// The search hit `n` / `N` stand on.
    search_current,
    /// Hosts' prefixes in a log: each host gets one of these six, always
    /// the same one for the same name.
    host_1,
    host_2,
    host_3,
    host_4,
    host_5,
    host_6,
    /// CPU / memory sparkline below 70 %.
    usage_ok,
    /// … from 70 % to 90 %.
    usage_warn,
    /// … above 90 %.
    usage_high,
}

impl Default for Theme {
    /// The built-in `default` theme.
    fn default() -> Self {
        builtin("default").unwrap_or_else(|_| Theme::no_color())
    }
}

impl Theme {
    /// The colour of a host's prefix in a log: the same for the same name
    /// in every session (a hash of the name, not its place in a list).
    pub fn host_colour(&self, host: &str) -> Color {
        let h = host.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        [
            self.host_1,
            self.host_2,
            self.host_3,
            self.host_4,
            self.host_5,
            self.host_6,
        ][(h % 6) as usize]
    }

    /// The colour of a usage (CPU or memory) in percent.
    pub fn usage_colour(&self, pct: f64) -> Color {
        if pct >= 90.0 {
            self.usage_high
        } else if pct >= 70.0 {
            self.usage_warn
        } else {
            self.usage_ok
        }
    }

    /// The accent of an environment: its configured `accent` when set and
    /// parseable, else `env_prod` for environments that need confirmation, else
    /// `env_default`. A monochrome theme never returns a configured accent.
    pub fn env_accent(&self, env: &Environment) -> Color {
        if !self.monochrome
            && let Some(spec) = env.accent.as_deref().and_then(ColourSpec::parse)
        {
            return to_color(spec);
        }
        if env.confirm {
            self.env_prod
        } else {
            self.env_default
        }
    }
}

/// A ratatui colour from the shared colour grammar.
pub fn to_color(spec: ColourSpec) -> Color {
    match spec {
        ColourSpec::Rgb(r, g, b) => Color::Rgb(r, g, b),
        ColourSpec::Indexed(i) => Color::Indexed(i),
        ColourSpec::Named(n) => match n {
            NamedColour::Reset => Color::Reset,
            NamedColour::Black => Color::Black,
            NamedColour::Red => Color::Red,
            NamedColour::Green => Color::Green,
            NamedColour::Yellow => Color::Yellow,
            NamedColour::Blue => Color::Blue,
            NamedColour::Magenta => Color::Magenta,
            NamedColour::Cyan => Color::Cyan,
            NamedColour::Gray => Color::Gray,
            NamedColour::DarkGray => Color::DarkGray,
            NamedColour::LightRed => Color::LightRed,
            NamedColour::LightGreen => Color::LightGreen,
            NamedColour::LightYellow => Color::LightYellow,
            NamedColour::LightBlue => Color::LightBlue,
            NamedColour::LightMagenta => Color::LightMagenta,
            NamedColour::LightCyan => Color::LightCyan,
            NamedColour::White => Color::White,
        },
    }
}

/// Why a theme could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// A bad key or value in a theme file; rendered like a config error.
    #[error("theme error: {}:{line}:{column}: {key} = {value}: {problem}\n  hint: {hint}", file.display())]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        key: String,
        /// The bad value (or unknown key), quoted.
        value: String,
        problem: String,
        hint: String,
    },
    /// No built-in and no user file of that name.
    #[error("theme error: unknown theme {name:?}\n  hint: available themes: {}", available.join(", "))]
    Unknown {
        name: String,
        available: Vec<String>,
    },
    /// The user theme file exists but cannot be read.
    #[error("theme error: cannot read {}: {source}\n  hint: check the file's permissions", file.display())]
    Unreadable {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ThemeError {
    /// The process exit code for a bad theme (same as a bad config).
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// Loads theme `name`: the built-in `default`, overlaid with the built-in
/// `name` if there is one, overlaid with `user_dir/NAME.toml` if it exists.
/// With `no_color`, returns [`Theme::no_color`] without reading anything.
pub fn load(name: &str, user_dir: Option<&Path>, no_color: bool) -> Result<Theme, ThemeError> {
    if no_color {
        return Ok(Theme::no_color());
    }
    let builtin_src = BUILTINS.iter().find(|(n, _, _)| *n == name);
    // A theme name is a file stem: a name like "../x" must not walk out of the dir.
    let safe_name = crate::config::check_name(name).is_ok() && !name.contains("..");
    let user_file = user_dir
        .filter(|_| safe_name)
        .map(|d| d.join(format!("{name}.toml")))
        .filter(|p| p.is_file());

    if builtin_src.is_none() && user_file.is_none() {
        return Err(ThemeError::Unknown {
            name: name.to_string(),
            available: available_names(user_dir),
        });
    }
    let mut theme = builtin(name)?;
    if let Some(file) = user_file {
        let src = std::fs::read_to_string(&file).map_err(|source| ThemeError::Unreadable {
            file: file.clone(),
            source,
        })?;
        overlay(&mut theme, &src, &file)?;
    }
    Ok(theme)
}

/// Built-in names plus the stems of `*.toml` files in `user_dir`, sorted.
fn available_names(user_dir: Option<&Path>) -> Vec<String> {
    let mut names: Vec<String> = BUILTIN_NAMES.iter().map(|s| s.to_string()).collect();
    if let Some(entries) = user_dir.and_then(|d| std::fs::read_dir(d).ok()) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml")
                && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                && !names.iter().any(|n| n == stem)
            {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    names
}

/// The built-in default, overlaid with the built-in `name` when there is one.
fn builtin(name: &str) -> Result<Theme, ThemeError> {
    let mut theme = Theme::no_color();
    theme.monochrome = false;
    for (n, file, src) in BUILTINS {
        if *n == "default" || *n == name {
            overlay(&mut theme, src, Path::new(file))?;
        }
    }
    Ok(theme)
}

/// Applies the keys set in `src` to `theme`.
fn overlay(theme: &mut Theme, src: &str, file: &Path) -> Result<(), ThemeError> {
    let invalid =
        |span: std::ops::Range<usize>, key: &str, value: String, problem: String, hint: String| {
            let (line, column) = crate::config::line_col(src, span.start);
            ThemeError::Invalid {
                file: file.to_path_buf(),
                line,
                column,
                key: key.to_string(),
                value,
                problem,
                hint,
            }
        };
    let table = DeTable::parse(src).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let text = src.get(span.clone()).unwrap_or_default().to_string();
        invalid(
            span,
            "(syntax)",
            crate::config::quote(&text),
            format!("invalid TOML: {}", e.message()),
            "a theme is flat TOML: one `key = \"colour\"` per line".to_string(),
        )
    })?;
    // Report the earliest problem in the file, like config errors.
    let mut entries: Vec<_> = table.get_ref().iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (k, v) in entries {
        let key = k.get_ref().as_ref();
        if Theme::KEYS.contains(&key) {
            let colour = match v.get_ref() {
                DeValue::String(s) => ColourSpec::parse(s).map(to_color),
                DeValue::Integer(i) => i.as_str().parse::<u8>().ok().map(Color::Indexed),
                _ => None,
            };
            let Some(colour) = colour else {
                let value = match v.get_ref() {
                    DeValue::String(s) => crate::config::quote(s),
                    _ => crate::config::quote(src.get(v.span()).unwrap_or_default().trim()),
                };
                return Err(invalid(
                    v.span(),
                    key,
                    value,
                    "not a colour".to_string(),
                    crate::config::colour::COLOUR_HINT.to_string(),
                ));
            };
            theme.set(key, colour);
        } else {
            let mut hint = format!("theme keys: {}", Theme::KEYS.join(", "));
            if let Some(s) = crate::config::suggest(key, Theme::KEYS.iter().copied()) {
                hint = format!("did you mean `{s}`? {hint}");
            }
            return Err(invalid(
                k.span(),
                key,
                crate::config::quote(key),
                "unknown theme key".to_string(),
                hint,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_set_every_key() {
        for (name, file, src) in BUILTINS {
            let Ok(table) = DeTable::parse(src) else {
                unreachable!("{file} does not parse");
            };
            for key in Theme::KEYS {
                assert!(
                    table.get_ref().keys().any(|k| k.get_ref() == key),
                    "built-in theme {name} misses {key}"
                );
            }
            assert!(load(name, None, false).is_ok(), "{name}");
        }
        assert_eq!(builtin_names().len(), BUILTINS.len());
    }

    #[test]
    fn integer_index_is_a_colour() {
        let mut t = Theme::no_color();
        assert!(overlay(&mut t, "fg = 42\nbg = \"#102030\"\n", Path::new("x.toml")).is_ok());
        assert_eq!((t.fg, t.bg), (Color::Indexed(42), Color::Rgb(16, 32, 48)));
    }
}
