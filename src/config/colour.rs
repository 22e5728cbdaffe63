//! The colour grammar shared by environment accents and theme files, without
//! ratatui: a terminal colour name, `#rrggbb`, or a 0–255 palette index.
//! `crate::theme` maps a [`ColourSpec`] to a ratatui `Color`.

/// The 16 ANSI colours plus the terminal's own default (`reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedColour {
    Reset,
    Black,
    Red,
    Green,
    Yellow,
    Blue,
    Magenta,
    Cyan,
    Gray,
    DarkGray,
    LightRed,
    LightGreen,
    LightYellow,
    LightBlue,
    LightMagenta,
    LightCyan,
    White,
}

/// A parsed colour value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourSpec {
    Named(NamedColour),
    Rgb(u8, u8, u8),
    Indexed(u8),
}

/// The names accepted, for hints.
pub const COLOUR_NAMES: &[&str] = &[
    "reset",
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "gray",
    "darkgray",
    "lightred",
    "lightgreen",
    "lightyellow",
    "lightblue",
    "lightmagenta",
    "lightcyan",
    "white",
];

impl ColourSpec {
    /// `red`, `light-blue`, `dark_grey`, `#ff8800`, `"42"`; case-insensitive.
    pub fn parse(s: &str) -> Option<ColourSpec> {
        use NamedColour::*;
        let s = s.trim();
        if let Some(hex) = s.strip_prefix('#') {
            if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
            return Some(ColourSpec::Rgb(byte(0)?, byte(2)?, byte(4)?));
        }
        if let Ok(i) = s.parse::<u8>() {
            return Some(ColourSpec::Indexed(i));
        }
        let norm = s
            .to_ascii_lowercase()
            .replace([' ', '-', '_'], "")
            .replace("grey", "gray");
        let named = match norm.as_str() {
            "reset" | "default" => Reset,
            "black" => Black,
            "red" => Red,
            "green" => Green,
            "yellow" => Yellow,
            "blue" => Blue,
            "magenta" => Magenta,
            "cyan" => Cyan,
            "gray" => Gray,
            "darkgray" => DarkGray,
            "lightred" => LightRed,
            "lightgreen" => LightGreen,
            "lightyellow" => LightYellow,
            "lightblue" => LightBlue,
            "lightmagenta" => LightMagenta,
            "lightcyan" => LightCyan,
            "white" => White,
            _ => return None,
        };
        Some(ColourSpec::Named(named))
    }
}

/// The hint shown for a bad colour value.
pub const COLOUR_HINT: &str = "use a colour name (red, lightblue, darkgray, reset, …), \"#rrggbb\" or a palette index \"0\"..\"255\"";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_hex_and_indexes() {
        assert_eq!(
            ColourSpec::parse("red"),
            Some(ColourSpec::Named(NamedColour::Red))
        );
        assert_eq!(
            ColourSpec::parse("Light-Blue"),
            Some(ColourSpec::Named(NamedColour::LightBlue))
        );
        assert_eq!(
            ColourSpec::parse("dark_grey"),
            Some(ColourSpec::Named(NamedColour::DarkGray))
        );
        assert_eq!(
            ColourSpec::parse("#FF8800"),
            Some(ColourSpec::Rgb(255, 136, 0))
        );
        assert_eq!(ColourSpec::parse("42"), Some(ColourSpec::Indexed(42)));
        for bad in ["", "redd", "#12345", "#gggggg", "256", "#ff88001"] {
            assert_eq!(ColourSpec::parse(bad), None, "{bad:?}");
        }
        for name in COLOUR_NAMES {
            assert!(ColourSpec::parse(name).is_some(), "{name}");
        }
    }
}
