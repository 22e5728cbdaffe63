//! Every file in `tests/fixtures/invalid/` is a config with exactly one mistake.
//! Its comment header says what `shipdeck::config::load` must report:
//!
//! ```toml
//! # expect: LINE:COLUMN KEY = VALUE
//! # problem: text the problem must contain
//! ```
//!
//! The test loads each fixture and checks line, column, key, quoted value, the
//! problem text, that the message names the file, and the two-line layout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

use shipdeck::config::{ConfigError, load};

const DIR: &str = "tests/fixtures/invalid";

struct Expect {
    line: usize,
    column: usize,
    key: String,
    value: String,
    problem: String,
}

/// The header's expectation; `None` when it is missing or malformed.
fn expectation(path: &Path) -> Option<Expect> {
    let src = fs::read_to_string(path).unwrap();
    let header = |tag: &str| {
        src.lines()
            .find_map(|l| l.strip_prefix(tag))
            .map(|v| v.trim().to_string())
    };
    let expect = header("# expect:")?;
    let (pos, rest) = expect.split_once(' ')?;
    let (line, column) = pos.split_once(':')?;
    let (key, value) = rest.split_once(" = ")?;
    Some(Expect {
        line: line.parse().ok()?,
        column: column.parse().ok()?,
        key: key.to_string(),
        value: value.to_string(),
        problem: header("# problem:")?,
    })
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

fn load_err(path: &Path) -> ConfigError {
    match load(path) {
        Ok(_) => panic!("{} loaded, but it is invalid", path.display()),
        Err(e) => e,
    }
}

#[test]
fn every_invalid_fixture_reports_file_line_key_and_value() {
    let files = fixtures();
    assert!(files.len() >= 20, "only {} fixtures", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let err = load_err(path);
        let shown = err.to_string();
        let got = format!("{}:{} {} = {}", err.line, err.column, err.key, err.value);
        let Some(want) = expectation(path) else {
            failures.push(format!(
                "{}: the header needs `# expect: LINE:COLUMN KEY = VALUE` and `# problem: TEXT`; \
                 it fails with\n  # expect: {got}\n  # problem: {}",
                path.display(),
                err.problem
            ));
            continue;
        };
        let wanted = format!(
            "{}:{} {} = {}",
            want.line, want.column, want.key, want.value
        );
        if got != wanted || !err.problem.contains(&want.problem) {
            failures.push(format!(
                "{}\n  want: {wanted} / problem contains {:?}\n  got:  {got} / problem {:?}\n{shown}",
                path.display(),
                want.problem,
                err.problem
            ));
            continue;
        }
        // The rendered message: file:line:column: key = value: problem, then the hint.
        let file_name = path.file_name().unwrap().to_str().unwrap();
        assert!(shown.contains(file_name), "{shown}");
        let prefix = format!(
            "config error: {}:{}:{}: {} = {}: ",
            path.display(),
            want.line,
            want.column,
            want.key,
            want.value
        );
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 2, "{shown}");
        assert!(
            lines[0].starts_with(&prefix),
            "{shown}\nshould start with {prefix}"
        );
        assert!(lines[0].ends_with(&err.problem), "{shown}");
        assert!(
            lines[1].starts_with("  hint: ") && lines[1].len() > "  hint: ".len() + 10,
            "{shown}"
        );
        assert_eq!(err.exit_code(), 2);
        assert_eq!(err.file, *path);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The same key path and location whether loaded from disk or from a string.
#[test]
fn load_str_matches_load() {
    let path = Path::new(DIR).join("endpoint_bad_scheme.toml");
    let src = fs::read_to_string(&path).unwrap();
    let from_str = shipdeck::config::load_str(&src, &path).unwrap_err();
    assert_eq!(from_str, load_err(&path));
}

#[test]
fn literal_secrets_are_never_shown() {
    for (fixture, literal) in [
        ("secret_literal_password.toml", "Tr0ub4dor-literal-9f2c"),
        (
            "secret_literal_secret_env.toml",
            "correct-horse-literal-51ab",
        ),
    ] {
        let path = Path::new(DIR).join(fixture);
        assert!(fs::read_to_string(&path).unwrap().contains(literal));
        let err = load_err(&path);
        let shown = format!("{err}\n{err:?}");
        assert!(
            !shown.contains(literal),
            "{fixture}: the literal leaked:\n{shown}"
        );
        assert!(
            !shown.contains("Tr0ub4dor") && !shown.contains("correct-horse"),
            "{shown}"
        );
        assert_eq!(err.value, "\"<literal value hidden>\"");
    }
}

#[test]
fn a_missing_secret_names_the_reference() {
    let err = load_err(&Path::new(DIR).join("secret_env_missing.toml"));
    assert!(err.problem.starts_with("missing secret"), "{err}");
    assert!(
        err.problem
            .contains("SHIPDECK_TEST_SURELY_UNSET_REGISTRY_PASSWORD_8C41"),
        "{err}"
    );
    let err = load_err(&Path::new(DIR).join("secret_file_missing.toml"));
    assert!(err.problem.starts_with("missing secret"), "{err}");
    assert!(err.problem.contains("does-not-exist.txt"), "{err}");
}

#[test]
fn duplicates_mention_the_first_line() {
    let err = load_err(&Path::new(DIR).join("duplicate_host.toml"));
    assert_eq!(err.line, 16, "points at the second occurrence");
    assert!(err.problem.contains("line 8"), "{err}");
}

#[test]
fn an_unreadable_file_is_a_config_error_too() {
    let path = Path::new(DIR).join("no-such-file.toml");
    let err = load_err(&path);
    assert_eq!((err.line, err.column), (1, 1));
    assert!(err.to_string().contains("no-such-file.toml"), "{err}");
    assert_eq!(err.exit_code(), 2);
}
