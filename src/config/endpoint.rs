//! Parsing Docker endpoints (`unix://`, `tcp://`, `ssh://`) and registry URLs.
//! Pure string checks: TLS files are attached and checked by the validator.

use std::path::PathBuf;

use super::model::Endpoint;
use super::values::{Problem, problem};

const ENDPOINT_FORMS: &str = "use unix:///path/to/docker.sock, tcp://HOST:PORT (add tls = { ca, cert, key } for TLS) or ssh://[USER@]HOST[:PORT]";

/// Parses an endpoint; a `tcp://` endpoint comes back without TLS.
pub(crate) fn parse_endpoint(s: &str) -> Result<Endpoint, Problem> {
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(problem(
            "no scheme (unix://, tcp:// or ssh://)",
            ENDPOINT_FORMS,
        ));
    };
    match scheme {
        "unix" => {
            if rest.is_empty() {
                return Err(problem(
                    "empty socket path",
                    "write unix:///var/run/docker.sock (three slashes: the path is absolute)",
                ));
            }
            if !rest.starts_with('/') {
                return Err(problem(
                    format!("socket path {rest:?} is not absolute"),
                    "write unix:///var/run/docker.sock (three slashes: the path is absolute)",
                ));
            }
            Ok(Endpoint::Unix {
                path: PathBuf::from(rest),
            })
        }
        "tcp" => {
            let hostport = rest.strip_suffix('/').unwrap_or(rest);
            let hint = "write tcp://HOST:PORT, e.g. tcp://10.0.0.5:2375 (2376 with TLS)";
            if hostport.contains('/') {
                return Err(problem("a tcp endpoint has no path", hint));
            }
            let (host, port) = split_host_port(hostport).map_err(|p| problem(p, hint))?;
            if host.is_empty() {
                return Err(problem("no host in tcp endpoint", hint));
            }
            match port {
                None => Err(problem("no port in tcp endpoint", hint)),
                Some(p) => {
                    check_port(p).map_err(|p| problem(p, hint))?;
                    Ok(Endpoint::Tcp {
                        addr: hostport.to_string(),
                        tls: None,
                    })
                }
            }
        }
        "ssh" => {
            let hint = "write ssh://[USER@]HOST[:PORT], e.g. ssh://deploy@10.0.0.9";
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            let hostport = match rest.rsplit_once('@') {
                Some(("", _)) => return Err(problem("empty user before '@'", hint)),
                Some((_, hp)) => hp,
                None => rest,
            };
            if hostport.contains('/') {
                return Err(problem("an ssh endpoint has no path", hint));
            }
            let (host, port) = split_host_port(hostport).map_err(|p| problem(p, hint))?;
            if host.is_empty() {
                return Err(problem("no host in ssh endpoint", hint));
            }
            if let Some(p) = port {
                check_port(p).map_err(|p| problem(p, hint))?;
            }
            Ok(Endpoint::Ssh {
                url: format!("ssh://{rest}"),
                ssh: Default::default(),
            })
        }
        "http" | "https" => Err(problem(
            format!("{scheme}:// is not a Docker endpoint scheme"),
            format!("for the Docker API over TCP write tcp://HOST:PORT; {ENDPOINT_FORMS}"),
        )),
        other => Err(problem(
            format!("unknown endpoint scheme {other:?}"),
            ENDPOINT_FORMS,
        )),
    }
}

/// `host:port`, `host`, `[v6]:port` → (host, port text).
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("unclosed '[' in an IPv6 address".into());
        };
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(format!("unexpected {after:?} after the address")),
        };
    }
    Ok(match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    })
}

fn check_port(p: &str) -> Result<(), String> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(()),
        _ if p.is_empty() => Err("empty port".into()),
        _ if p.chars().all(|c| c.is_ascii_digit()) => {
            Err(format!("port {p} is out of range 1-65535"))
        }
        _ => Err(format!("port {p:?} is not a number")),
    }
}

/// A registry base URL: `http://` or `https://` with a host.
pub(crate) fn check_registry_url(s: &str) -> Result<(), Problem> {
    let hint = "write the registry's base URL, e.g. \"https://harbor.example.com\" or \"http://10.213.0.1:5000\"";
    let rest = match s.split_once("://") {
        Some(("http" | "https", rest)) => rest,
        Some((scheme, _)) => {
            return Err(problem(
                format!("unsupported scheme {scheme:?} (http or https)"),
                hint,
            ));
        }
        None => return Err(problem("no scheme (http:// or https://)", hint)),
    };
    let hostport = rest.split('/').next().unwrap_or_default();
    let (host, port) = split_host_port(hostport).map_err(|p| problem(p, hint))?;
    if host.is_empty() {
        return Err(problem("no host in the URL", hint));
    }
    if let Some(p) = port {
        check_port(p).map_err(|p| problem(p, hint))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Endpoint {
        match parse_endpoint(s) {
            Ok(e) => e,
            Err(p) => unreachable!("{s}: {p:?}"),
        }
    }

    fn err(s: &str) -> String {
        match parse_endpoint(s) {
            Ok(e) => unreachable!("{s} parsed as {e:?}"),
            Err(p) => p.problem,
        }
    }

    #[test]
    fn good_endpoints() {
        assert_eq!(
            ok("unix:///var/run/docker.sock"),
            Endpoint::Unix {
                path: "/var/run/docker.sock".into()
            }
        );
        assert_eq!(
            ok("tcp://10.0.0.5:2375"),
            Endpoint::Tcp {
                addr: "10.0.0.5:2375".into(),
                tls: None
            }
        );
        assert_eq!(
            ok("tcp://edge-01.example.com:2376/"),
            Endpoint::Tcp {
                addr: "edge-01.example.com:2376".into(),
                tls: None
            }
        );
        assert_eq!(
            ok("tcp://[::1]:2375"),
            Endpoint::Tcp {
                addr: "[::1]:2375".into(),
                tls: None
            }
        );
        assert_eq!(
            ok("ssh://deploy@10.0.0.9"),
            Endpoint::Ssh {
                url: "ssh://deploy@10.0.0.9".into(),
                ssh: Default::default(),
            }
        );
        assert_eq!(
            ok("ssh://10.0.0.9:2222"),
            Endpoint::Ssh {
                url: "ssh://10.0.0.9:2222".into(),
                ssh: Default::default(),
            }
        );
    }

    #[test]
    fn bad_endpoints() {
        assert_eq!(err("htp://10.0.0.1"), "unknown endpoint scheme \"htp\"");
        assert_eq!(
            err("10.0.0.1:2375"),
            "no scheme (unix://, tcp:// or ssh://)"
        );
        assert_eq!(err("unix://"), "empty socket path");
        assert!(err("unix://run/docker.sock").contains("not absolute"));
        assert_eq!(err("tcp://10.0.0.5"), "no port in tcp endpoint");
        assert_eq!(err("tcp://:2375"), "no host in tcp endpoint");
        assert_eq!(
            err("tcp://10.0.0.5:docker"),
            "port \"docker\" is not a number"
        );
        assert_eq!(
            err("tcp://10.0.0.5:70000"),
            "port 70000 is out of range 1-65535"
        );
        assert_eq!(err("tcp://10.0.0.5:"), "empty port");
        assert_eq!(
            err("tcp://10.0.0.5:2375/v1.41"),
            "a tcp endpoint has no path"
        );
        assert_eq!(err("ssh://"), "no host in ssh endpoint");
        assert_eq!(err("ssh://deploy@"), "no host in ssh endpoint");
        assert_eq!(err("ssh://@host"), "empty user before '@'");
        assert!(err("https://10.0.0.1:2376").contains("not a Docker endpoint scheme"));
    }

    #[test]
    fn registry_urls() {
        assert_eq!(check_registry_url("http://10.213.0.1:5000"), Ok(()));
        assert_eq!(check_registry_url("https://harbor.example.com/"), Ok(()));
        assert!(check_registry_url("10.213.0.1:5000").is_err());
        assert!(check_registry_url("ftp://x").is_err());
        assert!(check_registry_url("https://").is_err());
        assert!(check_registry_url("http://h:port").is_err());
    }
}
