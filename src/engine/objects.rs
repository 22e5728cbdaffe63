//! Fleet objects: containers that are created and never started, holding a
//! few small text files and two number registers, used by the rollout
//! engine to keep state on the fleet itself (the lock, the release ledger).
//! Container names are unique per engine, so creating one is an atomic
//! test-and-set (409 when taken).
//!
//! Files go through the archive API, which mounts the container's
//! filesystem: fine for what changes rarely, too heavy for a lock's
//! heartbeat and control word under several rollouts at once. Those live in
//! the two registers: fields the Engine API updates in place without any
//! mount (`PidsLimit` and the restart policy's `MaximumRetryCount`), read by
//! a plain inspect. The object never runs, so neither limit ever applies.
//! Owns the object image (`shipdeck/lock:1`, imported from a tiny tar through
//! the Engine API, no registry needed) and the tar archives of the files.
//! Must not import ratatui, app/ui or rollout.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, DownloadFromContainerOptions,
    InspectContainerOptions, UploadToContainerOptions,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::{debug, info};

use super::connect::{EngineError, timed};
use super::ops::Engine;

/// The image every fleet object is created from.
pub const OBJECT_IMAGE: &str = "shipdeck/lock:1";
const OBJECT_IMAGE_REPO: &str = "shipdeck/lock";
const OBJECT_IMAGE_TAG: &str = "1";
/// Fixed file times, so every engine imports the same layer.
const IMAGE_MTIME: u64 = 1_767_225_600; // 2026-01-01
/// Directory inside an object holding its files.
const OBJECT_DIR: &str = "/shipdeck";
/// The largest file read back from an object (a ledger of 100 releases fits).
const MAX_FILE: u64 = 1 << 20;

/// A fleet object found by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetObject {
    pub id: String,
    pub labels: HashMap<String, String>,
    pub registers: Registers,
}

/// An object's two number registers (`None`: never set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Registers {
    /// A time in milliseconds (the lock's heartbeat).
    pub clock_ms: Option<i64>,
    /// A small code (the lock's control word and its sequence number).
    pub word: Option<i64>,
}

impl Registers {
    fn host_config(self) -> bollard::models::HostConfig {
        bollard::models::HostConfig {
            pids_limit: self.clock_ms.filter(|v| *v > 0),
            restart_policy: self
                .word
                .filter(|v| *v > 0)
                .map(|n| bollard::models::RestartPolicy {
                    name: Some(bollard::models::RestartPolicyNameEnum::ON_FAILURE),
                    maximum_retry_count: Some(n),
                }),
            ..Default::default()
        }
    }

    fn from_host_config(h: Option<&bollard::models::HostConfig>) -> Self {
        Self {
            clock_ms: h.and_then(|h| h.pids_limit).filter(|v| *v > 0),
            word: h
                .and_then(|h| h.restart_policy.as_ref())
                .filter(|r| r.name == Some(bollard::models::RestartPolicyNameEnum::ON_FAILURE))
                .and_then(|r| r.maximum_retry_count)
                .filter(|v| *v > 0),
        }
    }
}

impl Engine {
    /// Import the object image unless the engine has it.
    pub async fn ensure_object_image(&self) -> Result<(), EngineError> {
        match timed(
            &self.endpoint,
            "object image inspect",
            self.timeout,
            self.docker.inspect_image(OBJECT_IMAGE),
        )
        .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        info!(host = %self.host, "importing {OBJECT_IMAGE}");
        let rootfs = image_tar().map_err(|e| self.local(e))?;
        let opts = CreateImageOptions {
            from_src: Some("-".to_string()),
            repo: Some(OBJECT_IMAGE_REPO.to_string()),
            tag: Some(OBJECT_IMAGE_TAG.to_string()),
            message: Some("shipdeck fleet object (created, never started)".to_string()),
            ..Default::default()
        };
        let import = async {
            let mut progress =
                self.docker
                    .create_image(Some(opts), Some(bollard::body_full(rootfs.into())), None);
            while let Some(item) = progress.next().await {
                item?;
            }
            Ok(())
        };
        timed(
            &self.endpoint,
            "object image import",
            self.op_timeout(),
            import,
        )
        .await
    }

    /// Create object `name` with `labels`, then write `files` into it. A name
    /// that is taken fails with a 409 (`EngineError::is_conflict`). A half-made
    /// object (the files could not be written) is removed again.
    pub async fn create_object(
        &self,
        name: &str,
        labels: HashMap<String, String>,
        registers: Registers,
        files: &[(&str, &str)],
    ) -> Result<String, EngineError> {
        self.ensure_object_image().await?;
        let body = ContainerCreateBody {
            image: Some(OBJECT_IMAGE.to_string()),
            cmd: Some(vec!["/lock".to_string()]),
            labels: Some(labels),
            network_disabled: Some(true),
            host_config: Some(registers.host_config()),
            ..Default::default()
        };
        let opts = CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        };
        let created = timed(
            &self.endpoint,
            "object create",
            self.op_timeout(),
            self.docker.create_container(Some(opts), body),
        )
        .await?;
        if files.is_empty() {
            return Ok(created.id);
        }
        if let Err(e) = self.write_files(&created.id, files).await {
            if let Err(cleanup) = self.remove(&created.id).await {
                debug!(host = %self.host, id = %created.id, error = %cleanup, "could not remove a half-made object");
            }
            return Err(e);
        }
        Ok(created.id)
    }

    /// The object named `name`, if this engine has one.
    pub async fn find_object(&self, name: &str) -> Result<Option<FleetObject>, EngineError> {
        match timed(
            &self.endpoint,
            "object inspect",
            self.timeout,
            self.docker
                .inspect_container(name, None::<InspectContainerOptions>),
        )
        .await
        {
            Ok(d) => {
                let registers = Registers::from_host_config(d.host_config.as_ref());
                Ok(d.id.map(|id| FleetObject {
                    id,
                    labels: d.config.and_then(|c| c.labels).unwrap_or_default(),
                    registers,
                }))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Set the registers given (`None` leaves one as it is): one small
    /// update, no mount.
    pub async fn set_registers(&self, id: &str, registers: Registers) -> Result<(), EngineError> {
        let h = registers.host_config();
        let body = bollard::models::ContainerUpdateBody {
            pids_limit: h.pids_limit,
            restart_policy: h.restart_policy,
            ..Default::default()
        };
        timed(
            &self.endpoint,
            "object update",
            self.timeout,
            self.docker.update_container(id, body),
        )
        .await
    }

    /// Whether the object with this id still exists.
    pub async fn object_exists(&self, id: &str) -> Result<bool, EngineError> {
        match timed(
            &self.endpoint,
            "object inspect",
            self.timeout,
            self.docker
                .inspect_container(id, None::<InspectContainerOptions>),
        )
        .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Write (replace) small text files in an object.
    pub async fn write_files(&self, id: &str, files: &[(&str, &str)]) -> Result<(), EngineError> {
        let tar = files_tar(files).map_err(|e| self.local(e))?;
        let opts = UploadToContainerOptions {
            path: OBJECT_DIR.to_string(),
            ..Default::default()
        };
        timed(
            &self.endpoint,
            "object write",
            self.timeout,
            self.docker
                .upload_to_container(id, Some(opts), bollard::body_full(tar.into())),
        )
        .await
    }

    /// Every file of an object, by name (one tar stream).
    pub async fn read_files(&self, id: &str) -> Result<BTreeMap<String, String>, EngineError> {
        let opts = DownloadFromContainerOptions {
            path: OBJECT_DIR.to_string(),
        };
        let fetch = async {
            let mut stream = self.docker.download_from_container(id, Some(opts));
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk?);
                if bytes.len() as u64 > 4 * MAX_FILE {
                    break;
                }
            }
            Ok(bytes)
        };
        let bytes = timed(&self.endpoint, "object read", self.timeout, fetch).await?;
        read_tar(&bytes).map_err(|e| {
            EngineError::api(
                &self.endpoint,
                "object read",
                format!("unreadable archive: {e}"),
            )
        })
    }

    /// The engine's clock, from `/info`; `None` when it cannot be read.
    pub async fn engine_time(&self) -> Option<DateTime<Utc>> {
        match super::connect::engine_clock(&self.docker, &self.endpoint, self.timeout).await {
            Ok(parsed) => {
                if parsed.is_none() {
                    debug!(host = %self.host, "engine time unreadable");
                }
                parsed
            }
            Err(e) => {
                debug!(host = %self.host, error = %e, "engine time unavailable");
                None
            }
        }
    }

    fn local(&self, e: std::io::Error) -> EngineError {
        EngineError::api(&self.endpoint, "object archive", e.to_string())
    }
}

fn read_tar(bytes: &[u8]) -> std::io::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let Some(name) = entry
            .path()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        else {
            continue;
        };
        let mut text = String::new();
        entry.by_ref().take(MAX_FILE).read_to_string(&mut text)?;
        files.insert(name, text);
    }
    Ok(files)
}

/// A tar of small text files, to unpack into the object directory.
fn files_tar(files: &[(&str, &str)]) -> std::io::Result<Vec<u8>> {
    let now = Utc::now().timestamp().max(0).unsigned_abs();
    build_tar(|b| {
        for (name, text) in files {
            append_file(b, name, text.as_bytes(), 0o644, now)?;
        }
        Ok(())
    })
}

/// The root filesystem of the object image: `/lock` and `/shipdeck/`.
fn image_tar() -> std::io::Result<Vec<u8>> {
    build_tar(|b| {
        append_file(
            b,
            "lock",
            b"shipdeck fleet object: created, never started\n",
            0o755,
            IMAGE_MTIME,
        )?;
        let mut dir = tar::Header::new_ustar();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_size(0);
        dir.set_mtime(IMAGE_MTIME);
        b.append_data(&mut dir, "shipdeck/", std::io::empty())
    })
}

fn append_file(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    data: &[u8],
    mode: u32,
    mtime: u64,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode);
    h.set_size(data.len() as u64);
    h.set_mtime(mtime);
    b.append_data(&mut h, name, data)
}

fn build_tar(
    fill: impl FnOnce(&mut tar::Builder<Vec<u8>>) -> std::io::Result<()>,
) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    fill(&mut b)?;
    b.into_inner()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_read_back() {
        let tar = files_tar(&[("heartbeat", "x"), ("control", "pause 3")]).unwrap();
        let files = read_tar(&tar).unwrap();
        assert_eq!(files["heartbeat"], "x");
        assert_eq!(files["control"], "pause 3");
        let image = image_tar().unwrap();
        assert_eq!(read_tar(&image).unwrap().len(), 1, "the /lock file");
    }
}
