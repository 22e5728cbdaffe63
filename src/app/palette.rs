//! The `:` palette's grammar, in one table: the parser, the help line, the
//! error for an unknown verb and the completion all read it.

/// What a palette word takes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    None,
    /// A project name (optional: the one in view).
    Project,
    /// `NAME` or `PROJECT/NAME`.
    Env,
    /// A version (optional where the view gives a default).
    Version,
}

/// One palette verb.
#[derive(Debug, Clone, Copy)]
pub struct Verb {
    pub words: &'static [&'static str],
    pub arg: Arg,
    /// `true` when the argument must be given.
    pub needs_arg: bool,
    pub help: &'static str,
}

/// Every palette verb, in help order.
pub const VERBS: &[Verb] = &[
    Verb {
        words: &["projects", "p"],
        arg: Arg::None,
        needs_arg: false,
        help: "the projects list",
    },
    Verb {
        words: &["project"],
        arg: Arg::Project,
        needs_arg: true,
        help: "a project's environments",
    },
    Verb {
        words: &["env", "e"],
        arg: Arg::Env,
        needs_arg: true,
        help: "an environment's hosts (NAME or PROJECT/NAME)",
    },
    Verb {
        words: &["deploy"],
        arg: Arg::Version,
        needs_arg: false,
        help: "deploy VERSION to the environment in view (no VERSION: the picker)",
    },
    Verb {
        words: &["rollback"],
        arg: Arg::Version,
        needs_arg: false,
        help: "roll back (to VERSION, if kept on every host)",
    },
    Verb {
        words: &["promote"],
        arg: Arg::None,
        needs_arg: false,
        help: "promote into the environment in view",
    },
    Verb {
        words: &["rollout"],
        arg: Arg::None,
        needs_arg: false,
        help: "the environment's rollout view",
    },
    Verb {
        words: &["history"],
        arg: Arg::None,
        needs_arg: false,
        help: "the environment's releases",
    },
    Verb {
        words: &["pause", "resume-rollout", "abort"],
        arg: Arg::None,
        needs_arg: false,
        help: "control the environment's running rollout",
    },
    Verb {
        words: &["resume"],
        arg: Arg::None,
        needs_arg: false,
        help: "finish the environment's unfinished release",
    },
    Verb {
        words: &["break-lock"],
        arg: Arg::None,
        needs_arg: false,
        help: "break the environment's lock (typed)",
    },
    Verb {
        words: &["ship"],
        arg: Arg::Version,
        needs_arg: false,
        help: "build, push and deploy to the environment in view",
    },
    Verb {
        words: &["remove"],
        arg: Arg::None,
        needs_arg: false,
        help: "remove the project from the environment in view (typed)",
    },
    Verb {
        words: &["logs", "log"],
        arg: Arg::None,
        needs_arg: false,
        help: "logs of the environment in view (:logs HOST: one host)",
    },
    Verb {
        words: &["save"],
        arg: Arg::None,
        needs_arg: false,
        help: "write the log shown to a file (:save PATH; :save 15m PATH: fetch 15 min again)",
    },
    Verb {
        words: &["since"],
        arg: Arg::None,
        needs_arg: true,
        help: "read the log again from a preset: tail, 1m, 5m, 15m, 1h, all",
    },
    Verb {
        words: &["health"],
        arg: Arg::None,
        needs_arg: false,
        help: "the environment's health timeline",
    },
    Verb {
        words: &["dockerfile", "df"],
        arg: Arg::Project,
        needs_arg: false,
        help: "a project's rendered Dockerfile",
    },
    Verb {
        words: &["tags"],
        arg: Arg::Project,
        needs_arg: false,
        help: "a project's registry tags",
    },
    Verb {
        words: &["build"],
        arg: Arg::Project,
        needs_arg: false,
        help: "build + push a project's image",
    },
    Verb {
        words: &["help"],
        arg: Arg::None,
        needs_arg: false,
        help: "the key help",
    },
    Verb {
        words: &["q", "quit", "q!"],
        arg: Arg::None,
        needs_arg: false,
        help: "quit",
    },
];

/// The verb a word names.
pub fn verb(word: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.words.contains(&word))
}

/// `:projects, :project NAME, :env NAME, …` for error messages.
pub fn summary() -> String {
    VERBS
        .iter()
        .map(|v| {
            let w = v.words[0];
            match (v.arg, v.needs_arg) {
                (Arg::None, _) => format!(":{w}"),
                (Arg::Project, true) => format!(":{w} NAME"),
                (Arg::Env, _) => format!(":{w} NAME"),
                (Arg::Version, _) => format!(":{w} [VERSION]"),
                (Arg::Project, false) => format!(":{w} [PROJECT]"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Completions of `line` (the whole palette text): verbs for the first
/// word, then names from `candidates(arg)` for the argument. Each is the
/// whole line it would become.
pub fn complete(line: &str, candidates: impl Fn(Arg) -> Vec<String>) -> Vec<String> {
    let ends_with_space = line.ends_with(' ');
    let words: Vec<&str> = line.split_whitespace().collect();
    match (words.as_slice(), ends_with_space) {
        ([], _) => VERBS.iter().map(|v| v.words[0].to_string()).collect(),
        ([w], false) => VERBS
            .iter()
            .flat_map(|v| v.words.iter())
            .filter(|c| c.starts_with(w) && *c != w)
            .map(|c| c.to_string())
            .collect(),
        ([w], true) | ([w, _], false) => {
            let Some(v) = verb(w) else {
                return Vec::new();
            };
            let typed = words.get(1).copied().unwrap_or("");
            candidates(v.arg)
                .into_iter()
                .filter(|c| c.starts_with(typed))
                .map(|c| format!("{w} {c}"))
                .collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_takes_verbs_then_names() {
        let names = |a: Arg| match a {
            Arg::Env => vec!["dev".to_string(), "prod".to_string()],
            _ => Vec::new(),
        };
        assert!(complete("dep", names).contains(&"deploy".to_string()));
        assert_eq!(complete("env p", names), vec!["env prod".to_string()]);
        assert_eq!(complete("env ", names).len(), 2);
        assert!(summary().contains(":env NAME"));
        assert!(verb("df").is_some());
    }
}
