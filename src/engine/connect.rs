//! Opening a bollard client for a configured endpoint, with a timeout on every
//! call and API version negotiation (one binary serves old and new engines).

use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use thiserror::Error;

use crate::config::Endpoint;

/// A failure talking to one host's engine.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EngineError {
    #[error("cannot open a client for {endpoint}: {reason}")]
    Client { endpoint: String, reason: String },
    #[error("{endpoint} did not answer within {secs}s ({what})")]
    Timeout {
        endpoint: String,
        what: &'static str,
        secs: u64,
    },
    /// The engine answered with an error, or the transport failed mid-call.
    /// `status` is the HTTP status when the engine answered one: callers
    /// decide by it (404 gone, 304 already so, 409 conflict), never by text.
    #[error("{endpoint}: {what} failed: {reason}")]
    Api {
        endpoint: String,
        what: &'static str,
        status: Option<u16>,
        reason: String,
    },
}

impl EngineError {
    /// An API error without an HTTP status (a stream item, a local failure).
    pub fn api(endpoint: &str, what: &'static str, reason: impl Into<String>) -> Self {
        EngineError::Api {
            endpoint: endpoint.to_string(),
            what,
            status: None,
            reason: reason.into(),
        }
    }

    /// A bollard error, keeping the engine's HTTP status. bollard's own
    /// request timeout (the client's bound) is a timeout, not an API answer.
    pub fn from_bollard(endpoint: &str, what: &'static str, e: &bollard::errors::Error) -> Self {
        if let bollard::errors::Error::RequestTimeoutError = e {
            return EngineError::Timeout {
                endpoint: endpoint.to_string(),
                what,
                secs: 0,
            };
        }
        EngineError::Api {
            endpoint: endpoint.to_string(),
            what,
            status: status_of(e),
            reason: describe(e),
        }
    }

    /// The engine's HTTP status, when it answered one.
    pub fn status(&self) -> Option<u16> {
        match self {
            EngineError::Api { status, .. } => *status,
            _ => None,
        }
    }

    /// The engine said 404: no such container or image.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The engine said 409: a name is taken (or a conflicting state).
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// The engine said 304: already in the requested state (start/stop).
    pub fn is_not_modified(&self) -> bool {
        self.status() == Some(304)
    }

    /// The call never got an answer (timeout, connection refused, reset):
    /// the engine may be down, which is not what a 4xx/5xx means.
    pub fn is_transport(&self) -> bool {
        match self {
            EngineError::Client { .. } | EngineError::Timeout { .. } => true,
            EngineError::Api { status, .. } => status.is_none(),
        }
    }

    /// A short form for a table cell.
    pub fn short(&self) -> String {
        match self {
            EngineError::Client { reason, .. } => reason.clone(),
            EngineError::Timeout { what, secs: 0, .. } => {
                format!("{what}: no answer within the client's timeout")
            }
            EngineError::Timeout { what, secs, .. } => format!("{what}: no answer in {secs}s"),
            EngineError::Api { what, reason, .. } => format!("{what}: {reason}"),
        }
    }
}

/// The HTTP status of a bollard error, when the engine answered one.
pub fn status_of(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Flatten a bollard error to one line an operator can act on. Transport
/// errors are wrapped several times ("Error in the hyper legacy client: client
/// error (Connect): …"); the innermost cause is the one that says what to fix.
pub fn describe(err: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match err {
        E::DockerResponseServerError {
            status_code,
            message,
        } => format!("engine answered {status_code}: {message}"),
        other => {
            let mut last: &dyn std::error::Error = other;
            while let Some(next) = last.source() {
                last = next;
            }
            let root = last.to_string();
            let top = other.to_string();
            if root == top || top.contains(&root) {
                top
            } else {
                root
            }
        }
    }
}

/// Run `fut` with `timeout`, mapping both failure kinds to `EngineError`.
pub async fn timed<T>(
    endpoint: &str,
    what: &'static str,
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, EngineError> {
    timed_out(
        endpoint,
        what,
        timeout,
        tokio::time::timeout(timeout, fut).await,
    )
}

/// What [`timed`] makes of an awaited call.
fn timed_out<T>(
    endpoint: &str,
    what: &'static str,
    timeout: Duration,
    result: Result<Result<T, bollard::errors::Error>, tokio::time::error::Elapsed>,
) -> Result<T, EngineError> {
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(bollard::errors::Error::RequestTimeoutError)) => Err(EngineError::Timeout {
            endpoint: endpoint.to_string(),
            what,
            secs: timeout.as_secs().max(1),
        }),
        Ok(Err(e)) => Err(EngineError::from_bollard(endpoint, what, &e)),
        Err(_) => Err(EngineError::Timeout {
            endpoint: endpoint.to_string(),
            what,
            secs: timeout.as_secs().max(1),
        }),
    }
}

/// The engine's clock from `/info`: `None` when it does not say (or says
/// something unreadable).
pub async fn engine_clock(
    docker: &Docker,
    endpoint: &str,
    timeout: Duration,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, EngineError> {
    let info = timed(endpoint, "info", timeout, docker.info()).await?;
    Ok(info
        .system_time
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.with_timezone(&chrono::Utc)))
}

/// Open a client for `endpoint` and negotiate the API version.
///
/// `timeout` bounds the negotiation and is also bollard's per-request timeout,
/// so no later call on the returned client can hang forever.
pub async fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<Docker, EngineError> {
    let shown = endpoint.to_string();
    let secs = timeout.as_secs().max(1);
    let client = match endpoint {
        Endpoint::Unix { path } => {
            Docker::connect_with_unix(&path.to_string_lossy(), secs, API_DEFAULT_VERSION)
                .map_err(|e| describe(&e))
        }
        Endpoint::Tcp { addr, tls: None } => {
            Docker::connect_with_http(&format!("tcp://{addr}"), secs, API_DEFAULT_VERSION)
                .map_err(|e| describe(&e))
        }
        Endpoint::Tcp {
            addr,
            tls: Some(tls),
        } => super::tls::connect(addr, tls, secs, API_DEFAULT_VERSION),
        Endpoint::Ssh { url, ssh } => match super::ssh::tunnel(url, ssh, timeout).await {
            Ok(sock) => {
                Docker::connect_with_unix(&sock.to_string_lossy(), secs, API_DEFAULT_VERSION)
                    .map_err(|e| describe(&e))
            }
            Err(reason) => {
                return Err(EngineError::Api {
                    endpoint: shown,
                    what: "ssh",
                    status: None,
                    reason,
                });
            }
        },
    }
    .map_err(|reason| EngineError::Client {
        endpoint: shown.clone(),
        reason,
    })?;
    let negotiated = tokio::time::timeout(timeout, client.negotiate_version()).await;
    // A refused TLS handshake shows first here: say which check failed.
    if let (
        Ok(Err(e)),
        Endpoint::Tcp {
            addr,
            tls: Some(tls),
        },
    ) = (&negotiated, endpoint)
        && let Some(reason) = super::tls::explain(e, addr, tls)
    {
        return Err(EngineError::Api {
            endpoint: shown,
            what: "TLS handshake",
            status: None,
            reason,
        });
    }
    // Through ssh, the engine's socket on the host may not open.
    if let (Ok(Err(_)), Endpoint::Ssh { url, ssh }) = (&negotiated, endpoint)
        && let Some(reason) = super::ssh::channel_refused(url, ssh)
    {
        return Err(EngineError::Api {
            endpoint: shown,
            what: "ssh",
            status: None,
            reason,
        });
    }
    timed_out(&shown, "version negotiation", timeout, negotiated)
}
