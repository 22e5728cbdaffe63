//! What a build reports while it runs: lines for people, JSON for machines.

use crate::domain::labels::digest_hex12;
use serde::Serialize;

/// What `build` reports while it runs (`--json`: one object a line).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BuildEvent {
    Started {
        project: String,
        version: String,
        image: String,
        host: String,
        dockerfile: String,
        context_files: usize,
        context_bytes: u64,
        ignored: usize,
        log: String,
    },
    /// `Step N/M : INSTRUCTION` of the classic builder.
    Step {
        step: u32,
        total: u32,
        instruction: String,
    },
    /// A line of build output.
    Output {
        line: String,
    },
    Built {
        image_id: String,
        layers: usize,
        secs: f64,
    },
    PushStarted {
        image: String,
        registry: String,
    },
    /// The push's state changed (`Preparing`, `Pushing`, `Pushed`, `Layer already exists`).
    PushProgress {
        status: String,
    },
    Pushed {
        digest: String,
        secs: f64,
    },
    Failed {
        /// `build` or `push`.
        stage: String,
        /// `3/7 RUN make` for a build step.
        step: Option<String>,
        error: String,
        /// The failing step's output (its last lines).
        output: Vec<String>,
    },
    Finished {
        outcome: String,
        version: String,
        image: String,
        digest: Option<String>,
        log: String,
        secs: f64,
    },
}

impl BuildEvent {
    /// The line(s) a person reads.
    pub fn human(&self) -> String {
        match self {
            BuildEvent::Started {
                project,
                version,
                image,
                host,
                dockerfile,
                context_files,
                context_bytes,
                ignored,
                log,
            } => format!(
                "build: {project} {version} → {image} on {host} ({dockerfile}; context {context_files} files, {} KiB, {ignored} left out by .dockerignore)\nbuild: log {log}",
                context_bytes.div_ceil(1024)
            ),
            BuildEvent::Step {
                step,
                total,
                instruction,
            } => format!("Step {step}/{total} : {instruction}"),
            BuildEvent::Output { line } => line.clone(),
            BuildEvent::Built {
                image_id,
                layers,
                secs,
            } => format!(
                "build: built {} ({layers} layers) in {secs:.1}s",
                digest_hex12(image_id)
            ),
            BuildEvent::PushStarted { image, registry } => {
                format!("push: {image} to {registry}")
            }
            BuildEvent::PushProgress { status } => format!("push: {status}"),
            BuildEvent::Pushed { digest, secs } => format!("push: pushed {digest} in {secs:.1}s"),
            BuildEvent::Failed {
                stage,
                step,
                error,
                output,
            } => {
                let mut s = match step {
                    Some(st) => format!("{stage} failed at step {st}: {error}"),
                    None => format!("{stage} failed: {error}"),
                };
                if !output.is_empty() {
                    s.push_str("\noutput of the failing step:");
                    for l in output {
                        s.push_str("\n  | ");
                        s.push_str(l);
                    }
                }
                s
            }
            BuildEvent::Finished {
                outcome,
                version,
                image,
                digest,
                log,
                secs,
            } => match digest {
                Some(d) => {
                    format!("build: {outcome}: {image}:{version} ({d}) in {secs:.1}s; log {log}")
                }
                None => format!("build: {outcome}: {image}:{version} in {secs:.1}s; log {log}"),
            },
        }
    }
}
