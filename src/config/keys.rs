//! `[keys]`: the console's key bindings as the config writes them,
//! `COMMAND = "KEY"` or `COMMAND = ["KEY", "KEY"]`. The key grammar and the
//! command names live here so that a typo fails at load with a located
//! error like every other key; the console turns [`KeySpec`]s into its own
//! key type (and a test there keeps [`COMMAND_NAMES`] equal to its table).

/// Every command name `[keys]` may bind (the console's command table).
pub const COMMAND_NAMES: &[&str] = &[
    "enter",
    "back",
    "up",
    "down",
    "top",
    "bottom",
    "half-page-down",
    "half-page-up",
    "filter",
    "sort",
    "deploy",
    "promote",
    "rollback",
    "rollout",
    "history",
    "pause-resume",
    "abort",
    "retry",
    "resume",
    "break-lock",
    "restart",
    "stop",
    "start",
    "shell",
    "remove-project",
    "dockerfile",
    "tags",
    "build",
    "ship",
    "reconnect",
    "logs",
    "health",
    "search",
    "search-next",
    "search-prev",
    "timestamps",
    "wrap",
    "save-logs",
    "fullscreen",
    "since",
    "redraw",
    "palette",
    "help",
    "quit",
];

/// A key without its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyName {
    Char(char),
    Enter,
    Esc,
    Tab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    F(u8),
}

/// A key as `[keys]` writes it: `D`, `space`, `ctrl-x`, `f5`, `pgdn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySpec {
    pub code: KeyName,
    pub ctrl: bool,
}

/// One `[keys]` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBinding {
    pub command: String,
    pub keys: Vec<KeySpec>,
}

/// The named keys `[keys]` understands, for the hint of a bad one.
pub const KEY_HINT: &str = "write one character (\"D\", \"?\"), or space, enter, esc, tab, backspace, delete, up, down, left, right, home, end, pgup, pgdn, f1..f12, each optionally after ctrl- (\"ctrl-x\")";

/// Parse one key; `Err` says what is wrong with it.
pub fn parse_key(text: &str) -> Result<KeySpec, String> {
    let (ctrl, rest) = match text
        .strip_prefix("ctrl-")
        .or_else(|| text.strip_prefix("ctrl+"))
    {
        Some(r) if !r.is_empty() => (true, r),
        _ => (false, text),
    };
    let mut chars = rest.chars();
    let code = match (chars.next(), chars.next()) {
        (None, _) => return Err("an empty key".into()),
        (Some(c), None) => {
            if c.is_control() {
                return Err("a control character".into());
            }
            KeyName::Char(c)
        }
        _ => match rest.to_ascii_lowercase().as_str() {
            "space" => KeyName::Char(' '),
            "enter" | "return" => KeyName::Enter,
            "esc" | "escape" => KeyName::Esc,
            "tab" => KeyName::Tab,
            "backspace" => KeyName::Backspace,
            "delete" | "del" => KeyName::Delete,
            "up" => KeyName::Up,
            "down" => KeyName::Down,
            "left" => KeyName::Left,
            "right" => KeyName::Right,
            "home" => KeyName::Home,
            "end" => KeyName::End,
            "pgup" | "pageup" => KeyName::PageUp,
            "pgdn" | "pagedown" => KeyName::PageDown,
            f if f.starts_with('f') => match f[1..].parse::<u8>() {
                Ok(n @ 1..=12) => KeyName::F(n),
                _ => return Err(format!("no function key \"{rest}\"")),
            },
            _ => return Err(format!("no key named \"{rest}\"")),
        },
    };
    if ctrl && !matches!(code, KeyName::Char(c) if c.is_ascii_alphabetic()) {
        return Err("ctrl- goes with a letter only (the terminal sends nothing else)".into());
    }
    Ok(KeySpec { code, ctrl })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_key("ctrl-x"),
            Ok(KeySpec {
                code: KeyName::Char('x'),
                ctrl: true
            })
        );
        assert_eq!(parse_key("space").map(|k| k.code), Ok(KeyName::Char(' ')));
        assert_eq!(parse_key("f5").map(|k| k.code), Ok(KeyName::F(5)));
        assert_eq!(parse_key("D").map(|k| k.code), Ok(KeyName::Char('D')));
        assert!(parse_key("ctrl-1").is_err());
        assert!(parse_key("hyper-x").is_err_and(|e| e.contains("no key named")));
        assert!(parse_key("").is_err());
    }
}
