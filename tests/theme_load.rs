//! Theme loading: the built-ins are complete, user themes override only the
//! keys they set, bad files are reported like config errors, NO_COLOR wins.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;

use ratatui::style::Color;
use shipdeck::config::Environment;
use shipdeck::theme::{self, Theme, ThemeError};

fn env(name: &str, confirm: bool, accent: Option<&str>) -> Environment {
    Environment {
        name: name.into(),
        env: BTreeMap::new(),
        confirm,
        readonly: false,
        accent: accent.map(Into::into),
        require_promotion_from: None,
    }
}

#[test]
fn builtins_define_every_key_and_nothing_else() {
    assert_eq!(theme::builtin_names(), ["default", "high-contrast"]);
    for name in theme::builtin_names() {
        let file = format!("themes/{name}.toml");
        let table: toml::Table = toml::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
        let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut want = Theme::KEYS.to_vec();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want, "{file}");
        let t = theme::load(name, None, false).unwrap_or_else(|e| panic!("{e}"));
        assert!(!t.monochrome);
        // The file's values are what the theme holds.
        for (k, v) in &table {
            let want: Color = v.as_str().unwrap().parse().unwrap();
            assert_eq!(t.get(k), Some(want), "{name}.{k}");
        }
    }
    let dark = theme::load("default", None, false).unwrap();
    let hc = theme::load("high-contrast", None, false).unwrap();
    assert_ne!(dark, hc);
    assert_eq!(Theme::default(), dark);
}

#[test]
fn a_user_theme_overrides_only_the_keys_it_sets() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("default.toml"),
        "# mine\nhealth_bad = \"#ff00ff\"\n",
    )
    .unwrap();
    fs::write(dir.path().join("high-contrast.toml"), "fg = \"42\"\n").unwrap();
    fs::write(dir.path().join("night.toml"), "accent = \"lightmagenta\"\n").unwrap();

    let builtin = theme::load("default", None, false).unwrap();
    let user = theme::load("default", Some(dir.path()), false).unwrap();
    assert_eq!(user.health_bad, Color::Rgb(255, 0, 255));
    for key in Theme::KEYS.iter().filter(|k| **k != "health_bad") {
        assert_eq!(user.get(key), builtin.get(key), "{key} changed");
    }

    // Over a built-in of the same name: that built-in's other keys stay.
    let hc = theme::load("high-contrast", None, false).unwrap();
    let user_hc = theme::load("high-contrast", Some(dir.path()), false).unwrap();
    assert_eq!(user_hc.fg, Color::Indexed(42));
    assert_eq!(user_hc.bg, hc.bg);

    // A new name overlays the default theme.
    let night = theme::load("night", Some(dir.path()), false).unwrap();
    assert_eq!(night.accent, Color::LightMagenta);
    assert_eq!(night.health_ok, builtin.health_ok);
}

#[test]
fn a_bad_colour_names_file_line_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    fs::write(
        &file,
        "# a user theme\nfg = \"white\"\nhealth_ok = \"greenish\"\n",
    )
    .unwrap();
    let err = theme::load("broken", Some(dir.path()), false).unwrap_err();
    let ThemeError::Invalid {
        file: f,
        line,
        column,
        key,
        value,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((f, *line, *column), (&file, 3, 13));
    assert_eq!(
        (key.as_str(), value.as_str()),
        ("health_ok", "\"greenish\"")
    );
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "theme error: {}:3:13: health_ok = \"greenish\": not a colour",
            file.display()
        )),
        "{shown}"
    );
    assert!(shown.contains("\n  hint: "), "{shown}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn an_unknown_key_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("typo.toml"), "helth_ok = \"green\"\n").unwrap();
    let err = theme::load("typo", Some(dir.path()), false).unwrap_err();
    let ThemeError::Invalid {
        line,
        key,
        value,
        hint,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        (*line, key.as_str(), value.as_str()),
        (1, "helth_ok", "\"helth_ok\"")
    );
    assert!(hint.contains("health_ok"), "{hint}");
}

#[test]
fn an_unknown_theme_lists_the_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("night.toml"), "").unwrap();
    let err = theme::load("solarized", Some(dir.path()), false).unwrap_err();
    let ThemeError::Unknown { name, available } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(name, "solarized");
    assert_eq!(available, &["default", "high-contrast", "night"]);
    assert!(
        err.to_string().contains("default, high-contrast, night"),
        "{err}"
    );
    // A name cannot reach outside the theme dir.
    assert!(theme::load("../night", Some(dir.path()), false).is_err());
}

#[test]
fn no_color_resets_every_colour_and_ignores_accents() {
    let t = theme::load("high-contrast", None, true).unwrap();
    assert_eq!(t, Theme::no_color());
    assert!(t.monochrome);
    for key in Theme::KEYS {
        assert_eq!(t.get(key), Some(Color::Reset), "{key}");
    }
    // NO_COLOR wins even over a theme name that does not exist.
    assert!(theme::load("no-such-theme", None, true).is_ok());
    assert_eq!(t.env_accent(&env("prod", true, Some("red"))), Color::Reset);
}

#[test]
fn environment_accents() {
    let t = theme::load("default", None, false).unwrap();
    assert_eq!(
        t.env_accent(&env("prod", true, Some("#102030"))),
        Color::Rgb(16, 32, 48)
    );
    assert_eq!(
        t.env_accent(&env("qa", false, Some("lightmagenta"))),
        Color::LightMagenta
    );
    assert_eq!(t.env_accent(&env("prod", true, None)), t.env_prod);
    assert_eq!(t.env_accent(&env("dev", false, None)), t.env_default);
    // An accent that does not parse falls back like an unset one.
    assert_eq!(
        t.env_accent(&env("prod", true, Some("not-a-colour"))),
        t.env_prod
    );
}
