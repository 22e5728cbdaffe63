//! Text that comes out of containers (logs, build output), made safe to
//! put on a terminal: escape sequences and control characters go.

use std::borrow::Cow;

/// `line` without terminal escape sequences (CSI `ESC [ … final`, other
/// escapes: one character) and control characters; a tab becomes `tab`.
/// Borrowed when there was nothing to take out.
pub fn printable<'a>(line: &'a str, tab: &str) -> Cow<'a, str> {
    if !line.chars().any(char::is_control) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push_str(tab),
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for f in chars.by_ref() {
                        if ('@'..='~').contains(&f) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_controls_go_tabs_are_replaced() {
        assert!(matches!(printable("plain", "\t"), Cow::Borrowed("plain")));
        assert_eq!(
            printable("\u{1b}[31mred\u{1b}[0m\tok\r", "    "),
            "red    ok"
        );
        assert_eq!(printable("tab\there", "\t"), "tab\there");
    }
}
