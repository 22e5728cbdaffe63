//! The inventories shipped in `config/` load without errors and mean what
//! their comments say.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use shipdeck::config::{self, Endpoint, FailureAction, MaxUnavailable, NetworkMode, SecretRef};

#[test]
fn example_inventory_loads() {
    // Its secrets are `file:` references to placeholder files shipped in
    // config/example-secrets/, so no environment variable needs to be set.
    let path = Path::new("config/example.toml");
    let cfg = config::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.path, path);

    let envs: Vec<&str> = cfg.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(envs, ["dev", "test", "staging", "prod"]);
    let prod = cfg.environment("prod").unwrap();
    assert!(prod.confirm);
    assert_eq!(prod.require_promotion_from.as_deref(), Some("staging"));
    assert_eq!(prod.accent.as_deref(), Some("red"));

    let projects: Vec<&str> = cfg.projects.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(projects, ["storefront", "checkout-api", "edge-static"]);
    let storefront = cfg.project("storefront").unwrap();
    assert_eq!(storefront.hosts_in("prod").len(), 28);
    assert_eq!(
        storefront.rollout.max_unavailable,
        MaxUnavailable::Percent(12)
    );
    assert_eq!(storefront.rollout.canary_wait_secs, Some(300));
    assert_eq!(storefront.health.start_period_ms, 60_000);
    assert_eq!(storefront.container.network, NetworkMode::Bridge);
    let checkout = cfg.project("checkout-api").unwrap();
    assert_eq!(checkout.rollout.failure_action, FailureAction::Pause);
    assert_eq!(checkout.container.secret_env.len(), 2);

    // Every kind of endpoint is shown, and TLS files resolve next to the file.
    let kinds = |f: fn(&Endpoint) -> bool| cfg.hosts.iter().filter(|h| f(&h.endpoint)).count();
    assert!(kinds(|e| matches!(e, Endpoint::Unix { .. })) >= 1);
    assert!(kinds(|e| matches!(e, Endpoint::Ssh { .. })) >= 1);
    assert!(kinds(|e| matches!(e, Endpoint::Tcp { tls: None, .. })) >= 1);
    assert!(kinds(|e| matches!(e, Endpoint::Tcp { tls: Some(_), .. })) >= 28);
    for h in &cfg.hosts {
        if let Endpoint::Tcp { tls: Some(tls), .. } = &h.endpoint {
            assert!(
                tls.ca.starts_with("config/example-secrets/tls"),
                "{:?}",
                tls.ca
            );
            assert!(tls.ca.is_file() && tls.cert.is_file() && tls.key.is_file());
        }
    }

    // The registry password is a reference that resolves (to a placeholder).
    let harbor = cfg.registries.iter().find(|r| r.name == "harbor").unwrap();
    let Some(password @ SecretRef::File(_)) = &harbor.password else {
        panic!("harbor's password should be a file: reference");
    };
    assert!(
        password
            .resolve()
            .unwrap()
            .expose()
            .starts_with("PLACEHOLDER")
    );
}

#[test]
fn sandbox_inventory_loads() {
    // Written alongside `scripts/sandbox`; it must always be valid.
    let path = Path::new("config/sandbox.toml");
    let cfg = config::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!cfg.environments.is_empty());
    assert!(!cfg.hosts.is_empty());
    assert!(!cfg.projects.is_empty());
}
