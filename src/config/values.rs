//! Pure parsers and checks for single config values (names, durations,
//! `max_unavailable`, images, ports, volumes). Each returns a [`Problem`]: what is
//! wrong and what to do; the caller adds the location. No I/O.

use std::time::Duration;

use super::model::MaxUnavailable;

/// What is wrong with a value, and the hint for fixing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub problem: String,
    pub hint: String,
}

pub(crate) fn problem(problem: impl Into<String>, hint: impl Into<String>) -> Problem {
    Problem {
        problem: problem.into(),
        hint: hint.into(),
    }
}

/// Names of environments, hosts, projects, registries and labels:
/// `[A-Za-z0-9][A-Za-z0-9._-]*`.
pub(crate) fn check_name(s: &str) -> Result<(), Problem> {
    let hint =
        "use letters, digits, '.', '_' and '-', starting with a letter or digit, e.g. \"edge-01\"";
    let mut chars = s.chars();
    match chars.next() {
        None => Err(problem("empty name", hint)),
        Some(c) if !c.is_ascii_alphanumeric() => Err(problem(
            format!("a name must start with a letter or digit, not {c:?}"),
            hint,
        )),
        _ => match chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
            Some(c) => Err(problem(format!("{c:?} is not allowed in a name"), hint)),
            None => Ok(()),
        },
    }
}

/// Project and environment names: `[A-Za-z0-9][A-Za-z0-9_-]*`, at most 63
/// characters. No `.`: container names join the two with one
/// (`PROJECT.ENV`, see `domain::naming`), so no two pairs can collide and a
/// kept container's name never has to be split apart again.
pub(crate) fn check_ident(s: &str) -> Result<(), Problem> {
    let hint = "use letters, digits, '_' and '-', starting with a letter or digit, e.g. \"checkout-api\" (no '.': shipdeck names containers PROJECT.ENV)";
    let mut chars = s.chars();
    match chars.next() {
        None => Err(problem("empty name", hint)),
        Some(c) if !c.is_ascii_alphanumeric() => Err(problem(
            format!("a name must start with a letter or digit, not {c:?}"),
            hint,
        )),
        _ => match chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))) {
            Some(c) => Err(problem(format!("{c:?} is not allowed in this name"), hint)),
            None if s.len() > 63 => Err(problem(
                format!("{} characters is too long (at most 63)", s.len()),
                hint,
            )),
            None => Ok(()),
        },
    }
}

/// Environment variable names: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_env_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `"500ms"`, `"2s"`, `"1m"`, `"1m 30s"` (humantime syntax).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, Problem> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        problem(
            format!("not a duration ({e})"),
            "write a number with a unit, e.g. \"500ms\", \"2s\" or \"1m\"",
        )
    })
}

/// Raw `max_unavailable`: an integer count or a `"NN%"` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CountOrPercent {
    Count(i64),
    Text(String),
}

pub(crate) fn parse_max_unavailable(v: &CountOrPercent) -> Result<MaxUnavailable, Problem> {
    let hint = "write a number of hosts >= 1 (e.g. 2) or a percentage from \"1%\" to \"100%\" (e.g. \"25%\")";
    match v {
        CountOrPercent::Count(n) => match u32::try_from(*n) {
            Ok(n) if n >= 1 => Ok(MaxUnavailable::Count(n)),
            _ => Err(problem(
                format!("{n} hosts is out of range: at least 1 host must be replaceable at a time"),
                hint,
            )),
        },
        CountOrPercent::Text(s) => {
            let Some(num) = s.trim().strip_suffix('%') else {
                return Err(problem("not a count or a percentage", hint));
            };
            match num.trim().parse::<u32>() {
                Ok(p) if (1..=100).contains(&p) => Ok(MaxUnavailable::Percent(p)),
                Ok(p) => Err(problem(format!("{p}% is out of range 1%..100%"), hint)),
                Err(_) => Err(problem("not a percentage", hint)),
            }
        }
    }
}

/// An image repository without tag or digest, e.g. `10.213.0.1:5000/demo/web`.
pub(crate) fn check_image(s: &str) -> Result<(), Problem> {
    let hint_repo = "give the repository only, e.g. \"registry.example.com:5000/team/app\"; shipdeck picks the tag per release";
    if s.is_empty() {
        return Err(problem("empty image repository", hint_repo));
    }
    if s.chars().any(char::is_whitespace) {
        return Err(problem(
            "an image repository cannot contain spaces",
            hint_repo,
        ));
    }
    if s.contains('@') {
        return Err(problem("the image has a digest (@…)", hint_repo));
    }
    let last = s.rsplit('/').next().unwrap_or(s);
    if last.contains(':') {
        return Err(problem(
            format!(
                "the image has a tag (\":{}\")",
                last.split_once(':').map_or("", |x| x.1)
            ),
            hint_repo,
        ));
    }
    // The first component is a registry host when it looks like one; the rest
    // must be lowercase, as Docker requires.
    let mut parts: Vec<&str> = s.split('/').collect();
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        parts.remove(0);
    }
    for p in parts {
        let ok = !p.is_empty()
            && p.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !ok {
            return Err(problem(
                format!("{p:?} is not a valid repository path component"),
                "use lowercase letters, digits, '.', '_' and '-' between slashes",
            ));
        }
    }
    Ok(())
}

/// `"[IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]"`.
pub(crate) fn check_port_mapping(s: &str) -> Result<(), Problem> {
    let hint = "write \"HOST_PORT:CONTAINER_PORT\", e.g. \"8080:80\" or \"127.0.0.1:8080:80/tcp\"";
    let (mapping, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(problem(format!("unknown protocol {proto:?}"), hint));
    }
    let parts: Vec<&str> = mapping.rsplitn(3, ':').collect();
    if parts.len() < 2 {
        return Err(problem("not a port mapping", hint));
    }
    for p in &parts[..2] {
        if !matches!(p.parse::<u16>(), Ok(n) if n > 0) {
            return Err(problem(format!("{p:?} is not a port (1-65535)"), hint));
        }
    }
    Ok(())
}

/// `"/host/path:/container/path[:ro|rw]"` or `"volume-name:/container/path"`.
pub(crate) fn check_volume(s: &str) -> Result<(), Problem> {
    let hint = "write \"/host/path:/container/path\" or \"/host/path:/container/path:ro\"";
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [src, dst] | [src, dst, _] if src.is_empty() || !dst.starts_with('/') => Err(problem(
            "the source must be non-empty and the container path absolute",
            hint,
        )),
        [_, _] => Ok(()),
        [_, _, mode] => {
            if mode.split(',').all(|m| {
                matches!(
                    m,
                    "ro" | "rw" | "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated"
                )
            }) {
                Ok(())
            } else {
                Err(problem(format!("unknown volume option {mode:?}"), hint))
            }
        }
        _ => Err(problem("not a volume mapping", hint)),
    }
}

/// The closest of `candidates` to `word` (edit distance <= 2), for "did you mean".
pub(crate) fn suggest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2 && *d < c.len().max(word.len()))
        .collect();
    scored.sort_by_key(|(d, _)| *d);
    // Only an unambiguous best guess: "h03" is as close to "h01" as to "h02",
    // and suggesting either would send the operator to the wrong machine.
    match scored.as_slice() {
        [(_, c)] => Some(c),
        [(d0, c), (d1, _), ..] if d0 < d1 => Some(c),
        _ => None,
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `a, b, c` — or the first `max` and "… (N more)".
pub(crate) fn list(names: &[&str], max: usize) -> String {
    if names.len() <= max {
        names.join(", ")
    } else {
        format!(
            "{}, … ({} more)",
            names[..max].join(", "),
            names.len() - max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "5", "fast", "2 parsecs", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn max_unavailable() {
        use CountOrPercent::*;
        assert_eq!(
            parse_max_unavailable(&Count(2)),
            Ok(MaxUnavailable::Count(2))
        );
        assert_eq!(
            parse_max_unavailable(&Text("25%".into())),
            Ok(MaxUnavailable::Percent(25))
        );
        assert_eq!(
            parse_max_unavailable(&Text(" 100 % ".into())),
            Ok(MaxUnavailable::Percent(100))
        );
        for bad in [
            Count(0),
            Count(-3),
            Count(i64::MAX),
            Text("0%".into()),
            Text("101%".into()),
            Text("3".into()),
            Text("x%".into()),
        ] {
            assert!(
                parse_max_unavailable(&bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn names() {
        for ok in ["h01", "edge-01", "a.b_c", "9"] {
            assert_eq!(check_name(ok), Ok(()));
        }
        for bad in ["", "-h", ".x", "a b", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?} should be rejected");
        }
        for ok in ["demo", "checkout-api", "a_b", "prod2"] {
            assert_eq!(check_ident(ok), Ok(()));
        }
        for bad in ["", "-h", "api.v2", "a b", "é", &"x".repeat(64)] {
            assert!(check_ident(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(is_env_var_name("DB_PASSWORD") && is_env_var_name("_x1"));
        assert!(!is_env_var_name("1X") && !is_env_var_name("A-B") && !is_env_var_name(""));
    }

    #[test]
    fn images() {
        for ok in [
            "nginx",
            "10.213.0.1:5000/demo/web",
            "localhost/a",
            "Registry.Example.com/team/app",
        ] {
            assert_eq!(check_image(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "demo/web:v1",
            "10.213.0.1:5000/demo/web:v1",
            "web@sha256:abc",
            "Demo/web",
            "a//b",
        ] {
            assert!(check_image(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn ports_and_volumes() {
        for ok in ["8080:80", "127.0.0.1:8080:80/tcp", "53:53/udp"] {
            assert_eq!(check_port_mapping(ok), Ok(()), "{ok}");
        }
        for bad in ["80", "0:80", "x:80", "8080:80/icmp", "99999:80"] {
            assert!(
                check_port_mapping(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        for ok in ["/srv/data:/data", "/srv/data:/data:ro", "cache:/cache:rw,z"] {
            assert_eq!(check_volume(ok), Ok(()), "{ok}");
        }
        for bad in ["/srv", ":/data", "/srv:data", "/a:/b:rx", "/a:/b:ro:x"] {
            assert!(check_volume(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("endpont", ["name", "endpoint", "labels"]),
            Some("endpoint")
        );
        assert_eq!(suggest("zzz", ["name", "endpoint"]), None);
        assert_eq!(suggest("h03", ["h01", "h02"]), None);
        assert_eq!(
            suggest("stagign", ["dev", "staging", "prod"]),
            Some("staging")
        );
        assert_eq!(list(&["a", "b", "c"], 2), "a, b, … (1 more)");
    }
}
