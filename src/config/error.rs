//! `ConfigError`: one user-facing problem in an inventory file, located by file,
//! line, column and dotted key, with the quoted bad value and a hint.
//! Also the small helpers every error builder shares (positions, quoting, key paths).

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What `shipdeck` prints for a bad config before the terminal enters raw mode:
///
/// ```text
/// config error: inventory.toml:12:12: hosts[1].endpoint = "htp://10.0.0.1": unknown endpoint scheme "htp"
///   hint: use unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "config error: {}:{line}:{column}: {key} = {value}: {problem}\n  hint: {hint}",
    file.display()
)]
pub struct ConfigError {
    /// The config file, as given to [`crate::config::load`].
    pub file: PathBuf,
    /// 1-based line of the bad value (or key).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Readable dotted path of the key, e.g. `hosts[2].endpoint`.
    pub key: String,
    /// The bad value quoted as it appears in the file (`"qa"`), or `(missing)`.
    /// A literal secret is never shown: it reads `"<literal value hidden>"`.
    pub value: String,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub hint: String,
}

impl ConfigError {
    /// The process exit code for a bad config.
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// Shown instead of a value that looks like a literal secret.
pub(crate) const HIDDEN: &str = "\"<literal value hidden>\"";
/// Shown as the value of a required key that is absent.
pub(crate) const MISSING: &str = "(missing)";

/// 1-based (line, column) of a byte offset; the column counts characters.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// `"value"`, escaped the way Rust's `Debug` escapes a string.
pub(crate) fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Renders `[Key(hosts), Index(2), Key(endpoint)]` as `hosts[2].endpoint`;
/// keys that are not bare TOML keys are quoted (`env."my.var"`).
pub(crate) fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&render_key(k));
            }
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// A key as it would be written in TOML: bare when possible, else quoted.
pub(crate) fn render_key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { k.to_string() } else { quote(k) }
}

/// Builds errors for one source text.
pub(crate) struct Located<'a> {
    pub src: &'a str,
    pub file: &'a Path,
}

impl Located<'_> {
    pub(crate) fn error(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        value: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = line_col(self.src, span.start);
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.into(),
            value: value.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    /// The source text of a span, quoted (for non-string values such as numbers).
    pub(crate) fn quoted_src(&self, span: Range<usize>) -> String {
        quote(self.src.get(span).unwrap_or_default().trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_is_one_based_and_counts_chars() {
        let src = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 4), (1, 5));
        assert_eq!(line_col(src, 6), (2, 1));
        // "bé = " is 6 bytes but 5 chars.
        assert_eq!(line_col(src, 12), (2, 6));
        assert_eq!(line_col(src, 999), (3, 1));
    }

    #[test]
    fn paths_render_readably() {
        let p = [
            Seg::Key("projects".into()),
            Seg::Index(0),
            Seg::Key("hosts".into()),
            Seg::Key("qa".into()),
        ];
        assert_eq!(render_path(&p), "projects[0].hosts.qa");
        let p = [Seg::Key("env".into()), Seg::Key("my.var".into())];
        assert_eq!(render_path(&p), "env.\"my.var\"");
    }

    #[test]
    fn display_has_two_lines() {
        let e = ConfigError {
            file: "x.toml".into(),
            line: 3,
            column: 12,
            key: "hosts[0].endpoint".into(),
            value: quote("htp://a"),
            problem: "unknown endpoint scheme \"htp\"".into(),
            hint: "use tcp://".into(),
        };
        assert_eq!(
            e.to_string(),
            "config error: x.toml:3:12: hosts[0].endpoint = \"htp://a\": unknown endpoint scheme \"htp\"\n  hint: use tcp://"
        );
        assert_eq!(e.exit_code(), 2);
    }
}
