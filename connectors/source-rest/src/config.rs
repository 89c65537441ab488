//! The connector's configuration: `source.config` plus the per-stream
//! options the host hands over from `source.streams` (under `streams`).

use std::collections::BTreeMap;
use std::time::Duration;

use rapidbyte_guest_sdk::{ConnectorError, Result};
use serde::Deserialize;

use crate::jsonpath::JsonPath;
use crate::records::ColumnSpec;
use crate::url::Url;

/// `source.config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where every stream's `path` is resolved (`https://api.github.com`).
    pub base_url: String,
    /// How requests authenticate.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Extra CA certificates (PEM, or a file the host reads); the host's
    /// HTTPS client uses them, the connector does not.
    #[serde(default)]
    pub ca_bundle: Option<String>,
    /// Client-side pacing.
    #[serde(default)]
    pub rate_limit: RateLimit,
    /// Retries of 429 and 5xx answers and of failed connections.
    #[serde(default)]
    pub retry: Retry,
    /// Per-request time limit (connect, first byte, pauses), e.g. `30s`.
    #[serde(default = "default_timeout")]
    pub timeout: DurationSpec,
    /// The largest response body accepted, in bytes.
    #[serde(default = "default_max_response")]
    pub max_response_bytes: u64,
    /// Pages read to infer a schema when a stream declares none.
    #[serde(default = "default_infer_pages")]
    pub infer_pages: u32,
    /// The streams (from `source.streams`).
    #[serde(default)]
    pub streams: Vec<StreamConfig>,
}

fn default_timeout() -> DurationSpec {
    DurationSpec::Text("30s".into())
}
fn default_max_response() -> u64 {
    64 << 20
}
fn default_infer_pages() -> u32 {
    1
}

/// `auth:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        #[serde(default)]
        password: String,
    },
    /// An API key in a header or a query parameter.
    ApiKey {
        /// Header or parameter name (`X-API-Key`, `api_key`).
        name: String,
        /// The key.
        value: String,
        /// `header` (default) or `query`.
        #[serde(default, rename = "in")]
        location: KeyLocation,
    },
    /// OAuth2 client credentials: a token from `token_url`, renewed when it
    /// expires or is refused.
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// The token endpoint (absolute, or a path under `base_url`).
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
        /// Scopes requested.
        #[serde(default)]
        scopes: Vec<String>,
    },
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    /// A request header.
    #[default]
    Header,
    /// A query parameter.
    Query,
}

/// `rate_limit:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// At most this many requests per second (0: no pacing).
    #[serde(default)]
    pub requests_per_second: f64,
}

/// `retry:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Attempts per request, the first included.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Delay before the first retry (doubling after each), e.g. `1s`.
    #[serde(default = "default_initial_delay")]
    pub initial_delay: DurationSpec,
    /// The longest delay, also the cap on a server's `Retry-After`.
    #[serde(default = "default_max_delay")]
    pub max_delay: DurationSpec,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: default_attempts(),
            initial_delay: default_initial_delay(),
            max_delay: default_max_delay(),
        }
    }
}

fn default_attempts() -> u32 {
    5
}
fn default_initial_delay() -> DurationSpec {
    DurationSpec::Text("1s".into())
}
fn default_max_delay() -> DurationSpec {
    DurationSpec::Text("60s".into())
}

/// One stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name.
    pub name: String,
    /// Path under `base_url` (or an absolute URL on the same host).
    pub path: String,
    /// Query parameters of the first request.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// How pages follow each other.
    #[serde(default)]
    pub pagination: Pagination,
    /// JSONPath to the records in a response (default `$`: the body is the
    /// array).
    #[serde(default = "default_response_path")]
    pub response_path: String,
    /// Declared columns; absent: inferred from the first page(s).
    #[serde(default)]
    pub schema: Option<Vec<ColumnSpec>>,
    /// The cursor column the pipeline names (suggested in the catalog).
    #[serde(default)]
    pub cursor_field: Option<String>,
    /// The primary key columns the pipeline names (suggested in the catalog).
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Incremental: the query parameter that asks for records at or after
    /// the saved cursor (`since`).
    #[serde(default)]
    pub cursor_param: Option<String>,
    /// How the cursor value is written into `cursor_param`: `raw` (as the
    /// API gave it, the default), `unix_seconds`, `unix_millis` or `rfc3339`.
    #[serde(default)]
    pub cursor_format: Option<String>,
}

fn default_response_path() -> String {
    "$".into()
}

/// `pagination:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// One request.
    #[default]
    None,
    /// Follow the `Link` header's `rel="next"`.
    LinkHeader,
    /// A token in the body names the next page.
    Cursor {
        /// JSONPath to the next token; missing, null or empty ends.
        cursor_path: String,
        /// The query parameter that carries it.
        #[serde(default = "default_cursor_param")]
        param: String,
    },
    /// `offset` and `limit` parameters.
    Offset {
        /// Records per page.
        #[serde(default = "default_page_size")]
        limit: u64,
        /// Parameter names.
        #[serde(default = "default_offset_param")]
        offset_param: String,
        #[serde(default = "default_limit_param")]
        limit_param: String,
        /// JSONPath to a total count, when the API gives one.
        #[serde(default)]
        total_path: Option<String>,
    },
    /// Page numbers.
    Page {
        /// Records per page (sent as `size_param` when set).
        #[serde(default)]
        page_size: Option<u64>,
        /// Parameter names.
        #[serde(default = "default_page_param")]
        page_param: String,
        #[serde(default = "default_size_param")]
        size_param: String,
        /// The first page's number.
        #[serde(default = "default_start_page")]
        start: u64,
        /// JSONPath to the number of pages, or to a has-more flag.
        #[serde(default)]
        total_pages_path: Option<String>,
        #[serde(default)]
        has_more_path: Option<String>,
    },
}

fn default_cursor_param() -> String {
    "cursor".into()
}
fn default_page_size() -> u64 {
    100
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_limit_param() -> String {
    "limit".into()
}
fn default_page_param() -> String {
    "page".into()
}
fn default_size_param() -> String {
    "per_page".into()
}
fn default_start_page() -> u64 {
    1
}

/// A duration as YAML gives it: `30s`, `500ms`, `2m`, `1h`, or a number
/// of seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DurationSpec {
    /// With a unit (or a number as text).
    Text(String),
    /// Seconds.
    Seconds(f64),
}

impl DurationSpec {
    /// The duration; `key` names it in errors.
    pub fn parse(&self, key: &str) -> Result<Duration> {
        match self {
            DurationSpec::Text(t) => duration(t, key),
            DurationSpec::Seconds(n) => duration(&n.to_string(), key),
        }
    }
}

/// Parses `30s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub fn duration(text: &str, key: &str) -> Result<Duration> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| {
            bad(
                key,
                &format!("`{text}` is not a duration (e.g. 30s, 500ms, 2m)"),
            )
        })?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(bad(
                key,
                &format!("`{text}`: unknown unit `{unit}` (ms, s, m, h)"),
            ))
        }
    };
    Ok(Duration::from_secs_f64(secs.min(86_400.0)))
}

fn bad(key: &str, why: &str) -> ConnectorError {
    ConnectorError::config("invalid_config", format!("`{key}`: {why}"))
}

/// Settings checked and parsed once.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The base URL.
    pub base: Url,
    /// Per-request time limit.
    pub timeout: Duration,
    /// Retry delays.
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl Config {
    /// Checks what serde cannot; names the key at fault.
    pub fn check(&self) -> Result<Checked> {
        let base = Url::parse(&self.base_url).map_err(|e| bad("base_url", &e))?;
        if !base.https {
            return Err(bad(
                "base_url",
                "must be https:// (credentials travel in headers)",
            ));
        }
        let timeout = self.timeout.parse("timeout")?;
        let initial_delay = self.retry.initial_delay.parse("retry.initial_delay")?;
        let max_delay = self.retry.max_delay.parse("retry.max_delay")?;
        if self.retry.max_attempts == 0 {
            return Err(bad("retry.max_attempts", "must be at least 1"));
        }
        if !(self.rate_limit.requests_per_second >= 0.0
            && self.rate_limit.requests_per_second.is_finite())
        {
            return Err(bad(
                "rate_limit.requests_per_second",
                "must be a number of requests per second, 0 for none",
            ));
        }
        if self.max_response_bytes < 1024 {
            return Err(bad("max_response_bytes", "must be at least 1024"));
        }
        if let Some(Auth::OAuth2 { token_url, .. }) = &self.auth {
            base.join(token_url)
                .map_err(|e| bad("auth.token_url", &e))?;
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.streams.iter().enumerate() {
            let at = |k: &str| format!("streams[{i}].{k} (stream `{}`)", s.name);
            if !seen.insert(&s.name) {
                return Err(bad(&at("name"), "listed twice"));
            }
            let url = base.join(&s.path).map_err(|e| bad(&at("path"), &e))?;
            if !url.same_origin(&base) {
                return Err(bad(
                    &at("path"),
                    &format!("{url} is not on {base}'s host; only base_url's host is granted"),
                ));
            }
            JsonPath::parse(&s.response_path).map_err(|e| bad(&at("response_path"), &e))?;
            match &s.pagination {
                Pagination::Cursor { cursor_path, .. } => {
                    JsonPath::parse(cursor_path)
                        .map_err(|e| bad(&at("pagination.cursor_path"), &e))?;
                }
                Pagination::Offset {
                    limit, total_path, ..
                } => {
                    if *limit == 0 {
                        return Err(bad(&at("pagination.limit"), "must be at least 1"));
                    }
                    if let Some(p) = total_path {
                        JsonPath::parse(p).map_err(|e| bad(&at("pagination.total_path"), &e))?;
                    }
                }
                Pagination::Page {
                    page_size,
                    total_pages_path,
                    has_more_path,
                    ..
                } => {
                    if *page_size == Some(0) {
                        return Err(bad(&at("pagination.page_size"), "must be at least 1"));
                    }
                    for (k, p) in [
                        ("total_pages_path", total_pages_path),
                        ("has_more_path", has_more_path),
                    ] {
                        if let Some(p) = p {
                            JsonPath::parse(p)
                                .map_err(|e| bad(&at(&format!("pagination.{k}")), &e))?;
                        }
                    }
                }
                Pagination::None | Pagination::LinkHeader => {}
            }
            if let Some(cols) = &s.schema {
                crate::records::check_columns(cols).map_err(|e| bad(&at("schema"), &e))?;
            }
            if let Some(f) = &s.cursor_format {
                if !["raw", "unix_seconds", "unix_millis", "rfc3339"].contains(&f.as_str()) {
                    return Err(bad(
                        &at("cursor_format"),
                        &format!("`{f}`: expected raw, unix_seconds, unix_millis or rfc3339"),
                    ));
                }
            }
        }
        Ok(Checked {
            base,
            timeout,
            initial_delay,
            max_delay,
        })
    }

    /// The stream named `name`.
    pub fn stream(&self, name: &str) -> Result<&StreamConfig> {
        self.streams.iter().find(|s| s.name == name).ok_or_else(|| {
            ConnectorError::config(
                "unknown_stream",
                format!(
                    "stream `{name}` is not defined; source-rest streams are the entries of `source.streams` (with a `path`)"
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: serde_json::Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(duration("30s", "t").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("250ms", "t").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("2m", "t").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("5", "t").unwrap(), Duration::from_secs(5));
        assert!(duration("soon", "t").unwrap_err().message.contains("`t`"));
        assert!(duration("3d", "t").is_err());
        let c: Config = serde_json::from_value(serde_json::json!({"base_url": "https://x", "timeout": 5, "retry": {"initial_delay": 0.5}})).unwrap();
        let checked = c.check().unwrap();
        assert_eq!(checked.timeout, Duration::from_secs(5));
        assert_eq!(checked.initial_delay, Duration::from_millis(500));
    }

    #[test]
    fn checks_name_the_key() {
        let err = config(serde_json::json!({"base_url": "http://api.x"}))
            .check()
            .unwrap_err();
        assert!(
            err.message.contains("`base_url`") && err.message.contains("https"),
            "{}",
            err.message
        );
        let err = config(serde_json::json!({
            "base_url": "https://api.x",
            "streams": [{"name": "a", "path": "https://other.host/a"}]
        }))
        .check()
        .unwrap_err();
        assert!(
            err.message.contains("streams[0].path") && err.message.contains("not on"),
            "{}",
            err.message
        );
        let err = config(serde_json::json!({
            "base_url": "https://api.x",
            "streams": [{"name": "a", "path": "/a", "response_path": "$.*"}]
        }))
        .check()
        .unwrap_err();
        assert!(err.message.contains("response_path"), "{}", err.message);
        let ok = config(serde_json::json!({
            "base_url": "https://api.x/v1",
            "auth": {"type": "api_key", "name": "api_key", "value": "k", "in": "query"},
            "streams": [{"name": "a", "path": "/a", "pagination": {"type": "cursor", "cursor_path": "$.meta.next"}}]
        }));
        assert!(ok.check().is_ok());
    }

    #[test]
    fn unknown_pagination_and_auth_types_are_refused() {
        let bad: std::result::Result<Config, _> = serde_json::from_value(serde_json::json!({
            "base_url": "https://x", "auth": {"type": "kerberos"}
        }));
        assert!(bad.unwrap_err().to_string().contains("kerberos"));
        let bad: std::result::Result<Config, _> = serde_json::from_value(serde_json::json!({
            "base_url": "https://x", "streams": [{"name": "a", "path": "/", "pagination": {"type": "scroll"}}]
        }));
        assert!(bad.unwrap_err().to_string().contains("scroll"));
    }
}
