//! Turns the TOML crate's errors (syntax, unknown keys, wrong types) into
//! [`ConfigError`]s: a span becomes a line/column, and the spanned document tree
//! tells which dotted key the span belongs to. Knows nothing about the inventory
//! schema beyond which keys hold secrets (so their values are never echoed).

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{ConfigError, HIDDEN, Located, MISSING, Seg, quote, render_path};
use super::values::suggest;

/// What a span points at in the document.
enum Hit {
    /// A key (an unknown field points here).
    Key(String),
    /// A value; carries its rendered, quoted form.
    Value(String),
}

/// Finds the key path of the innermost key or value at `span`.
fn locate(
    root: &DeTable<'_>,
    src: &str,
    span: &Range<usize>,
    array_itself: bool,
) -> Option<(Vec<Seg>, Hit)> {
    let mut path = Vec::new();
    let find = Find {
        src,
        span,
        array_itself,
    };
    in_table(root, &find, &mut path).map(|hit| (path, hit))
}

/// What to look for.
struct Find<'s> {
    src: &'s str,
    span: &'s Range<usize>,
    /// The error is about an array as a whole (e.g. an array where a table
    /// belongs): stop at the array instead of its first element, which has the
    /// same span when it is an array of tables.
    array_itself: bool,
}

fn in_table(t: &DeTable<'_>, find: &Find<'_>, path: &mut Vec<Seg>) -> Option<Hit> {
    for (k, v) in t.iter() {
        path.push(Seg::Key(k.get_ref().to_string()));
        if k.span() == *find.span {
            return Some(Hit::Key(k.get_ref().to_string()));
        }
        if let Some(hit) = in_value(v, find, path) {
            return Some(hit);
        }
        path.pop();
    }
    None
}

fn in_value(v: &Spanned<DeValue<'_>>, find: &Find<'_>, path: &mut Vec<Seg>) -> Option<Hit> {
    let vs = v.span();
    let span = find.span;
    let hit = || {
        let rendered = match v.get_ref() {
            DeValue::String(s) => quote(s),
            _ => quote(find.src.get(vs.clone()).unwrap_or_default().trim()),
        };
        Hit::Value(rendered)
    };
    // Otherwise look deeper first: a table's span is only its `[header]`, and
    // an array of tables shares its span with its first element.
    match v.get_ref() {
        DeValue::Table(t) => {
            if let Some(hit) = in_table(t, find, path) {
                return Some(hit);
            }
        }
        DeValue::Array(_) if find.array_itself && vs == *span => return Some(hit()),
        DeValue::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                if let Some(hit) = in_value(e, find, path) {
                    return Some(hit);
                }
                path.pop();
            }
        }
        _ => {}
    }
    (vs.start <= span.start && span.end <= vs.end).then(hit)
}

/// True when `path` names a key whose value is a secret reference.
fn is_secret_path(path: &[Seg]) -> bool {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    keys.last() == Some(&"password") || keys.contains(&"secret_env")
}

/// Text between the first pair of backticks after `prefix`, e.g. the field of
/// "missing field `name`".
fn backticked_after<'m>(msg: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = msg.strip_prefix(prefix)?;
    let start = rest.find('`')? + 1;
    let len = rest[start..].find('`')?;
    Some(&rest[start..start + len])
}

/// Maps a serde error (the document parsed, but does not fit the schema).
pub(crate) fn schema_error(
    at: &Located<'_>,
    root: &DeTable<'_>,
    err: &toml::de::Error,
) -> ConfigError {
    let msg = err.message();
    let span = err.span().unwrap_or(0..0);
    let array_itself = msg.starts_with("invalid type: sequence");
    let (mut path, hit) = locate(root, at.src, &span, array_itself)
        .unwrap_or((Vec::new(), Hit::Value(String::new())));
    let secret = is_secret_path(&path);

    if let Some(field) = backticked_after(msg, "unknown field ") {
        // "unknown field `x`, expected one of `a`, `b`" | "expected `a` or `b`" | "there are no fields"
        let allowed: Vec<&str> = msg
            .split_once(", expected ")
            .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        let mut hint = if allowed.is_empty() {
            "this table takes no keys; remove it".to_string()
        } else {
            format!("allowed keys here: {}", allowed.join(", "))
        };
        if let Some(s) = suggest(field, allowed.iter().copied()) {
            hint = format!("did you mean `{s}`? {hint}");
        }
        if !matches!(hit, Hit::Key(_)) {
            path.push(Seg::Key(field.to_string()));
        }
        return at.error(span, render_path(&path), quote(field), "unknown key", hint);
    }

    if let Some(field) = backticked_after(msg, "missing field ") {
        path.push(Seg::Key(field.to_string()));
        let table = render_path(&path[..path.len() - 1]);
        let table = if table.is_empty() {
            "the top level".to_string()
        } else {
            table
        };
        return at.error(
            span,
            render_path(&path),
            MISSING,
            "required key is missing",
            format!("add `{field} = …` to {table} (see config/example.toml)"),
        );
    }

    let value = match (&hit, secret) {
        (_, true) => HIDDEN.to_string(),
        (Hit::Value(v), false) => v.clone(),
        (Hit::Key(k), false) => quote(k),
    };
    let key = if path.is_empty() {
        "(document)".to_string()
    } else {
        render_path(&path)
    };

    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        // "invalid type: integer `5`, expected a string"
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        let found = match found.split(' ').next().unwrap_or(found) {
            "map" => "table",
            "sequence" => "array",
            "floating" => "float",
            f => f,
        };
        let hint = match expected {
            e if e.contains("duration") => format!("write {e}"),
            "a string" => "put the value in double quotes".to_string(),
            "a sequence" if found == "table" => {
                "this is a list of tables: write [[name]] (double brackets) before each entry"
                    .to_string()
            }
            "a sequence" => "write an array, e.g. [\"a\", \"b\"]".to_string(),
            "a boolean" => "write true or false".to_string(),
            "i64" | "u64" | "u32" | "u16" => "write a whole number".to_string(),
            "f64" => "write a number, e.g. 0.25".to_string(),
            "a map" | "a table" => {
                "write a table: a [name] header with single brackets, or an inline { key = value }"
                    .to_string()
            }
            e => format!("write {e}"),
        };
        let expected = match expected {
            "i64" | "u64" | "u32" | "u16" => "a whole number",
            "f64" => "a number",
            "a map" => "a table",
            "a sequence" => "an array",
            e => e,
        };
        return at.error(
            span,
            key,
            value,
            format!("wrong type: expected {expected}, found {found}"),
            hint,
        );
    }

    // Anything else serde can say; never echo it for a secret (it may quote the value).
    let problem = if secret {
        "invalid value".to_string()
    } else {
        msg.to_string()
    };
    at.error(
        span,
        key,
        value,
        problem,
        "see config/example.toml for the expected format",
    )
}

/// Maps a TOML syntax error. The parser gives no key path, so the key is read
/// from the text: the `key =` on the error's line inside its enclosing
/// `[table]` / `[[array]]` header, else `(syntax)`.
pub(crate) fn syntax_error(at: &Located<'_>, err: &toml::de::Error) -> ConfigError {
    let msg = err.message();
    let span = err.span().unwrap_or(0..0);
    let (key, line_value) = syntax_context(at.src, span.start);
    let spanned = at.src.get(span.clone()).unwrap_or_default().trim();
    let raw_value = if spanned.is_empty() {
        line_value
    } else {
        spanned.to_string()
    };
    let hidden = key.rsplit('.').next() == Some("password") || key.contains("secret_env");
    let value = if hidden {
        HIDDEN.to_string()
    } else {
        let mut v: String = raw_value.chars().take(60).collect();
        if v.len() < raw_value.len() {
            v.push('…');
        }
        quote(&v)
    };
    let hint = if msg.contains("duplicate key") {
        "each key may appear only once per table, and each [table] only once; remove or rename the repeated one"
    } else if msg.contains("must be quoted") {
        "put string values in double quotes: key = \"value\""
    } else if msg.contains("unclosed table") || msg.contains("unclosed array") {
        "close the bracket: tables are [name], arrays of tables [[name]], arrays [\"a\", \"b\"]"
    } else {
        "fix the TOML syntax here: one `key = value` per line, strings in double quotes, arrays in [ ]"
    };
    at.error(span, key, value, format!("invalid TOML: {msg}"), hint)
}

/// (dotted key, value text) for the line holding `offset`.
fn syntax_context(src: &str, offset: usize) -> (String, String) {
    let offset = offset.min(src.len());
    let line_start = src
        .get(..offset)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line_end = src
        .get(offset..)
        .and_then(|s| s.find('\n'))
        .map_or(src.len(), |i| offset + i);
    let line = src.get(line_start..line_end).unwrap_or_default().trim();

    // Replay the headers above the error to name the enclosing table.
    let mut arrays: HashMap<String, usize> = HashMap::new();
    let mut table = String::new();
    for l in src.get(..line_start).unwrap_or_default().lines() {
        if let Some((name, is_array)) = header(l) {
            if is_array {
                *arrays.entry(name.clone()).or_default() += 1;
            }
            table = render_header(&name, &arrays);
        }
    }
    let join = |k: &str| {
        if table.is_empty() {
            k.to_string()
        } else {
            format!("{table}.{k}")
        }
    };

    if let Some((name, is_array)) = header(line).or_else(|| broken_header(line)) {
        if is_array {
            *arrays.entry(name.clone()).or_default() += 1;
        }
        return (render_header(&name, &arrays), line.to_string());
    }
    if let Some((k, v)) = line.split_once('=') {
        let k = k.trim().trim_matches('"');
        if !k.is_empty() {
            return (join(k), v.trim().to_string());
        }
    }
    let key = if table.is_empty() {
        "(syntax)".to_string()
    } else {
        table
    };
    (key, line.to_string())
}

/// `[a.b]` → ("a.b", false), `[[a]]` → ("a", true); ignores a trailing comment.
fn header(line: &str) -> Option<(String, bool)> {
    let l = line.trim();
    let (inner, is_array) = if let Some(r) = l.strip_prefix("[[") {
        (r.split_once("]]")?.0, true)
    } else if let Some(r) = l.strip_prefix('[') {
        (r.split_once(']')?.0, false)
    } else {
        return None;
    };
    let name: Vec<&str> = inner
        .split('.')
        .map(|s| s.trim().trim_matches('"'))
        .collect();
    Some((name.join("."), is_array))
}

/// A header missing its closing bracket (`[settings`).
fn broken_header(line: &str) -> Option<(String, bool)> {
    let l = line.trim();
    let (inner, is_array) = match l.strip_prefix("[[") {
        Some(r) => (r, true),
        None => (l.strip_prefix('[')?, false),
    };
    let inner = inner
        .split('#')
        .next()
        .unwrap_or_default()
        .trim_end_matches(']')
        .trim();
    if inner.is_empty() || inner.contains('=') || inner.contains('"') && !inner.contains('.') {
        return None;
    }
    Some((inner.to_string(), is_array))
}

/// `projects.container` with `[[projects]]` seen twice → `projects[1].container`.
fn render_header(name: &str, arrays: &HashMap<String, usize>) -> String {
    let mut out: Vec<Seg> = Vec::new();
    let mut plain = String::new();
    for part in name.split('.') {
        if !plain.is_empty() {
            plain.push('.');
        }
        plain.push_str(part);
        out.push(Seg::Key(part.to_string()));
        if let Some(n) = arrays.get(&plain) {
            out.push(Seg::Index(n.saturating_sub(1)));
        }
    }
    render_path(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_the_enclosing_array_element() {
        let src = "[[projects]]\nname = \"a\"\n[[projects]]\nname = \"b\"\n[projects.container]\nnetwork = host\n";
        let off = src.rfind("host").unwrap_or(0);
        assert_eq!(
            syntax_context(src, off),
            (
                "projects[1].container.network".to_string(),
                "host".to_string()
            )
        );
    }

    #[test]
    fn context_of_a_broken_header() {
        assert_eq!(syntax_context("[settings\n", 9).0, "settings");
        assert_eq!(syntax_context("x\n", 0).0, "(syntax)");
    }
}
