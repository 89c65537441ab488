//! Deny-by-default sandboxing: what a connector may reach, computed from
//! its manifest and the pipeline config, and the WASI context granting
//! exactly that.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use crate::registry::manifest::{FsAccess, Manifest};

/// What one connector instance is granted.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// The one directory it may use (host path, also its guest path).
    pub dir: Option<(PathBuf, FsAccess)>,
    /// The TCP endpoints it may connect to.
    pub endpoints: Vec<SocketAddr>,
    /// The host names it was granted (lower case), the only names its name
    /// lookups may ask about, with the addresses they resolved to when the
    /// grant was built: the answers its lookups get. IP literals need no
    /// lookup.
    pub names: HashMap<String, Vec<IpAddr>>,
    /// The config to pass it, with the directory rewritten to its absolute
    /// path.
    pub config: serde_json::Value,
    /// What its HTTP requests (`wasi:http`) may reach.
    pub http: HttpGrant,
    /// Socket operations and HTTP requests the sandbox refused, counted
    /// across every instance sharing this grant (clones share the counter).
    pub denied: Arc<AtomicU64>,
}

/// The HTTP part of a grant: the granted endpoints, each reached only at
/// the addresses resolved when the grant was built.
#[derive(Debug, Clone, Default)]
pub struct HttpGrant {
    /// The endpoints requests may go to.
    pub hosts: Vec<HttpHost>,
    /// Extra CA certificates (DER) that HTTPS trusts besides the public
    /// web roots, from the config key the manifest's `ca_key` names.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Where `extra_roots` came from, for messages (`source.config.ca_bundle`).
    pub extra_roots_from: String,
}

/// One granted HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHost {
    /// Host name (lower case) or IP literal, as requests name it.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Only `https` requests may go there.
    pub https_only: bool,
    /// The addresses the host name resolved to when the grant was built.
    pub addrs: Vec<SocketAddr>,
}

/// Computes the grant. `at` is the config's key path for messages
/// (`source.config`); relative directories resolve against `project_dir`.
pub fn grant(
    manifest: &Manifest,
    config: &serde_json::Value,
    at: &str,
    project_dir: &Path,
) -> Result<Grant, String> {
    let mut config = config.clone();
    let mut out = Grant::default();
    if let Some(fs) = &manifest.capabilities.filesystem {
        let named = config.get(&fs.config_key).cloned();
        let raw = match named {
            Some(serde_json::Value::String(s)) => s,
            Some(other) => {
                return Err(format!(
                    "`{at}.{}`: expected a directory path, got {other}",
                    fs.config_key
                ))
            }
            None => fs.default.clone().ok_or_else(|| {
                format!(
                    "`{at}.{}`: missing; connector `{}` needs a directory",
                    fs.config_key, manifest.name
                )
            })?,
        };
        let path = if Path::new(&raw).is_absolute() {
            PathBuf::from(&raw)
        } else {
            project_dir.join(&raw)
        };
        if fs.access == FsAccess::ReadWrite {
            std::fs::create_dir_all(&path).map_err(|e| {
                format!(
                    "`{at}.{}`: cannot create directory {}: {e}",
                    fs.config_key,
                    path.display()
                )
            })?;
        }
        let path = path.canonicalize().map_err(|e| {
            format!(
                "`{at}.{}`: directory {} is not usable: {e}",
                fs.config_key,
                path.display()
            )
        })?;
        if !path.is_dir() {
            return Err(format!(
                "`{at}.{}`: {} is not a directory",
                fs.config_key,
                path.display()
            ));
        }
        if fs.access == FsAccess::ReadWrite && on_read_only_fs(&path) {
            return Err(format!(
                "`{at}.{}`: directory {} is on a read-only file system; connector `{}` writes there, so name a writable directory (or remount this one read-write)",
                fs.config_key,
                path.display(),
                manifest.name
            ));
        }
        if let Some(obj) = config.as_object_mut() {
            obj.insert(
                fs.config_key.clone(),
                serde_json::Value::String(path.display().to_string()),
            );
        }
        out.dir = Some((path, fs.access));
    }
    if let Some(net) = &manifest.capabilities.network {
        // (host, port, where it came from, https only)
        let mut wanted: Vec<(String, u16, String, bool)> = net
            .allowed_hosts
            .iter()
            .map(|h| {
                (
                    h.host.clone(),
                    h.port,
                    "capabilities.network.allowed_hosts".to_string(),
                    h.tls.as_deref() == Some("required"),
                )
            })
            .collect();
        let tls_required = net.tls.as_deref() == Some("required");
        if let (true, Some(url_key)) = (net.runtime_hosts, &net.url_key) {
            let (host, port) = url_endpoint(&config, url_key, at, &manifest.name, tls_required)?;
            wanted.push((host, port, format!("{at}.{url_key}"), tls_required));
            for key in &net.extra_url_keys {
                let mut parts = key.split('.');
                let first = parts.next().and_then(|k| config.get(k));
                let value = parts.fold(first, |v, k| v.and_then(|v| v.get(k)));
                let Some(value) = value.filter(|v| !v.is_null()) else {
                    continue;
                };
                // A path (no scheme) is under the base URL: already granted.
                if value.as_str().is_some_and(|u| !u.contains("://")) {
                    continue;
                }
                let one = serde_json::json!({ key.as_str(): value });
                let (host, port) = url_endpoint(&one, key, at, &manifest.name, tls_required)?;
                if !wanted
                    .iter()
                    .any(|(h, p, _, _)| h.eq_ignore_ascii_case(&host) && *p == port)
                {
                    wanted.push((host, port, format!("{at}.{key}"), tls_required));
                }
            }
        } else if net.runtime_hosts {
            let host = match config.get(&net.host_key) {
                Some(serde_json::Value::String(h)) if !h.is_empty() => h.clone(),
                _ => {
                    return Err(format!(
                        "`{at}.{}`: missing; connector `{}` connects to the host named there",
                        net.host_key, manifest.name
                    ))
                }
            };
            let port = match config.get(&net.port_key) {
                Some(serde_json::Value::Number(n)) => {
                    n.as_u64().and_then(|p| u16::try_from(p).ok())
                }
                Some(serde_json::Value::String(s)) => s.parse().ok(),
                None => net.default_port,
                _ => None,
            }
            .ok_or_else(|| format!("`{at}.{}`: expected a TCP port number", net.port_key))?;
            wanted.push((host, port, format!("{at}.{}", net.host_key), tls_required));
            if tls_required {
                require_tls(&config, &net.tls_key, at, &manifest.name)?;
            }
        }
        for (host, port, from, https_only) in wanted {
            let addrs: Vec<SocketAddr> = (host.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| format!("`{from}`: cannot resolve {host}:{port}: {e}"))?
                .collect();
            if host.parse::<IpAddr>().is_err() {
                let ips = out.names.entry(host.to_ascii_lowercase()).or_default();
                for a in &addrs {
                    if !ips.contains(&a.ip()) {
                        ips.push(a.ip());
                    }
                }
            }
            out.http.hosts.push(HttpHost {
                host: host.to_ascii_lowercase(),
                port,
                https_only,
                addrs: addrs.clone(),
            });
            out.endpoints.extend(addrs);
        }
    }
    for key in &manifest.capabilities.config_files {
        read_config_file(&mut config, key, at, project_dir)?;
    }
    if let Some(ca_key) = manifest
        .capabilities
        .network
        .as_ref()
        .and_then(|n| n.ca_key.as_ref())
    {
        match config.get(ca_key) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(pem)) => {
                let from = format!("{at}.{ca_key}");
                out.http.extra_roots = super::http_gate::parse_roots(pem, &from)?;
                out.http.extra_roots_from = from;
            }
            Some(other) => {
                return Err(format!(
                    "`{at}.{ca_key}`: expected PEM text or a file path, got {other}"
                ))
            }
        }
    }
    out.config = config;
    Ok(out)
}

/// The host and port of the URL under `key`, checked: `http` or `https`,
/// a host, and `https` when the manifest requires TLS.
fn url_endpoint(
    config: &serde_json::Value,
    key: &str,
    at: &str,
    connector: &str,
    tls_required: bool,
) -> Result<(String, u16), String> {
    let raw = match config.get(key) {
        Some(serde_json::Value::String(u)) if !u.trim().is_empty() => u.trim(),
        _ => {
            return Err(format!(
                "`{at}.{key}`: missing; connector `{connector}` sends its requests to the URL named there (e.g. https://api.example.com)"
            ))
        }
    };
    let uri: http::Uri = raw
        .parse()
        .map_err(|e| format!("`{at}.{key}`: `{raw}` is not a URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(format!(
                "`{at}.{key}`: `{raw}` must start with https:// (or http://)"
            ))
        }
    };
    if tls_required && !https {
        return Err(format!(
            "`{at}.{key}`: connector `{connector}` must use HTTPS (its manifest says `tls: required`), but `{raw}` is plain http; use https://"
        ));
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("`{at}.{key}`: `{raw}` names no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok((host.to_string(), port))
}

/// The connection modes that encrypt (libpq's `sslmode` words).
const ENCRYPTED_MODES: [&str; 3] = ["require", "verify-ca", "verify-full"];

/// Refuses a config that would connect without TLS to a connector whose
/// manifest requires it.
fn require_tls(
    config: &serde_json::Value,
    key: &str,
    at: &str,
    connector: &str,
) -> Result<(), String> {
    let mode = config.get(key).and_then(|v| v.as_str());
    if mode.is_some_and(|m| ENCRYPTED_MODES.contains(&m)) {
        return Ok(());
    }
    Err(format!(
        "`{at}.{key}`: connector `{connector}` must connect over TLS (its manifest says `tls: required`), but {}; set it to `require`, `verify-ca` or `verify-full`",
        match mode {
            Some(m) => format!("`{m}` allows plaintext"),
            None => "it is not set".to_string(),
        }
    ))
}

/// The most a file named by a `config_files` key may hold.
const MAX_CONFIG_FILE: u64 = 1 << 20;

/// Replaces the file path under `key` with the file's text; a value that
/// already is the text (several lines, or PEM) stays.
fn read_config_file(
    config: &mut serde_json::Value,
    key: &str,
    at: &str,
    project_dir: &Path,
) -> Result<(), String> {
    let Some(serde_json::Value::String(raw)) = config.get(key) else {
        return Ok(());
    };
    if raw.contains('\n') || raw.trim_start().starts_with("-----BEGIN") {
        return Ok(());
    }
    let path = if Path::new(raw).is_absolute() {
        PathBuf::from(raw)
    } else {
        project_dir.join(raw)
    };
    let cannot = |why: String| format!("`{at}.{key}`: cannot read {}: {why}", path.display());
    let size = std::fs::metadata(&path)
        .map_err(|e| cannot(e.to_string()))?
        .len();
    if size > MAX_CONFIG_FILE {
        return Err(cannot(format!(
            "it holds {size} bytes, more than the {MAX_CONFIG_FILE} a config file may"
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| cannot(e.to_string()))?;
    if let Some(obj) = config.as_object_mut() {
        obj.insert(key.to_string(), serde_json::Value::String(text));
    }
    Ok(())
}

/// Whether `dir` lies on a file system mounted read-only. WASI reports a
/// write there as a plain I/O error, so the host checks before it grants
/// write access.
fn on_read_only_fs(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized
    // out-parameter that statvfs fills; nothing is kept past the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    rc == 0 && (st.f_flag & libc::ST_RDONLY) != 0
}

/// Builds the WASI context for `grant`: no environment, no arguments, no
/// stdin, stdout discarded, stderr shared with the host, the one directory
/// preopened, and TCP connections only to the granted endpoints.
pub fn wasi_ctx(grant: &Grant) -> Result<WasiCtx, String> {
    Ok(wasi_builder(grant)?.build())
}

/// The builder behind [`wasi_ctx`], for callers that build a WASI
/// preview 1 context from it (the WasmEdge shim) or add to it.
pub fn wasi_builder(grant: &Grant) -> Result<WasiCtxBuilder, String> {
    let mut b = WasiCtxBuilder::new();
    b.inherit_stderr();
    if let Some((dir, access)) = &grant.dir {
        let perms = match access {
            FsAccess::Read => FsPerms::ReadOnly,
            FsAccess::ReadWrite => FsPerms::ReadWrite,
        };
        let guest = dir.display().to_string();
        b.preopened_dir(dir, &guest, perms)
            .map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
    }
    let allowed: Arc<HashSet<SocketAddr>> = Arc::new(grant.endpoints.iter().copied().collect());
    let any_network = !allowed.is_empty();
    // TCP stays on so that every attempt reaches the check below, which
    // refuses (and counts) all but the granted endpoints.
    b.allow_tcp(true);
    b.allow_udp(false);
    b.allow_ip_name_lookup(any_network);
    let denied = grant.denied.clone();
    b.socket_addr_check(move |addr, use_| {
        let ok = match use_ {
            // connect() binds implicitly to the wildcard address first.
            SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
            SocketAddrUse::TcpConnect => allowed.contains(&addr),
            _ => false,
        };
        if !ok {
            denied.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%addr, ?use_, "sandbox denied a socket operation");
        }
        Box::pin(async move { ok })
    });
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(caps: &str) -> Manifest {
        serde_norway::from_str(&format!(
            "name: c\nversion: 0.1.0\nwasm:\n  entrypoint: c.wasm\ncapabilities:\n{caps}"
        ))
        .unwrap()
    }

    #[test]
    fn nothing_declared_grants_nothing() {
        let m = manifest("  {}\n");
        let dir = tempfile::tempdir().unwrap();
        let g = grant(
            &m,
            &serde_json::json!({"path": "/etc", "host": "x"}),
            "source.config",
            dir.path(),
        )
        .unwrap();
        assert!(g.dir.is_none() && g.endpoints.is_empty());
    }

    #[test]
    fn the_named_directory_is_resolved_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let m = manifest("  filesystem:\n    config_key: path\n");
        let g = grant(
            &m,
            &serde_json::json!({"path": "data"}),
            "source.config",
            dir.path(),
        )
        .unwrap();
        let (granted, access) = g.dir.unwrap();
        assert_eq!(granted, dir.path().join("data").canonicalize().unwrap());
        assert_eq!(access, FsAccess::Read);
        assert_eq!(g.config["path"], granted.display().to_string());

        let err = grant(
            &m,
            &serde_json::json!({"path": "nope"}),
            "source.config",
            dir.path(),
        )
        .unwrap_err();
        assert!(
            err.contains("`source.config.path`") && err.contains("nope"),
            "{err}"
        );
        let err = grant(&m, &serde_json::json!({}), "source.config", dir.path()).unwrap_err();
        assert!(err.contains("missing"), "{err}");

        let rw = manifest(
            "  filesystem:\n    config_key: path\n    default: out/cache\n    access: read-write\n",
        );
        let g = grant(
            &rw,
            &serde_json::json!({}),
            "destination.config",
            dir.path(),
        )
        .unwrap();
        assert!(
            dir.path().join("out/cache").is_dir(),
            "read-write directories are created"
        );
        assert_eq!(g.dir.unwrap().1, FsAccess::ReadWrite);
    }

    #[test]
    fn runtime_hosts_grant_the_configured_endpoint_only() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest("  network:\n    runtime_hosts: true\n");
        let g = grant(
            &m,
            &serde_json::json!({"host": "127.0.0.1", "port": "5433"}),
            "source.config",
            dir.path(),
        )
        .unwrap();
        assert_eq!(g.endpoints, vec!["127.0.0.1:5433".parse().unwrap()]);
        let err = grant(
            &m,
            &serde_json::json!({"host": "127.0.0.1"}),
            "source.config",
            dir.path(),
        )
        .unwrap_err();
        assert!(err.contains("`source.config.port`"), "{err}");
        let fixed = manifest(
            "  network:\n    allowed_hosts:\n      - host: 127.0.0.1\n        port: 443\n",
        );
        let g = grant(&fixed, &serde_json::json!({}), "source.config", dir.path()).unwrap();
        assert_eq!(g.endpoints, vec!["127.0.0.1:443".parse().unwrap()]);
    }

    #[test]
    fn a_granted_name_carries_the_addresses_it_resolved_to() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest("  network:\n    runtime_hosts: true\n");
        let g = grant(
            &m,
            &serde_json::json!({"host": "LocalHost", "port": 5432}),
            "source.config",
            dir.path(),
        )
        .unwrap();
        let ips = &g.names["localhost"];
        assert!(ips.contains(&IpAddr::from([127, 0, 0, 1])), "{ips:?}");
        for ip in ips {
            assert!(g.endpoints.contains(&SocketAddr::new(*ip, 5432)));
        }
    }

    #[test]
    fn tls_required_refuses_modes_that_allow_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest("  network:\n    runtime_hosts: true\n    tls: required\n");
        let at = |mode: Option<&str>| {
            let mut c = serde_json::json!({"host": "127.0.0.1", "port": 5432});
            if let Some(mode) = mode {
                c["sslmode"] = mode.into();
            }
            grant(&m, &c, "source.config", dir.path())
        };
        for ok in ["require", "verify-ca", "verify-full"] {
            assert!(at(Some(ok)).is_ok(), "{ok}");
        }
        for weak in ["disable", "allow", "prefer"] {
            let err = at(Some(weak)).unwrap_err();
            assert!(
                err.contains("`source.config.sslmode`")
                    && err.contains(&format!("`{weak}` allows plaintext"))
                    && err.contains("tls: required"),
                "{err}"
            );
        }
        assert!(at(None).unwrap_err().contains("it is not set"));
    }

    #[test]
    fn a_base_url_grants_its_host_and_port_for_http() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(
            "  network:\n    runtime_hosts: true\n    url_key: base_url\n    tls: required\n",
        );
        let at = |url: serde_json::Value| {
            grant(
                &m,
                &serde_json::json!({ "base_url": url }),
                "source.config",
                dir.path(),
            )
        };
        let g = at("https://LOCALHOST/api/v3".into()).unwrap();
        assert_eq!(g.http.hosts.len(), 1);
        let h = &g.http.hosts[0];
        assert_eq!(
            (h.host.as_str(), h.port, h.https_only),
            ("localhost", 443, true)
        );
        assert!(h.addrs.contains(&"127.0.0.1:443".parse().unwrap()));
        assert!(g.names.contains_key("localhost"));
        let g = at("https://127.0.0.1:8443".into()).unwrap();
        assert_eq!(g.http.hosts[0].port, 8443);
        assert_eq!(g.endpoints, vec!["127.0.0.1:8443".parse().unwrap()]);

        let err = at("http://127.0.0.1:8080".into()).unwrap_err();
        assert!(
            err.contains("`source.config.base_url`") && err.contains("use https://"),
            "{err}"
        );
        let err = at("ftp://127.0.0.1".into()).unwrap_err();
        assert!(err.contains("must start with https://"), "{err}");
        let err = at(serde_json::Value::Null).unwrap_err();
        assert!(err.contains("`source.config.base_url`: missing"), "{err}");

        let open = manifest("  network:\n    runtime_hosts: true\n    url_key: base_url\n");
        let g = grant(
            &open,
            &serde_json::json!({"base_url": "http://127.0.0.1"}),
            "source.config",
            dir.path(),
        )
        .unwrap();
        assert_eq!(g.http.hosts[0].port, 80);
        assert!(!g.http.hosts[0].https_only);
    }

    #[test]
    fn extra_url_keys_grant_their_hosts_when_set() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(
            "  network:\n    runtime_hosts: true\n    url_key: base_url\n    extra_url_keys: [auth.token_url]\n    tls: required\n",
        );
        let g = grant(
            &m,
            &serde_json::json!({"base_url": "https://127.0.0.1:8443", "auth": {"token_url": "https://localhost:9443/token"}}),
            "source.config",
            dir.path(),
        )
        .unwrap();
        let ports: Vec<u16> = g.http.hosts.iter().map(|h| h.port).collect();
        assert_eq!(ports, vec![8443, 9443]);
        let g = grant(
            &m,
            &serde_json::json!({"base_url": "https://127.0.0.1:8443", "auth": {"type": "bearer"}}),
            "source.config",
            dir.path(),
        )
        .unwrap();
        assert_eq!(g.http.hosts.len(), 1);
        let g = grant(
            &m,
            &serde_json::json!({"base_url": "https://127.0.0.1:8443", "auth": {"token_url": "/oauth/token"}}),
            "source.config",
            dir.path(),
        )
        .unwrap();
        assert_eq!(g.http.hosts.len(), 1, "a path is under the base URL");
        let err = grant(
            &m,
            &serde_json::json!({"base_url": "https://127.0.0.1", "auth": {"token_url": "http://127.0.0.1/t"}}),
            "source.config",
            dir.path(),
        )
        .unwrap_err();
        assert!(err.contains("`source.config.auth.token_url`"), "{err}");
    }

    #[test]
    fn a_ca_bundle_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(
            "  network:\n    runtime_hosts: true\n    url_key: base_url\n    ca_key: ca_bundle\n  config_files: [ca_bundle]\n",
        );
        std::fs::write(dir.path().join("ca.pem"), "not a certificate\n").unwrap();
        let err = grant(
            &m,
            &serde_json::json!({"base_url": "https://127.0.0.1", "ca_bundle": "ca.pem"}),
            "source.config",
            dir.path(),
        )
        .unwrap_err();
        assert!(
            err.contains("`source.config.ca_bundle`") && err.contains("no certificate"),
            "{err}"
        );
        let g = grant(
            &m,
            &serde_json::json!({"base_url": "https://127.0.0.1"}),
            "source.config",
            dir.path(),
        )
        .unwrap();
        assert!(g.http.extra_roots.is_empty());
    }

    #[test]
    fn config_files_are_read_and_inline_text_passes() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest("  config_files: [sslrootcert]\n");
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
        let read = |v: &str| {
            grant(
                &m,
                &serde_json::json!({"sslrootcert": v}),
                "source.config",
                dir.path(),
            )
        };
        assert_eq!(read("ca.pem").unwrap().config["sslrootcert"], pem);
        let abs = dir.path().join("ca.pem").display().to_string();
        assert_eq!(read(&abs).unwrap().config["sslrootcert"], pem);
        assert_eq!(
            read(pem).unwrap().config["sslrootcert"],
            pem,
            "inline PEM stays"
        );
        let err = read("missing.pem").unwrap_err();
        assert!(
            err.contains("`source.config.sslrootcert`") && err.contains("missing.pem"),
            "{err}"
        );
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; (MAX_CONFIG_FILE + 1) as usize]).unwrap();
        assert!(read("big").unwrap_err().contains("more than"));
        let g = grant(&m, &serde_json::json!({}), "source.config", dir.path()).unwrap();
        assert!(g.config.get("sslrootcert").is_none(), "absent stays absent");
    }
}
