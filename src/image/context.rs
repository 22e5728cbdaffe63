//! The build context: the project directory as a tar, minus what its
//! `.dockerignore` excludes (Docker's rules: patterns are relative to the
//! context root, `*` stays within one path segment, `**` spans any, `!`
//! re-includes, the last matching line wins, and a pattern that matches a
//! directory matches everything below it). The rendered Dockerfile is added
//! as [`DOCKERFILE`].

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use thiserror::Error;

/// Name of the Dockerfile shipdeck adds to the context.
pub const DOCKERFILE: &str = ".shipdeck.Dockerfile";

#[derive(Debug, Error)]
pub enum ContextError {
    #[error("build context {path}: {reason}; check the file and its permissions")]
    Io { path: PathBuf, reason: String },
    #[error(
        "{path}:{line}: bad pattern \"{pattern}\": {reason}; fix or remove the line (Docker's .dockerignore syntax)"
    )]
    Pattern {
        path: PathBuf,
        line: usize,
        pattern: String,
        reason: String,
    },
}

/// A packed context.
#[derive(Debug)]
pub struct Context {
    pub tar: Vec<u8>,
    /// Files (and links) sent.
    pub files: usize,
    /// Bytes of file content sent.
    pub bytes: u64,
    /// Paths left out by `.dockerignore`.
    pub ignored: usize,
}

struct Rule {
    glob: GlobMatcher,
    negate: bool,
}

/// `.dockerignore` rules of a context.
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

impl DockerIgnore {
    /// Reads `dir/.dockerignore` (no file: nothing is ignored).
    pub fn load(dir: &Path) -> Result<Self, ContextError> {
        let path = dir.join(".dockerignore");
        match std::fs::read_to_string(&path) {
            Ok(src) => Self::parse(&src, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self { rules: Vec::new() }),
            Err(e) => Err(ContextError::Io {
                path,
                reason: e.to_string(),
            }),
        }
    }

    pub fn parse(src: &str, path: &Path) -> Result<Self, ContextError> {
        let mut rules = Vec::new();
        for (n, line) in src.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            // Docker's patterns have no `{a,b}` alternation: braces are literal.
            let cleaned = clean(pat).replace('{', "[{]").replace('}', "[}]");
            if cleaned.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&cleaned)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| ContextError::Pattern {
                    path: path.to_path_buf(),
                    line: n + 1,
                    pattern: line.to_string(),
                    reason: e.kind().to_string(),
                })?;
            rules.push(Rule {
                glob: glob.compile_matcher(),
                negate,
            });
        }
        Ok(Self { rules })
    }

    /// Whether `rel` (a `/`-separated path relative to the context) is left out.
    pub fn excluded(&self, rel: &str) -> bool {
        let mut out = false;
        for r in &self.rules {
            if matches_or_parent(&r.glob, rel) {
                out = !r.negate;
            }
        }
        out
    }

    fn has_negations(&self) -> bool {
        self.rules.iter().any(|r| r.negate)
    }
}

/// Docker cleans patterns like paths: no leading `/` or `./`, no trailing `/`.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

fn matches_or_parent(glob: &GlobMatcher, rel: &str) -> bool {
    if glob.is_match(rel) {
        return true;
    }
    let mut end = rel.len();
    while let Some(i) = rel[..end].rfind('/') {
        if glob.is_match(&rel[..i]) {
            return true;
        }
        end = i;
    }
    false
}

/// A header as the Docker CLI writes it: the file's mode and mtime kept (a
/// web server's Last-Modified, a 0600 file staying private), owned by root.
fn header_for(meta: &std::fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    h.set_uid(0);
    h.set_gid(0);
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    if let Some(g) = h.as_gnu_mut() {
        g.set_atime(0);
        g.set_ctime(0);
    }
    h
}

/// Packs `dir` (honouring its `.dockerignore`) with `dockerfile` added as
/// [`DOCKERFILE`]. Symlinks are stored as links, never followed.
pub fn pack(dir: &Path, dockerfile: &str) -> Result<Context, ContextError> {
    let ignore = DockerIgnore::load(dir)?;
    let io = |path: &Path, e: &dyn std::fmt::Display| ContextError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    let (mut files, mut bytes, mut ignored) = (0usize, 0u64, 0usize);
    let negations = ignore.has_negations();
    let mut walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| {
            let p = e.path().unwrap_or(dir).to_path_buf();
            io(&p, &e)
        })?;
        let rel_path = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let Some(rel) = rel_path.to_str().map(|s| s.replace('\\', "/")) else {
            return Err(io(entry.path(), &"the file name is not UTF-8"));
        };
        if rel == DOCKERFILE {
            continue;
        }
        let ft = entry.file_type();
        if ignore.excluded(&rel) {
            ignored += 1;
            // Without `!` rules nothing below an excluded directory comes back.
            if ft.is_dir() && !negations {
                walk.skip_current_dir();
            }
            continue;
        }
        let meta = entry.metadata().map_err(|e| io(entry.path(), &e))?;
        let mut header = header_for(&meta);
        if ft.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            tar.append_data(&mut header, format!("{rel}/"), std::io::empty())
                .map_err(|e| io(entry.path(), &e))?;
        } else if ft.is_file() {
            let file = std::fs::File::open(entry.path()).map_err(|e| io(entry.path(), &e))?;
            bytes += meta.len();
            tar.append_data(&mut header, &rel, file)
                .map_err(|e| io(entry.path(), &e))?;
            files += 1;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(|e| io(entry.path(), &e))?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, &rel, &target)
                .map_err(|e| io(entry.path(), &e))?;
            files += 1;
        }
        // Sockets, fifos and devices are not part of a build context.
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, DOCKERFILE, dockerfile.as_bytes())
        .map_err(|e| io(dir, &e))?;
    let tar = tar.into_inner().map_err(|e| io(dir, &e))?;
    Ok(Context {
        tar,
        files,
        bytes,
        ignored,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn di(src: &str) -> DockerIgnore {
        DockerIgnore::parse(src, Path::new(".dockerignore")).unwrap()
    }

    #[test]
    fn docker_semantics() {
        let d = di("# comment\n*.log\n/secret.txt\ntmp/\n**/*.bak\nbuild\n!build/keep.txt\n");
        assert!(d.excluded("a.log"));
        assert!(!d.excluded("sub/a.log"), "* stays in the root segment");
        assert!(d.excluded("secret.txt"));
        assert!(
            d.excluded("tmp/x/y"),
            "a matched directory covers its contents"
        );
        assert!(d.excluded("deep/er/f.bak"));
        assert!(d.excluded("f.bak"));
        assert!(d.excluded("build/out.o"));
        assert!(!d.excluded("build/keep.txt"), "! re-includes");
        assert!(!d.excluded("src/main.rs"));
    }

    #[test]
    fn braces_are_literal() {
        let d = di("{a,b}.txt\n");
        assert!(d.excluded("{a,b}.txt"));
        assert!(!d.excluded("a.txt"));
    }

    #[test]
    fn last_match_wins() {
        let d = di("!a.txt\n*.txt\n");
        assert!(d.excluded("a.txt"));
    }

    #[test]
    fn bad_pattern_names_file_and_line() {
        let e = DockerIgnore::parse("ok\n[z-a\n", Path::new("/c/.dockerignore"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("/c/.dockerignore:2"), "{e}");
        assert!(e.contains("\"[z-a\""), "{e}");
    }

    #[test]
    fn pack_leaves_out_ignored_files_and_adds_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join(".dockerignore"), "*.log\nnode_modules\n").unwrap();
        std::fs::write(p.join("app.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(p.join("debug.log"), "x").unwrap();
        std::fs::create_dir_all(p.join("node_modules/m")).unwrap();
        std::fs::write(p.join("node_modules/m/i.js"), "x").unwrap();
        let ctx = pack(p, "FROM scratch\n").unwrap();
        let mut names = Vec::new();
        let mut ar = tar::Archive::new(ctx.tar.as_slice());
        for e in ar.entries().unwrap() {
            names.push(e.unwrap().path().unwrap().display().to_string());
        }
        assert!(names.contains(&"app.sh".to_string()), "{names:?}");
        assert!(names.contains(&DOCKERFILE.to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("debug.log")), "{names:?}");
        assert!(
            !names.iter().any(|n| n.contains("node_modules")),
            "{names:?}"
        );
        assert_eq!(ctx.ignored, 2);
        // Modes and mtimes are the files' own; the owner is root.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p.join("app.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
        let ctx = pack(p, "FROM scratch\n").unwrap();
        let mut ar = tar::Archive::new(ctx.tar.as_slice());
        let e = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().to_str() == Some("app.sh"))
            .unwrap();
        assert_eq!(e.header().mode().unwrap() & 0o777, 0o750);
        assert_eq!(e.header().uid().unwrap(), 0);
        let mtime = std::fs::metadata(p.join("app.sh"))
            .unwrap()
            .modified()
            .unwrap();
        let secs = mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(e.header().mtime().unwrap(), secs);
    }
}
