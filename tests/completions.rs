//! `shipdeck completions SHELL` and `shipdeck man`: made from the command
//! line's definition, so every subcommand (logs among them) is in them;
//! an unknown shell is refused with the ones there are.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .args(args)
        // No config is read: a missing one must not matter.
        .env("SHIPDECK_CONFIG", "/nonexistent/shipdeck.toml")
        .output()
        .unwrap()
}

#[test]
fn completions_for_bash_zsh_and_fish_know_every_subcommand() {
    for (shell, mark) in [
        ("bash", "_shipdeck()"),
        ("zsh", "#compdef shipdeck"),
        ("fish", "complete -c shipdeck"),
    ] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(mark), "{shell}: no {mark:?}");
        for sub in ["deploy", "rollback", "logs", "status", "completions", "man"] {
            assert!(text.contains(sub), "{shell}: no {sub}");
        }
        // Options of a subcommand too (fish writes them as `-l grep`).
        for opt in ["grep", "since"] {
            assert!(
                text.contains(&format!("--{opt}")) || text.contains(&format!("-l {opt}")),
                "{shell}: no --{opt}"
            );
        }
    }
}

#[test]
fn the_man_page_is_roff_with_every_subcommand() {
    let out = run(&["man"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(".TH shipdeck 1"), "{text}");
    for sub in ["deploy", "rollback", "logs", "completions"] {
        assert!(text.contains(sub), "no {sub}: {text}");
    }
}

#[test]
fn an_unknown_shell_is_refused_with_the_ones_there_are() {
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("'tcsh'") && err.contains("bash"), "{err}");
}
