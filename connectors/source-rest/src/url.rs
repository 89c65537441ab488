//! The little URL handling a REST source needs: absolute `http(s)` URLs,
//! a stream path joined onto the base URL, query parameters added with
//! percent-encoding, and `Link` header targets resolved against the page
//! they came from.

use std::fmt;

/// An absolute `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https` (true) or `http`.
    pub https: bool,
    /// `host` or `host:port`, as written (lower-cased host).
    pub authority: String,
    /// Path (starting with `/`), without the query.
    pub path: String,
    /// The query, without `?`, already encoded (may be empty).
    pub query: String,
}

impl Url {
    /// Parses an absolute URL; the fragment is dropped.
    pub fn parse(raw: &str) -> Result<Url, String> {
        let raw = raw.trim();
        let (https, rest) = if let Some(r) = strip_prefix_ci(raw, "https://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(raw, "http://") {
            (false, r)
        } else {
            return Err(format!("`{raw}` is not an http(s) URL"));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path_query) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty()
            || authority.contains('@')
            || authority.contains(char::is_whitespace)
        {
            return Err(format!("`{raw}` names no usable host"));
        }
        let (path, query) = match path_query.split_once('?') {
            Some((p, q)) => (p, q),
            None => (path_query, ""),
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(Url {
            https,
            authority: lower_host(authority),
            path: path.to_string(),
            query: query.to_string(),
        })
    }

    /// The host without port or brackets.
    pub fn host(&self) -> &str {
        let a = self.authority.as_str();
        if let Some(rest) = a.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        a.rsplit_once(':').map(|(h, _)| h).unwrap_or(a)
    }

    /// The port, explicit or the scheme's.
    pub fn port(&self) -> u16 {
        let a = self.authority.as_str();
        let after = match a.rfind(']') {
            Some(i) => &a[i + 1..],
            None => a,
        };
        after
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(if self.https { 443 } else { 80 })
    }

    /// Scheme, host and port are the same.
    pub fn same_origin(&self, other: &Url) -> bool {
        self.https == other.https
            && self.host().eq_ignore_ascii_case(other.host())
            && self.port() == other.port()
    }

    /// The path and query as sent on the request line.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// `path` (absolute URL, or a path relative to this URL's path, which
    /// is treated as a directory: `https://h/api/v3` + `/users` is
    /// `https://h/api/v3/users`).
    pub fn join(&self, path: &str) -> Result<Url, String> {
        if strip_prefix_ci(path, "https://").is_some() || strip_prefix_ci(path, "http://").is_some()
        {
            return Url::parse(path);
        }
        let (p, q) = match path.split_once('?') {
            Some((p, q)) => (p, q),
            None => (path, ""),
        };
        let base = self.path.trim_end_matches('/');
        let p = p.trim_start_matches('/');
        let mut out = self.clone();
        out.path = if p.is_empty() {
            if base.is_empty() {
                "/".into()
            } else {
                base.into()
            }
        } else {
            format!("{base}/{p}")
        };
        out.query = [self.query.as_str(), q]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("&");
        Ok(out)
    }

    /// A target of a `Link` header: absolute, or relative to this URL.
    pub fn resolve(&self, target: &str) -> Result<Url, String> {
        if strip_prefix_ci(target, "https://").is_some()
            || strip_prefix_ci(target, "http://").is_some()
        {
            return Url::parse(target);
        }
        let mut out = self.clone();
        let (p, q) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        if p.starts_with('/') {
            out.path = p.to_string();
        } else if !p.is_empty() {
            let dir = self.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            out.path = format!("{dir}/{p}");
        }
        out.query = q.to_string();
        Ok(out)
    }

    /// Sets query parameter `name` to `value` (replacing any with that
    /// name), encoding both.
    pub fn set_param(&mut self, name: &str, value: &str) {
        let key = encode(name);
        let mut parts: Vec<String> = self
            .query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| p.split('=').next() != Some(key.as_str()))
            .map(str::to_string)
            .collect();
        parts.push(format!("{key}={}", encode(value)));
        self.query = parts.join("&");
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path_and_query())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

fn lower_host(authority: &str) -> String {
    authority.to_ascii_lowercase()
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The `rel="next"` target of a `Link` header value, if any.
pub fn link_next(header: &str) -> Option<String> {
    for part in split_links(header) {
        let part = part.trim();
        let Some(end) = part.find('>') else { continue };
        let Some(target) = part.get(1..end).filter(|_| part.starts_with('<')) else {
            continue;
        };
        let is_next = part[end + 1..].split(';').any(|param| {
            let param = param.trim();
            let Some((k, v)) = param.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_string());
        }
    }
    None
}

/// Splits a `Link` header at the commas between links (not inside `<>`).
fn split_links(header: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in header.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = (depth - 1).max(0),
            ',' if depth == 0 => {
                out.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&header[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let u = Url::parse("HTTPS://API.Example.com:8443/v1/items?a=1#frag").unwrap();
        assert!(u.https);
        assert_eq!(u.host(), "api.example.com");
        assert_eq!(u.port(), 8443);
        assert_eq!(u.to_string(), "https://api.example.com:8443/v1/items?a=1");
        let u = Url::parse("http://[::1]/").unwrap();
        assert_eq!((u.host(), u.port()), ("::1", 80));
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("https://user:pw@host/").is_err());
        assert!(Url::parse("https:///path").is_err());
    }

    #[test]
    fn joins_stream_paths_under_the_base_path() {
        let base = Url::parse("https://h/api/v3/").unwrap();
        assert_eq!(
            base.join("/users").unwrap().to_string(),
            "https://h/api/v3/users"
        );
        assert_eq!(
            base.join("users?x=1").unwrap().to_string(),
            "https://h/api/v3/users?x=1"
        );
        let root = Url::parse("https://h").unwrap();
        assert_eq!(
            root.join("/repos/a/b/issues").unwrap().to_string(),
            "https://h/repos/a/b/issues"
        );
        assert_eq!(root.join("").unwrap().to_string(), "https://h/");
    }

    #[test]
    fn params_are_encoded_and_replaced() {
        let mut u = Url::parse("https://h/p?since=old&per_page=5").unwrap();
        u.set_param("since", "2024-01-01T00:00:00Z");
        assert_eq!(u.query, "per_page=5&since=2024-01-01T00%3A00%3A00Z");
        u.set_param("q", "a b&c");
        assert!(u.query.ends_with("q=a%20b%26c"), "{}", u.query);
    }

    #[test]
    fn finds_the_next_link() {
        let h = r#"<https://h/i?page=2&per_page=3>; rel="next", <https://h/i?page=9>; rel="last""#;
        assert_eq!(link_next(h).unwrap(), "https://h/i?page=2&per_page=3");
        assert_eq!(link_next(r#"<https://h/i?page=1>; rel="prev""#), None);
        assert_eq!(link_next("<a,b>; rel=next").unwrap(), "a,b");
        let page = Url::parse("https://h/api/items?page=1").unwrap();
        assert_eq!(
            page.resolve("/api/items?page=2").unwrap().to_string(),
            "https://h/api/items?page=2"
        );
        assert_eq!(
            page.resolve("other?page=2").unwrap().to_string(),
            "https://h/api/other?page=2"
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = Url::parse("https://h:443/x").unwrap();
        assert!(a.same_origin(&Url::parse("https://H/y").unwrap()));
        assert!(!a.same_origin(&Url::parse("http://h/y").unwrap()));
        assert!(!a.same_origin(&Url::parse("https://h:8443/y").unwrap()));
    }
}
