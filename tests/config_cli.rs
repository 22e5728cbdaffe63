//! Every invalid-config fixture through the real binary: exit code 2, and on
//! stderr the file, line, column, key and quoted value from the fixture's
//! `# expect:` header — printed before any terminal setup (stdout stays empty).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn every_invalid_fixture_exits_2_with_a_located_message() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no # expect: header", path.display()));
        // "LINE:COL KEY = VALUE"
        let (loc, rest) = expect.split_once(' ').unwrap();
        let state = tempfile::tempdir().unwrap();
        for args in [vec!["check"], vec![]] {
            // Also without a subcommand: the console must refuse before raw mode.
            let out = Command::new(env!("CARGO_BIN_EXE_shipdeck"))
                .args(&args)
                .arg("--config")
                .arg(&path)
                .env("XDG_STATE_HOME", state.path())
                .env("SHIPDECK_TEST_FILE_SECRET", "unused")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
            let want = format!("{}:{loc}: {rest}", path.display());
            assert!(
                err.contains(&want),
                "{}:\n wanted {want}\n got {err}",
                path.display()
            );
            assert!(err.contains("hint: "), "{err}");
            assert!(
                out.stdout.is_empty(),
                "nothing on stdout, no terminal escape codes"
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} fixtures");
}
