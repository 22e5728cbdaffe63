//! Headless build commands: `template` (print the rendered Dockerfile) and
//! `build` (build, optionally push; lines or `--json` events).
//!
//! Exit codes: 0 built (and pushed); 1 the build or push ran and failed;
//! 2 nothing was built (unknown project, no build table, template error,
//! bad version, build host unreachable).

use std::io::Write;

use serde_json::json;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::image::{BuildRequest, Builder, build_target, template};
use crate::paths::Paths;
use crate::rollout::lock;

/// `shipdeck template P`: the Dockerfile `build` would use.
pub fn template(config: &Config, project: &str, out: &mut dyn Write) -> i32 {
    let rendered = build_target(config, project).and_then(|(p, spec)| {
        template::dockerfile(p, spec).map_err(crate::image::BuildError::from)
    });
    match rendered {
        Ok(df) => {
            let _ = out.write_all(df.as_bytes());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// Options of `shipdeck build`.
#[derive(Debug, Clone, Default)]
pub struct BuildOpts {
    pub version: Option<String>,
    pub push: bool,
    pub force: bool,
    pub json: bool,
}

/// `shipdeck build P [--version V] [--push [--force]] [--json]`.
pub async fn build(
    config: &Config,
    paths: &Paths,
    project: &str,
    opts: BuildOpts,
    out: &mut dyn Write,
) -> i32 {
    match build_report(config, paths, project, opts, out).await {
        Ok(_) => 0,
        Err(code) => code,
    }
}

/// A build that prints its events; the report, or the exit code of its failure.
pub async fn build_report(
    config: &Config,
    paths: &Paths,
    project: &str,
    opts: BuildOpts,
    out: &mut dyn Write,
) -> Result<crate::image::BuildReport, i32> {
    let BuildOpts {
        version,
        push,
        force,
        json,
    } = opts;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let builder = Builder {
        config,
        state_dir: &paths.state_dir,
        events: tx,
    };
    let req = BuildRequest {
        project: project.to_string(),
        version,
        push,
        force,
        user: lock::current_owner(),
    };
    // The builder (and with it the sender) is dropped when the build returns.
    let run = async move { builder.run(req).await };
    tokio::pin!(run);
    // Print events while the build runs.
    let result = loop {
        tokio::select! {
            r = &mut run => break r,
            Some(ev) = rx.recv() => print(json, out, &ev),
        }
    };
    while let Some(ev) = rx.recv().await {
        print(json, out, &ev);
    }
    match result {
        Ok(r) => Ok(r),
        Err(e) => {
            if json {
                let _ = writeln!(
                    out,
                    "{}",
                    json!({"event": "error", "message": e.to_string()})
                );
            }
            eprintln!("error: {e}");
            Err(e.exit_code())
        }
    }
}

fn print(json: bool, out: &mut dyn Write, ev: &crate::image::BuildEvent) {
    let _ = if json {
        writeln!(out, "{}", serde_json::to_value(ev).unwrap_or_default())
    } else {
        writeln!(out, "{}", ev.human())
    };
    let _ = out.flush();
}
