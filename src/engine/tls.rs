//! A TLS engine's client (`tcp://` with `tls = { ca, cert, key }`): the
//! engine's certificate is checked against the configured CA only, never
//! the system's roots (bollard's `connect_with_ssl` adds those too, so any
//! public CA's certificate for the address would pass), and the client
//! presents its certificate. A refusal says which check failed and what to
//! look at.

use std::sync::Arc;
use std::time::Duration;

use bollard::{BollardRequest, ClientVersion, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::model::TlsFiles;

fn certs(path: &std::path::Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let read = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "cannot read the {what} \"{}\": {e}; give a PEM file",
                path.display()
            )
        })?;
    if read.is_empty() {
        return Err(format!(
            "the {what} \"{}\" holds no PEM certificate",
            path.display()
        ));
    }
    Ok(read)
}

/// Refuses a client certificate that has expired or is not valid yet
/// before any engine sees it: the engine would only answer "bad
/// certificate", without saying why.
fn check_validity(
    cert: &CertificateDer<'_>,
    path: &std::path::Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        // rustls reports a certificate it cannot use when it is offered.
        return Ok(());
    };
    let validity = parsed.validity();
    let at = |t: x509_parser::time::ASN1Time| {
        chrono::DateTime::from_timestamp(t.timestamp(), 0).map_or_else(
            || t.to_string(),
            |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
    };
    let now_ts = now.timestamp();
    if now_ts > validity.not_after.timestamp() {
        return Err(format!(
            "the client certificate \"{}\" expired on {}; renew it (a new one signed by the CA the engine trusts, its --tlscacert)",
            path.display(),
            at(validity.not_after)
        ));
    }
    if now_ts < validity.not_before.timestamp() {
        return Err(format!(
            "the client certificate \"{}\" is not valid before {}; check this machine's clock, or wait",
            path.display(),
            at(validity.not_before)
        ));
    }
    Ok(())
}

/// The rustls configuration for `tls`: its CA as the only root, its
/// certificate and key as the client's.
pub fn client_config(tls: &TlsFiles) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs(&tls.ca, "CA file")? {
        roots.add(ca).map_err(|e| {
            format!(
                "the CA file \"{}\" holds a certificate rustls refuses as a root: {e}",
                tls.ca.display()
            )
        })?;
    }
    let chain = certs(&tls.cert, "client certificate")?;
    if let Some(first) = chain.first() {
        check_validity(first, &tls.cert, chrono::Utc::now())?;
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| {
        format!(
            "cannot read the client key \"{}\": {e}; give a PEM private key",
            tls.key.display()
        )
    })?;
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| {
            format!(
                "the client certificate \"{}\" and key \"{}\" do not go together: {e}",
                tls.cert.display(),
                tls.key.display()
            )
        })
}

/// A client for the engine at `addr` (`HOST:PORT`) over TLS.
pub fn connect(
    addr: &str,
    tls: &TlsFiles,
    secs: u64,
    version: &ClientVersion,
) -> Result<Docker, String> {
    let config = client_config(tls)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(secs)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let mut builder = Client::builder(TokioExecutor::new());
    // As bollard's own clients: a connection per request.
    builder.pool_max_idle_per_host(0);
    let client = Arc::new(builder.build(https));
    Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let client = client.clone();
            async move {
                client
                    .request(req)
                    .await
                    .map_err(bollard::errors::Error::from)
            }
        },
        Some(format!("https://{addr}")),
        secs,
        version,
    )
    .map_err(|e| super::connect::describe(&e))
}

/// The rustls error in `err`'s chain, if there is one. io::Error's own
/// `source()` skips the error it wraps: it is looked into.
fn rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        cur = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// What a TLS failure in `err`'s chain means for the operator of `tls`'s
/// engine at `addr`, if it is one.
pub fn explain(
    err: &(dyn std::error::Error + 'static),
    addr: &str,
    tls: &TlsFiles,
) -> Option<String> {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R};
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let ca = tls.ca.display();
    let cert = tls.cert.display();
    Some(match rustls_error(err)? {
        R::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
            "the engine's certificate is not signed by the configured CA \"{ca}\" \
             (only that CA is trusted); check `ca` is the CA the engine's --tlscert was issued by"
        ),
        R::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => format!(
            "the engine's certificate is not issued for \"{host}\", the address in \
             the endpoint; use a name or IP its subjectAltName holds, or reissue it with \"{host}\""
        ),
        R::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the engine's certificate has expired; renew the engine's --tlscert".to_string()
        }
        R::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "the engine's certificate is not valid yet; check the clocks".to_string()
        }
        R::AlertReceived(
            a @ (A::BadCertificate
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::CertificateRequired
            | A::UnsupportedCertificate),
        ) => format!(
            "the engine did not accept the client certificate \"{cert}\" \
             ({a:?}); check it has not expired and is signed by the CA the engine trusts \
             (its --tlscacert)"
        ),
        other => other.to_string(),
    })
}
