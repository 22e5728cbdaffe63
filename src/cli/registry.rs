//! `shipdeck tags PROJECT [--json]`: the tags of a project's image in its
//! registry, newest first, as a table or one JSON document.
//!
//! Exit codes: 0 listed; 1 the registry refused or could not be reached;
//! 2 bad input (unknown project, no registry for the image, unreadable
//! password reference) and no registry was asked.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::domain::labels::digest_hex12;
use crate::registry::{RegistryClient, TagInfo};

#[derive(Serialize)]
struct TagJson<'a> {
    tag: &'a str,
    digest: Option<&'a str>,
    created: Option<DateTime<Utc>>,
    age_secs: Option<i64>,
    size: Option<u64>,
}

/// "45s", "3m", "2h", "5d": the largest whole unit.
pub fn age_short(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Writes `tags` as a table (or JSON) relative to `now`.
pub fn print_tags(
    tags: &[TagInfo],
    now: DateTime<Utc>,
    json: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let age = |t: &TagInfo| t.created.map(|c| (now - c).num_seconds());
    if json {
        let doc: Vec<TagJson> = tags
            .iter()
            .map(|t| TagJson {
                tag: &t.tag,
                digest: t.digest.as_deref(),
                created: t.created,
                age_secs: age(t),
                size: t.size,
            })
            .collect();
        serde_json::to_writer(&mut *out, &doc)?;
        return writeln!(out);
    }
    let rows: Vec<[String; 4]> = tags
        .iter()
        .map(|t| {
            [
                t.tag.clone(),
                t.digest.as_deref().map(digest_hex12).unwrap_or("-".into()),
                t.created
                    .map(|c| c.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or("-".into()),
                age(t).map(age_short).unwrap_or("-".into()),
            ]
        })
        .collect();
    let head = ["TAG", "DIGEST", "CREATED (UTC)", "AGE"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([head[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    writeln!(
        out,
        "{:<w0$}  {:<w1$}  {:<w2$}  {}",
        head[0], head[1], head[2], head[3]
    )?;
    for r in &rows {
        writeln!(out, "{:<w0$}  {:<w1$}  {:<w2$}  {}", r[0], r[1], r[2], r[3])?;
    }
    Ok(())
}

/// An error: on stderr, and with `--json` also as `{"error": …}` on stdout.
fn fail(json: bool, out: &mut dyn Write, message: &str, code: i32) -> i32 {
    if json {
        let _ = writeln!(out, "{}", serde_json::json!({ "error": message }));
    }
    eprintln!("error: {message}");
    code
}

/// `shipdeck tags PROJECT [--json]`. Returns the exit code; errors go to stderr.
pub async fn tags(config: &Config, project: &str, json: bool, out: &mut dyn Write) -> i32 {
    let Some(p) = config.project(project) else {
        let known: Vec<&str> = config.projects.iter().map(|p| p.name.as_str()).collect();
        let msg = format!(
            "no project \"{project}\" in {}; known projects: {}",
            config.path.display(),
            known.join(", ")
        );
        return fail(json, out, &msg, 2);
    };
    let client = match RegistryClient::for_project(config, p) {
        Ok(c) => c,
        Err(e) => return fail(json, out, &e.to_string(), if e.is_config() { 2 } else { 1 }),
    };
    match client.tags().await {
        Ok(list) => {
            if !json && list.is_empty() {
                let _ = writeln!(
                    out,
                    "no tags in {} on registry '{}' ({})",
                    client.repository(),
                    client.name(),
                    client.url()
                );
                return 0;
            }
            match print_tags(&list, Utc::now(), json, out) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: cannot write the output: {e}");
                    1
                }
            }
        }
        Err(e) => fail(json, out, &e.to_string(), if e.is_config() { 2 } else { 1 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_the_largest_unit() {
        assert_eq!(age_short(-5), "0s");
        assert_eq!(age_short(45), "45s");
        assert_eq!(age_short(3 * 60 + 59), "3m");
        assert_eq!(age_short(2 * 3600 + 1), "2h");
        assert_eq!(age_short(5 * 86_400 + 7), "5d");
    }

    #[test]
    fn table_and_json() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap_or_default();
        let tags = vec![
            TagInfo {
                tag: "v2".into(),
                digest: Some(
                    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        .into(),
                ),
                created: DateTime::from_timestamp(1_000_000 - 180, 0),
                size: Some(10),
            },
            TagInfo {
                tag: "gone-long-tag".into(),
                digest: None,
                created: None,
                size: None,
            },
        ];
        let mut out = Vec::new();
        assert!(print_tags(&tags, now, false, &mut out).is_ok());
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "TAG            DIGEST        CREATED (UTC)        AGE"
        );
        assert_eq!(
            lines[1],
            "v2             0123456789ab  1970-01-12 13:43:40  3m"
        );
        assert_eq!(
            lines[2],
            "gone-long-tag  -             -                    -"
        );

        let mut out = Vec::new();
        assert!(print_tags(&tags, now, true, &mut out).is_ok());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v[0]["tag"], "v2");
        assert_eq!(v[0]["age_secs"], 180);
        assert_eq!(v[0]["created"], "1970-01-12T13:43:40Z");
        assert_eq!(v[1]["digest"], serde_json::Value::Null);
    }
}
