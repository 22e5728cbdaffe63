//! Small text formatters shared by the views.

pub use crate::domain::summary::duration_short;

/// Shorten `text` to `max` chars with a trailing `…`.
pub fn ellipsize(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_short(5), "5s");
        assert_eq!(duration_short(192), "3m12s");
        assert_eq!(duration_short(7500), "2h05m");
        assert_eq!(duration_short(3 * 86_400 + 4 * 3600), "3d04h");
        assert_eq!(duration_short(-3), "0s");
    }

    #[test]
    fn ellipsis() {
        assert_eq!(ellipsize("abcdef", 4), "abc…");
        assert_eq!(ellipsize("abc", 4), "abc");
    }
}
