//! TLS engines: the client trusts only the configured CA (not the system's
//! roots), and each refusal says which check failed.
//!
//! The far end is a TLS listener on loopback started by the test (rustls,
//! with client-certificate verification as dockerd's `--tlsverify` does),
//! with certificates made by the test (rcgen): the checks under test are the
//! handshake's, before any Docker API call. The sandbox's TLS engines
//! (issue 11, point 1) are where status, deploy and rollback over TLS go.
//!
//! One test in this binary: it sets `SSL_CERT_FILE` (the system's roots, as
//! rustls-native-certs reads them) for the whole process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, date_time_ymd};
use shipdeck::config::{Endpoint, TlsFiles};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, name.to_string());
    let key = KeyPair::generate().expect("ca key");
    let cert = p.self_signed(&key).expect("ca cert");
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A certificate for `names` signed by `ca`: (cert PEM, key PEM).
fn leaf(ca: &Ca, names: &[&str], expired: bool) -> (String, String) {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("leaf params");
    if expired {
        p.not_before = date_time_ymd(2020, 1, 1);
        p.not_after = date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().expect("leaf key");
    let cert = p.signed_by(&key, &ca.issuer).expect("leaf cert");
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pem");
    p
}

/// A TLS listener on loopback that wants a client certificate from
/// `client_ca`; each handshake's outcome goes to the channel. After a
/// handshake it answers any request with a 500, so the client's call ends.
async fn listener(
    server: (String, String),
    client_ca: &str,
) -> (String, mpsc::UnboundedReceiver<Result<(), String>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(server.0.as_bytes())
        .collect::<Result<_, _>>()
        .expect("server chain");
    let key = PrivateKeyDer::from_pem_slice(server.1.as_bytes()).expect("server key");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(client_ca.as_bytes()) {
        roots.add(c.expect("client ca")).expect("add client ca");
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .expect("verifier");
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = tcp.local_addr().expect("addr").to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = tcp.accept().await else {
                return;
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match acceptor.accept(sock).await {
                    Ok(mut s) => {
                        let _ = tx.send(Ok(()));
                        let mut buf = [0u8; 4096];
                        let _ =
                            tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
                        let _ = s
                            .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                        let _ = s.shutdown().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        }
    });
    (addr, rx)
}

async fn connect(addr: &str, tls: &TlsFiles) -> Result<(), String> {
    let ep = Endpoint::Tcp {
        addr: addr.to_string(),
        tls: Some(tls.clone()),
    };
    shipdeck::engine::connect::connect(&ep, Duration::from_secs(10))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The server's side of the one handshake a connect made.
async fn server_saw(rx: &mut mpsc::UnboundedReceiver<Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the listener saw no handshake within 10 s")
        .expect("listener gone")
}

/// Connect to a listener with the engine certificate `server`: the
/// client's message; the handshake must have failed on both sides.
async fn engine_refused(server: (String, String), client_ca: &str, tls: &TlsFiles) -> String {
    let (addr, mut rx) = listener(server, client_ca).await;
    let err = connect(&addr, tls)
        .await
        .expect_err("the engine's certificate was trusted");
    assert!(server_saw(&mut rx).await.is_err(), "{err}");
    err
}

#[tokio::test]
async fn only_the_configured_ca_is_trusted_and_each_refusal_says_which_check_failed() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ours = ca("shipdeck test CA");
    let public = ca("a CA the system trusts");
    // The system's roots: a bundle holding only `public`.
    let system = write(d, "system-roots.pem", &public.pem);
    // SAFETY: this binary's only test; nothing else reads the environment
    // while it is set.
    unsafe { std::env::set_var("SSL_CERT_FILE", &system) };

    let (cert, key) = leaf(&ours, &["shipdeck-client"], false);
    let tls = TlsFiles {
        ca: write(d, "ca.pem", &ours.pem),
        cert: write(d, "cert.pem", &cert),
        key: write(d, "key.pem", &key),
    };

    // 1. An engine whose certificate a system root signed, for the right
    //    address: refused, only `ca` counts (bollard's own TLS client took
    //    it: it adds the system's roots to the CA).
    let err = engine_refused(leaf(&public, &["127.0.0.1"], false), &ours.pem, &tls).await;
    assert!(
        err.contains("not signed by the configured CA") && err.contains("ca.pem"),
        "{err}"
    );

    // 2. Our CA, but for another name than the endpoint's address.
    let err = engine_refused(leaf(&ours, &["engine.example"], false), &ours.pem, &tls).await;
    assert!(
        err.contains("not issued for \"127.0.0.1\"") && err.contains("subjectAltName"),
        "{err}"
    );

    // 3. A client certificate that expired: refused here, before any
    //    engine sees it (an engine would only answer "bad certificate"),
    //    and the message says so and names the file.
    let (old_cert, old_key) = leaf(&ours, &["shipdeck-client"], true);
    let expired = TlsFiles {
        cert: write(d, "expired-cert.pem", &old_cert),
        key: write(d, "expired-key.pem", &old_key),
        ..tls.clone()
    };
    let (addr, mut rx) = listener(leaf(&ours, &["127.0.0.1"], false), &ours.pem).await;
    let err = connect(&addr, &expired)
        .await
        .expect_err("an expired client certificate passed");
    assert!(
        err.contains("the client certificate") && err.contains("expired-cert.pem\" expired on"),
        "{err}"
    );
    assert!(
        rx.try_recv().is_err(),
        "the listener saw a handshake with an expired certificate"
    );

    // 3b. A client certificate the engine does not trust (signed by
    //     another CA): the engine refuses it, and the message names the
    //     client certificate, not the engine's.
    let (foreign_cert, foreign_key) = leaf(&public, &["shipdeck-client"], false);
    let foreign = TlsFiles {
        cert: write(d, "foreign-cert.pem", &foreign_cert),
        key: write(d, "foreign-key.pem", &foreign_key),
        ..tls.clone()
    };
    let err = connect(&addr, &foreign)
        .await
        .expect_err("a client certificate of another CA passed");
    assert!(
        err.contains("did not accept the client certificate") && err.contains("foreign-cert.pem"),
        "{err}"
    );
    let seen = server_saw(&mut rx)
        .await
        .expect_err("the server took a certificate of another CA");
    assert!(seen.to_lowercase().contains("unknown"), "{seen}");

    // 4. Everything right: the handshake completes (the listener is no
    //    engine, so the call after it fails, and not as a TLS refusal).
    let (addr, mut rx) = listener(leaf(&ours, &["127.0.0.1"], false), &ours.pem).await;
    let err = connect(&addr, &tls)
        .await
        .expect_err("the listener is not an engine");
    assert!(
        !err.contains("TLS"),
        "a good certificate was refused: {err}"
    );
    assert_eq!(server_saw(&mut rx).await, Ok(()));

    // 5. A CA file without a certificate: said before any connection.
    let empty = TlsFiles {
        ca: write(d, "empty.pem", "not a certificate\n"),
        ..tls.clone()
    };
    let err = connect(&addr, &empty)
        .await
        .expect_err("an empty CA file passed");
    assert!(
        err.contains("holds no PEM certificate") && err.contains("empty.pem"),
        "{err}"
    );
}
