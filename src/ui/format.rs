//! Small text formatters shared by the views.

pub use crate::domain::summary::duration_short;

/// Bytes in a few characters: `512K`, `34M`, `1.2G`.
pub fn bytes_short(b: u64) -> String {
    const K: u64 = 1 << 10;
    const M: u64 = 1 << 20;
    const G: u64 = 1 << 30;
    if b >= G {
        format!("{:.1}G", b as f64 / G as f64)
    } else if b >= M {
        format!("{}M", b / M)
    } else {
        format!("{}K", b / K)
    }
}

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
    fn bytes() {
        assert_eq!(bytes_short(512 * 1024), "512K");
        assert_eq!(bytes_short(34 << 20), "34M");
        assert_eq!(bytes_short(3 << 29), "1.5G");
    }

    #[test]
    fn ellipsis() {
        assert_eq!(ellipsize("abcdef", 4), "abc…");
        assert_eq!(ellipsize("abc", 4), "abc");
    }
}
