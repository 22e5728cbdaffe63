//! Registry v2 documents that need no network: manifests and indexes (which
//! config blob, which platform), image configs (`created`), `Link`
//! pagination, content digests, references, and the newest-first tag order.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::TagInfo;

/// The manifest types `tags` understands, for the `Accept` header.
pub(crate) const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.index.v1+json";

/// A parsed manifest, as far as `tags` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Manifest {
    /// One image: its config blob and total size (config + layers).
    Image { config: String, size: u64 },
    /// A manifest list / OCI index: the image picked for linux/amd64 (else
    /// the first entry), by digest.
    Index { pick: Option<String> },
    /// Anything else (schema 1, artifacts without a config).
    Other,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    #[serde(default)]
    size: u64,
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct RawManifest {
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    manifests: Option<Vec<Descriptor>>,
}

/// Parses a manifest body. An index is recognised by its `manifests` list
/// (the content type is not always set on OCI indexes).
pub(crate) fn parse(body: &[u8]) -> Result<Manifest, String> {
    let raw: RawManifest =
        serde_json::from_slice(body).map_err(|e| format!("the manifest is not JSON ({e})"))?;
    if let Some(list) = raw.manifests {
        let amd64 = list.iter().find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        });
        let pick = amd64.or(list.first()).map(|d| d.digest.clone());
        return Ok(Manifest::Index { pick });
    }
    Ok(match raw.config {
        Some(config) => Manifest::Image {
            size: raw
                .layers
                .iter()
                .fold(config.size, |n, l| n.saturating_add(l.size)),
            config: config.digest,
        },
        None => Manifest::Other,
    })
}

#[derive(Deserialize)]
struct ImageConfig {
    created: Option<String>,
}

/// The `created` time of an image config blob (`None` when absent or not RFC 3339).
pub(crate) fn created(body: &[u8]) -> Result<Option<DateTime<Utc>>, String> {
    let c: ImageConfig =
        serde_json::from_slice(body).map_err(|e| format!("the image config is not JSON ({e})"))?;
    Ok(c.created.and_then(|s| {
        DateTime::parse_from_rfc3339(&s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }))
}

/// The target of `rel="next"` in a `Link` header (`</v2/x/tags/list?last=a&n=2>; rel="next"`).
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        (is_next && !target.is_empty()).then(|| target.to_string())
    })
}

/// `sha256:<hex>` of `body`. SHA-256 comes from ring through rustls (already
/// linked for TLS), so no extra hashing crate is needed.
pub(crate) fn sha256_digest(body: &[u8]) -> Option<String> {
    use rustls::crypto::hash::HashAlgorithm;
    let rustls::SupportedCipherSuite::Tls13(suite) =
        rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
    else {
        return None;
    };
    let hash = suite.common.hash_provider;
    if hash.algorithm() != HashAlgorithm::SHA256 {
        return None;
    }
    let out = hash.hash(body);
    let hex: String = out.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("sha256:{hex}"))
}

/// A tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) or a digest (`algo:hex`):
/// nothing that could change the request path.
pub(crate) fn valid_reference(r: &str) -> bool {
    let tag = r.len() <= 128
        && r.bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        && r.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c));
    let digest = r.split_once(':').is_some_and(|(algo, hex)| {
        !algo.is_empty()
            && algo
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+._-".contains(&c))
            && hex.len() >= 32
            && hex.bytes().all(|c| c.is_ascii_hexdigit())
    });
    tag || digest
}

/// Newest first; unknown creation times last; ties by tag name.
pub(crate) fn sort_newest_first(tags: &mut [TagInfo]) {
    tags.sort_by(|a, b| match (a.created, b.created) {
        (Some(x), Some(y)) => y.cmp(&x).then_with(|| a.tag.cmp(&b.tag)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.tag.cmp(&b.tag),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_manifest_gives_config_and_total_size() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":"sha256:aa"},
            "layers":[{"size":100,"digest":"sha256:bb"},{"size":20,"digest":"sha256:cc"}]}"#;
        assert_eq!(
            parse(body),
            Ok(Manifest::Image {
                config: "sha256:aa".into(),
                size: 1589
            })
        );
    }

    #[test]
    fn index_picks_linux_amd64_else_the_first() {
        let body = br#"{"schemaVersion":2,"manifests":[
            {"digest":"sha256:arm","size":1,"platform":{"architecture":"arm64","os":"linux"}},
            {"digest":"sha256:amd","size":1,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
        assert_eq!(
            parse(body),
            Ok(Manifest::Index {
                pick: Some("sha256:amd".into())
            })
        );
        let body = br#"{"manifests":[{"digest":"sha256:one","size":1,"platform":{"architecture":"s390x","os":"linux"}},
            {"digest":"sha256:two","size":1}]}"#;
        assert_eq!(
            parse(body),
            Ok(Manifest::Index {
                pick: Some("sha256:one".into())
            })
        );
        assert_eq!(
            parse(br#"{"manifests":[]}"#),
            Ok(Manifest::Index { pick: None })
        );
        assert_eq!(
            parse(br#"{"schemaVersion":1,"fsLayers":[]}"#),
            Ok(Manifest::Other)
        );
        assert!(parse(b"<html>").is_err());
    }

    #[test]
    fn created_reads_rfc3339_with_nanoseconds() {
        let t = created(br#"{"created":"2025-11-22T02:07:33.123456789Z","os":"linux"}"#);
        assert_eq!(
            t.map(|t| t.map(|t| t.to_rfc3339())),
            Ok(Some("2025-11-22T02:07:33.123456789+00:00".into()))
        );
        assert_eq!(created(br#"{"os":"linux"}"#), Ok(None));
        assert_eq!(created(br#"{"created":"yesterday"}"#), Ok(None));
    }

    #[test]
    fn link_header_next() {
        assert_eq!(
            next_link(r#"</v2/demo/web/tags/list?last=v2&n=2>; rel="next""#),
            Some("/v2/demo/web/tags/list?last=v2&n=2".into())
        );
        assert_eq!(
            next_link(r#"<https://a/x?y=1>; rel="prev", <https://a/x?y=2>; rel=next"#),
            Some("https://a/x?y=2".into())
        );
        assert_eq!(next_link(r#"</v2/x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_digest(b"abc").as_deref(),
            Some("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn references_are_tags_or_digests_only() {
        for ok in [
            "v1",
            "v4-slow",
            "1.2.3_rc.1",
            "_x",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ] {
            assert!(valid_reference(ok), "{ok}");
        }
        for bad in [
            "",
            "-v",
            ".v",
            "../x",
            "a/b",
            "v 1",
            "a?b",
            "sha256:zz",
            &"x".repeat(129),
        ] {
            assert!(!valid_reference(bad), "{bad}");
        }
    }

    #[test]
    fn sorts_newest_first_unknown_last_then_by_tag() {
        let t = |tag: &str, secs: Option<i64>| TagInfo {
            tag: tag.into(),
            digest: None,
            created: secs.and_then(|s| DateTime::from_timestamp(s, 0)),
            size: None,
        };
        let mut v = vec![
            t("old", Some(10)),
            t("zz-unknown", None),
            t("b-new", Some(20)),
            t("a-new", Some(20)),
            t("a-unknown", None),
        ];
        sort_newest_first(&mut v);
        let order: Vec<&str> = v.iter().map(|t| t.tag.as_str()).collect();
        assert_eq!(order, ["a-new", "b-new", "old", "a-unknown", "zz-unknown"]);
    }
}
