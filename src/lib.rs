//! shipdeck: a terminal operations console that ships Docker images to fleets
//! of plain Docker hosts. The binary (`main.rs`) is a thin shell over this library.

pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod domain;
pub mod engine;
pub mod health;
pub mod image;
pub mod paths;
pub mod registry;
pub mod rollout;
pub mod theme;
pub mod ui;

/// Both bollard (ring) and reqwest use rustls: install one process-wide crypto
/// provider before the first TLS client is built. Idempotent.
pub fn ensure_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
