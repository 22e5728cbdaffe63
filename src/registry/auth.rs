//! Registry auth pieces that need no network: parsing `WWW-Authenticate`
//! challenges, the token service's answer, and what the client sends up
//! front once a challenge was answered. Tokens live in [`Secret`]s only.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use serde::Deserialize;

use crate::config::Secret;

/// One parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// `Basic realm="…"`: send the user name and password.
    Basic,
    /// `Bearer realm="…",service="…",scope="…"`: get a token from `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
        /// `insufficient_scope` and friends, when the registry says why.
        error: Option<String>,
    },
}

impl Challenge {
    /// The token cache key: the scope (empty when the challenge has none).
    pub(crate) fn scope_key(&self) -> &str {
        match self {
            Challenge::Bearer { scope, .. } => scope.as_deref().unwrap_or(""),
            Challenge::Basic => "",
        }
    }
}

/// The challenge to answer from all `WWW-Authenticate` headers of a 401:
/// the first Bearer one, else Basic, else `None`.
pub(crate) fn challenge(headers: &HeaderMap) -> Option<Challenge> {
    let all: Vec<Challenge> = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect();
    let bearer = all
        .iter()
        .find(|c| matches!(c, Challenge::Bearer { .. }))
        .cloned();
    bearer.or_else(|| all.into_iter().find(|c| *c == Challenge::Basic))
}

/// Parses a `WWW-Authenticate` value (RFC 7235: one or more challenges,
/// `scheme param=value, param="quoted, value"`). Unknown schemes and a Bearer
/// challenge without a realm are left out.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip(|c| c == b',' || c.is_ascii_whitespace());
        let Some(scheme) = p.token() else { break };
        let mut params: HashMap<String, String> = HashMap::new();
        loop {
            p.skip(|c| c == b',' || c.is_ascii_whitespace());
            let start = p.i;
            let Some(name) = p.token() else { break };
            p.skip(|c| c == b' ' || c == b'\t');
            if p.peek() != Some(b'=') {
                // Not `name=`: the next challenge's scheme.
                p.i = start;
                break;
            }
            p.i += 1;
            p.skip(|c| c == b' ' || c == b'\t');
            let value = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.token().unwrap_or_default()
            };
            params.insert(name.to_ascii_lowercase(), value);
        }
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => out.push(Challenge::Basic),
            "bearer" => {
                if let Some(realm) = params.remove("realm") {
                    out.push(Challenge::Bearer {
                        realm,
                        service: params.remove("service"),
                        scope: params.remove("scope"),
                        error: params.remove("error"),
                    });
                }
            }
            _ => {}
        }
        if p.peek().is_none() {
            break;
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
    }

    /// An RFC 7230 token (plus `/` and `=`-free token68 characters).
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        self.skip(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c));
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// A quoted string starting at `"`, with `\` escapes.
    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The token service's answer: Distribution and Harbor send `token`, OAuth2
/// style services `access_token`; some send both (the same value).
#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

/// The token in a token service's JSON answer, or why there is none (the
/// reason never includes the body, which holds the token).
pub(crate) fn token_from(body: &[u8]) -> Result<Secret, String> {
    let answer: TokenAnswer =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON ({e})"))?;
    answer
        .token
        .filter(|t| !t.is_empty())
        .or(answer.access_token.filter(|t| !t.is_empty()))
        .map(Secret::new)
        .ok_or_else(|| "the answer has neither `token` nor `access_token`".to_string())
}

/// What a request carries up front.
#[derive(Debug, Clone, Default)]
pub(crate) enum Sent {
    #[default]
    Anonymous,
    Basic,
    Bearer(Secret),
}

/// Per-client auth memory: once a registry asked for Basic, or a token was
/// fetched for a scope, later requests send it up front; tokens are kept per
/// scope for the client's life (and replaced when the registry rejects one).
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    mode: Mode,
    tokens: HashMap<String, Secret>,
}

#[derive(Debug, Clone, Default)]
enum Mode {
    #[default]
    Anonymous,
    Basic,
    Bearer {
        scope: String,
    },
}

impl AuthState {
    /// What the next request sends.
    pub(crate) fn current(&self) -> Sent {
        match &self.mode {
            Mode::Anonymous => Sent::Anonymous,
            Mode::Basic => Sent::Basic,
            Mode::Bearer { scope } => match self.tokens.get(scope) {
                Some(token) => Sent::Bearer(token.clone()),
                None => Sent::Anonymous,
            },
        }
    }

    pub(crate) fn use_basic(&mut self) {
        self.mode = Mode::Basic;
    }

    /// A cached token for `scope` other than the one just rejected.
    pub(crate) fn cached(&self, scope: &str, rejected: &Sent) -> Option<Secret> {
        let token = self.tokens.get(scope)?;
        match rejected {
            Sent::Bearer(bad) if bad == token => None,
            _ => Some(token.clone()),
        }
    }

    /// Remember `token` for `scope` and send it from now on.
    pub(crate) fn use_token(&mut self, scope: &str, token: Secret) {
        self.tokens.insert(scope.to_string(), token);
        self.mode = Mode::Bearer {
            scope: scope.to_string(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
            scope: scope.map(Into::into),
            error: None,
        }
    }

    #[test]
    fn parses_distribution_and_harbor_bearer_challenges() {
        assert_eq!(
            parse_challenges(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#
            ),
            vec![bearer(
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                Some("repository:samalba/my-app:pull,push")
            )]
        );
        assert_eq!(
            parse_challenges(
                r#"Bearer realm="https://harbor.example.com/service/token", service="harbor-registry", scope="repository:lib/web:pull""#
            ),
            vec![bearer(
                "https://harbor.example.com/service/token",
                Some("harbor-registry"),
                Some("repository:lib/web:pull")
            )]
        );
        // The /v2/ base challenge has no scope; `error` is kept.
        assert_eq!(
            parse_challenges(
                r#"bearer realm="http://127.0.0.1:1/token",service="svc",error="insufficient_scope""#
            ),
            vec![Challenge::Bearer {
                realm: "http://127.0.0.1:1/token".into(),
                service: Some("svc".into()),
                scope: None,
                error: Some("insufficient_scope".into()),
            }]
        );
    }

    #[test]
    fn parses_basic_unquoted_values_escapes_and_several_challenges() {
        assert_eq!(
            parse_challenges(r#"Basic realm="shipdeck-sandbox""#),
            vec![Challenge::Basic]
        );
        assert_eq!(
            parse_challenges(r#"Bearer realm=http://a/token , service=reg"#),
            vec![bearer("http://a/token", Some("reg"), None)]
        );
        assert_eq!(
            parse_challenges(r#"Bearer realm="http://a/t\"x", scope="s""#),
            vec![bearer("http://a/t\"x", None, Some("s"))]
        );
        assert_eq!(
            parse_challenges(
                r#"Negotiate abc, Basic realm="r", Bearer realm="http://a/t",scope="x""#
            ),
            vec![Challenge::Basic, bearer("http://a/t", None, Some("x"))]
        );
        // A bearer challenge without a realm cannot be answered.
        assert_eq!(parse_challenges(r#"Bearer service="x""#), vec![]);
        assert_eq!(parse_challenges(""), vec![]);
        assert_eq!(parse_challenges("   ,, "), vec![]);
    }

    #[test]
    fn header_map_prefers_bearer() {
        let mut h = HeaderMap::new();
        h.append(
            WWW_AUTHENTICATE,
            "Basic realm=\"x\""
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(challenge(&h), Some(Challenge::Basic));
        h.append(
            WWW_AUTHENTICATE,
            "Bearer realm=\"http://a/t\""
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(challenge(&h), Some(bearer("http://a/t", None, None)));
        assert_eq!(challenge(&HeaderMap::new()), None);
    }

    #[test]
    fn token_answer_takes_token_then_access_token_and_never_echoes_the_body() {
        let t = token_from(br#"{"token":"abc","expires_in":60}"#).map(|s| s.expose().to_string());
        assert_eq!(t, Ok("abc".into()));
        let t = token_from(br#"{"access_token":"xyz"}"#).map(|s| s.expose().to_string());
        assert_eq!(t, Ok("xyz".into()));
        let t = token_from(br#"{"token":"","access_token":"xyz"}"#).map(|s| s.expose().to_string());
        assert_eq!(t, Ok("xyz".into()));
        let err = token_from(br#"{"tokn":"leaky-value"}"#)
            .err()
            .unwrap_or_default();
        assert!(err.contains("neither"), "{err}");
        assert!(!err.contains("leaky-value"));
        let err = token_from(b"leaky-value").err().unwrap_or_default();
        assert!(!err.contains("leaky-value"), "{err}");
    }

    #[test]
    fn tokens_are_cached_per_scope_and_a_rejected_one_is_not_reused() {
        let mut a = AuthState::default();
        assert!(matches!(a.current(), Sent::Anonymous));
        a.use_token("repository:x:pull", Secret::new("t1".into()));
        let sent = a.current();
        assert!(matches!(&sent, Sent::Bearer(token) if token.expose() == "t1"));
        assert_eq!(
            a.cached("repository:x:pull", &Sent::Anonymous),
            Some(Secret::new("t1".into()))
        );
        assert_eq!(a.cached("repository:x:pull", &sent), None);
        assert_eq!(a.cached("repository:y:pull", &Sent::Anonymous), None);
        // Debug output of the state shows no token.
        assert!(!format!("{a:?}").contains("t1"));
        a.use_basic();
        assert!(matches!(a.current(), Sent::Basic));
    }
}
