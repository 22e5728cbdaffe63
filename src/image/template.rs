//! Dockerfile templates: `<templates>/NAME.Dockerfile`, rendered with
//! minijinja. Every variable a template uses must be defined (built-ins
//! PROJECT and IMAGE, or `[projects.build] vars`), and every defined var must be
//! used: a typo on either side is an error naming the variable and the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use thiserror::Error;

use crate::config::{BuildSpec, DockerfileSource, Project};

/// Variables shipdeck defines for every template.
pub const BUILTINS: &[&str] = &["PROJECT", "IMAGE"];

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("template {path}:{line}: {reason}; fix the template's {{{{ … }}}} / {{% … %}} syntax")]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error(
        "template {path}:{line} uses {{{{ {var} }}}}, which project '{project}' does not define; {hint}"
    )]
    Undefined {
        path: PathBuf,
        line: usize,
        var: String,
        project: String,
        hint: String,
    },
    #[error(
        "project '{project}' sets [projects.build] vars.{var} = \"{value}\", which template {path} does not use; remove it or fix its name (the template uses: {used})"
    )]
    Unused {
        path: PathBuf,
        var: String,
        value: String,
        project: String,
        used: String,
    },
    #[error("template {path}:{line}: {reason}")]
    Render {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// The Dockerfile of `project`'s build: the rendered template, or the
/// context's own Dockerfile read as it is.
pub fn dockerfile(project: &Project, spec: &BuildSpec) -> Result<String, TemplateError> {
    match &spec.dockerfile {
        DockerfileSource::File(rel) => {
            let path = spec.context.join(rel);
            std::fs::read_to_string(&path).map_err(|e| TemplateError::Read {
                what: "Dockerfile",
                path,
                reason: e.to_string(),
            })
        }
        DockerfileSource::Template { path, .. } => {
            let src = std::fs::read_to_string(path).map_err(|e| TemplateError::Read {
                what: "template",
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let mut vars = spec.vars.clone();
            vars.insert("PROJECT".into(), project.name.clone());
            vars.insert("IMAGE".into(), project.image.clone());
            render(path, &src, &project.name, &vars, &spec.vars)
        }
    }
}

/// Renders `src` (read from `path`) with `vars`; `user_vars` are the ones the
/// config set (they must all be used).
pub fn render(
    path: &Path,
    src: &str,
    project: &str,
    vars: &BTreeMap<String, String>,
    user_vars: &BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    let name = path.display().to_string();
    let syntax = |e: minijinja::Error| TemplateError::Syntax {
        path: path.to_path_buf(),
        line: e.line().unwrap_or(1),
        reason: e.detail().unwrap_or(&e.kind().to_string()).to_string(),
    };
    env.add_template_owned(name.clone(), src.to_string())
        .map_err(syntax)?;
    let tmpl = env.get_template(&name).map_err(syntax)?;
    // minijinja counts its own globals (range, dict, namespace…) as undeclared.
    let used: BTreeSet<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| env.globals().all(|(g, _)| g != v.as_str()))
        .collect();

    if let Some(var) = used.iter().find(|v| !vars.contains_key(*v)) {
        let hint = if var == "ENVT" || var == "PROJ" {
            format!(
                "{var} is set when the container runs (one image serves every environment): read ${var} at run time instead, e.g. in the entrypoint"
            )
        } else {
            let defined: Vec<&str> = vars.keys().map(String::as_str).collect();
            format!(
                "add {var} = \"…\" to vars in the project's [projects.build] table (defined: {})",
                defined.join(", ")
            )
        };
        return Err(TemplateError::Undefined {
            path: path.to_path_buf(),
            line: first_use(src, var),
            var: var.clone(),
            project: project.to_string(),
            hint,
        });
    }
    if let Some((var, value)) = user_vars.iter().find(|(k, _)| !used.contains(*k)) {
        return Err(TemplateError::Unused {
            path: path.to_path_buf(),
            var: var.clone(),
            value: value.clone(),
            project: project.to_string(),
            used: used.iter().cloned().collect::<Vec<_>>().join(", "),
        });
    }
    tmpl.render(vars).map_err(|e| TemplateError::Render {
        path: path.to_path_buf(),
        line: e.line().unwrap_or(1),
        reason: e.to_string(),
    })
}

/// The first line (1-based) where `var` appears inside `{{ }}` or `{% %}`.
fn first_use(src: &str, var: &str) -> usize {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (n, line) in src.lines().enumerate() {
        let mut rest = line;
        while let Some(open) = rest.find(['{']) {
            let tail = &rest[open..];
            // Search for the closer after the opener (`{%}` must not match itself).
            let close = if let Some(body) = tail.strip_prefix("{{") {
                body.find("}}").map(|i| i + 2)
            } else if let Some(body) = tail.strip_prefix("{%") {
                body.find("%}").map(|i| i + 2)
            } else {
                None
            };
            let Some(close) = close else {
                rest = &tail[1..];
                continue;
            };
            let inner = &tail[2..close];
            let hit = inner.match_indices(var).any(|(i, _)| {
                let before = inner[..i].chars().next_back();
                let after = inner[i + var.len()..].chars().next();
                !before.is_some_and(is_word) && !after.is_some_and(is_word)
            });
            if hit {
                return n + 1;
            }
            rest = &tail[close + 2..];
        }
    }
    1
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_and_keeps_dockerfile_syntax() {
        let src = "FROM {{ BASE }}\nARG X\nRUN echo ${X} $HOME\n";
        let v = vars(&[("BASE", "busybox")]);
        let out = render(Path::new("t.Dockerfile"), src, "p", &v, &v).unwrap();
        assert_eq!(out, "FROM busybox\nARG X\nRUN echo ${X} $HOME\n");
    }

    #[test]
    fn undefined_variable_names_variable_file_and_line() {
        let src = "FROM a\n\nCOPY {{ BINARY }} /app\n";
        let e = render(
            Path::new("/t/s.Dockerfile"),
            src,
            "p",
            &vars(&[]),
            &vars(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("/t/s.Dockerfile:3"), "{e}");
        assert!(e.contains("{{ BINARY }}"), "{e}");
        assert!(e.contains("project 'p'"), "{e}");
    }

    #[test]
    fn envt_gets_a_run_time_hint() {
        let e = render(
            Path::new("t"),
            "ENV X={{ ENVT }}",
            "p",
            &vars(&[]),
            &vars(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("set when the container runs"), "{e}");
    }

    #[test]
    fn unused_variable_is_an_error() {
        let v = vars(&[("BASE", "b"), ("BINRY", "x")]);
        let e = render(Path::new("t"), "FROM {{ BASE }}", "p", &v, &v)
            .unwrap_err()
            .to_string();
        assert!(e.contains("vars.BINRY"), "{e}");
        assert!(e.contains("does not use"), "{e}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = render(
            Path::new("t"),
            "FROM a\nRUN {{ oops",
            "p",
            &vars(&[]),
            &vars(&[]),
        )
        .unwrap_err();
        assert!(matches!(e, TemplateError::Syntax { line: 2, .. }), "{e:?}");
    }

    #[test]
    fn first_use_survives_odd_braces() {
        assert_eq!(first_use("{%}\n{{ X }}\n", "X"), 2);
        assert_eq!(first_use("{{}}{{", "X"), 1);
    }

    #[test]
    fn builtin_functions_are_not_variables() {
        let v = vars(&[("N", "3")]);
        let src = "{% for i in range(N|int) %}RUN echo {{ i }}\n{% endfor %}";
        let out = render(Path::new("t"), src, "p", &v, &v).unwrap();
        assert_eq!(out.lines().count(), 3);
    }

    #[test]
    fn first_use_finds_whole_words_only() {
        let src = "{{ BASE_IMAGE }}\n{{ BASE }}\n";
        assert_eq!(first_use(src, "BASE"), 2);
    }
}
