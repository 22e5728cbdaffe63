//! Engine calls of the lock: bounded calls with the HTTP status kept, remove
//! by id, and the tar archives of the lock's files.

use super::*;

// ---------------------------------------------------------------- engine calls

/// A failed Docker call: the HTTP status when the engine answered one.
pub(super) struct CallError {
    pub(super) status: Option<u16>,
    pub(super) error: EngineError,
}

impl From<EngineError> for CallError {
    fn from(error: EngineError) -> Self {
        Self {
            status: None,
            error,
        }
    }
}

/// Like `engine::connect::timed`, keeping the status code (404 and 409 mean
/// something here).
pub(super) async fn call<T>(
    endpoint: &str,
    what: &'static str,
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CallError {
            status: match &e {
                bollard::errors::Error::DockerResponseServerError { status_code, .. } => {
                    Some(*status_code)
                }
                _ => None,
            },
            error: EngineError::Api {
                status: None,
                endpoint: endpoint.to_string(),
                what,
                reason: describe(&e),
            },
        }),
        Err(_) => Err(CallError {
            status: None,
            error: EngineError::Timeout {
                endpoint: endpoint.to_string(),
                what,
                secs: timeout.as_secs().max(1),
            },
        }),
    }
}

/// Force-remove a container by ID; already gone is fine.
pub(super) async fn remove_by_id(conn: &Conn, id: &str) -> Result<(), EngineError> {
    let opts = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    match call(
        &conn.shown,
        "lock remove",
        conn.timeout,
        conn.docker.remove_container(id, Some(opts)),
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.status == Some(404) => Ok(()),
        Err(e) => Err(e.error),
    }
}

/// Unpack `tar` into the lock directory of container `id`.
pub(super) async fn upload(conn: &Conn, id: &str, tar: Vec<u8>) -> Result<(), CallError> {
    let opts = UploadToContainerOptions {
        path: LOCK_DIR.to_string(),
        ..Default::default()
    };
    call(
        &conn.shown,
        "lock write",
        conn.timeout,
        conn.docker
            .upload_to_container(id, Some(opts), bollard::body_full(tar.into())),
    )
    .await
}

/// The files of the lock directory that matter.
#[derive(Default)]
pub(super) struct LockFiles {
    pub(super) heartbeat: Option<String>,
    pub(super) control: Option<String>,
}

/// Read the lock directory of container `id` (one tar stream).
pub(super) async fn download(conn: &Conn, id: &str) -> Result<LockFiles, CallError> {
    let opts = DownloadFromContainerOptions {
        path: LOCK_DIR.to_string(),
    };
    let fetch = async {
        let mut stream = conn.docker.download_from_container(id, Some(opts));
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(bytes)
    };
    let bytes = call(&conn.shown, "lock read", conn.timeout, fetch).await?;
    let mut files = LockFiles::default();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let entries = archive
        .entries()
        .map_err(|e| archive_error(&conn.shown, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive_error(&conn.shown, e))?;
        let name = entry
            .path()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let slot = match name.as_deref() {
            Some(HEARTBEAT_FILE) => &mut files.heartbeat,
            Some(CONTROL_FILE) => &mut files.control,
            _ => continue,
        };
        // Both files are a line; a bigger one is not ours to read whole.
        let mut text = String::new();
        entry
            .by_ref()
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|e| archive_error(&conn.shown, e))?;
        *slot = Some(text);
    }
    Ok(files)
}

pub(super) fn archive_error(endpoint: &str, e: std::io::Error) -> CallError {
    CallError::from(EngineError::Api {
        status: None,
        endpoint: endpoint.to_string(),
        what: "lock read",
        reason: format!("unreadable archive: {e}"),
    })
}

/// A tar of small text files, to unpack into the lock directory.
pub(super) fn files_tar(files: &[(&str, &str)]) -> Result<Vec<u8>, EngineError> {
    let now = Utc::now().timestamp().max(0).unsigned_abs();
    build_tar(|b| {
        for (name, text) in files {
            append_file(b, name, text.as_bytes(), 0o644, now)?;
        }
        Ok(())
    })
}

/// The root filesystem of the lock image: `/lock` and `/shipdeck/`.
pub(super) fn image_tar() -> Result<Vec<u8>, EngineError> {
    build_tar(|b| {
        append_file(
            b,
            "lock",
            b"shipdeck fleet lock object: created, never started\n",
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

pub(super) fn append_file(
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

pub(super) fn build_tar(
    fill: impl FnOnce(&mut tar::Builder<Vec<u8>>) -> std::io::Result<()>,
) -> Result<Vec<u8>, EngineError> {
    let mut b = tar::Builder::new(Vec::new());
    fill(&mut b)
        .and_then(|()| b.into_inner())
        .map_err(|e| EngineError::Api {
            status: None,
            endpoint: "local".to_string(),
            what: "lock archive",
            reason: e.to_string(),
        })
}
