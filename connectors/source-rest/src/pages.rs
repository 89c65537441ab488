//! Walking a stream's pages: the first request's URL and parameters, the
//! records at `response_path`, and the next page by the stream's
//! pagination (`link_header`, `cursor`, `offset`, `page`).

use std::collections::HashSet;

use rapidbyte_guest_sdk::{ConnectorError, Result};
use serde_json::Value;

use crate::config::{Pagination, StreamConfig};
use crate::http::{Client, Transport};
use crate::jsonpath::JsonPath;
use crate::url::{link_next, Url};

/// One page's records.
pub struct Page {
    /// 1-based page number.
    pub number: u64,
    /// The URL it came from.
    pub url: Url,
    /// Its records.
    pub records: Vec<Value>,
    /// Its body size in bytes.
    pub bytes: usize,
}

fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A has-more flag: `true`, `"true"`, a non-zero number.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true") || s == "1",
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

fn path(p: &str) -> Result<JsonPath> {
    JsonPath::parse(p).map_err(|e| ConnectorError::config("invalid_config", e))
}

/// Reads `stream`'s pages from `base`, at most `max_pages` (None: all),
/// with `extra` query parameters on the first request (the incremental
/// cursor), handing each page to `on_page`.
pub fn walk<T: Transport>(
    client: &mut Client<T>,
    base: &Url,
    stream: &StreamConfig,
    extra: &[(String, String)],
    max_pages: Option<u64>,
    mut on_page: impl FnMut(Page) -> Result<()>,
) -> Result<()> {
    let name = &stream.name;
    let mut url = base.join(&stream.path).map_err(|e| {
        ConnectorError::config("invalid_config", format!("stream `{name}`: `path`: {e}"))
    })?;
    for (k, v) in &stream.params {
        url.set_param(k, &param_text(v));
    }
    for (k, v) in extra {
        url.set_param(k, v);
    }
    let records_at = path(&stream.response_path)?;
    let mut offset = 0u64;
    let mut page_number = match &stream.pagination {
        Pagination::Page { start, .. } => *start,
        _ => 0,
    };
    match &stream.pagination {
        Pagination::Offset {
            limit,
            offset_param,
            limit_param,
            ..
        } => {
            url.set_param(limit_param, &limit.to_string());
            url.set_param(offset_param, "0");
        }
        Pagination::Page {
            page_param,
            size_param,
            page_size,
            ..
        } => {
            url.set_param(page_param, &page_number.to_string());
            if let Some(size) = page_size {
                url.set_param(size_param, &size.to_string());
            }
        }
        _ => {}
    }
    let mut seen = HashSet::new();
    let mut number = 1u64;
    loop {
        let what = format!("stream `{name}`, page {number}");
        let response = client.get(&url, &what)?;
        let mut body: Value = serde_json::from_slice(&response.body).map_err(|e| {
            ConnectorError::data(
                "bad_page",
                format!("{what} (GET {url}) is not valid JSON: {e}"),
            )
        })?;
        let records = match records_at.take(&mut body) {
            Some(Value::Array(a)) => a,
            Some(Value::Null) => Vec::new(),
            Some(obj @ Value::Object(_)) => vec![obj],
            Some(other) => {
                return Err(ConnectorError::schema(
                    "bad_response_path",
                    format!(
                        "{what} (GET {url}): `response_path` {} is {other}, not an array of records",
                        records_at.as_str()
                    ),
                ))
            }
            None => {
                return Err(ConnectorError::schema(
                    "bad_response_path",
                    format!(
                        "{what} (GET {url}): `response_path` {} finds nothing in the answer; set it to where the records are (e.g. `$.data`)",
                        records_at.as_str()
                    ),
                ))
            }
        };
        let n = records.len() as u64;
        let number_or = |p: &Option<String>| -> Result<Option<Value>> {
            Ok(match p {
                Some(p) => path(p)?.find(&body).cloned(),
                None => None,
            })
        };
        let next: Option<Url> = match &stream.pagination {
            Pagination::None => None,
            Pagination::LinkHeader => match response.header("link").and_then(link_next) {
                None => None,
                Some(target) => Some(url.resolve(&target).map_err(|e| {
                    ConnectorError::data(
                        "bad_link",
                        format!("{what}: the Link header's next page: {e}"),
                    )
                })?),
            },
            Pagination::Cursor { cursor_path, param } => match path(cursor_path)?.find(&body) {
                None | Some(Value::Null) | Some(Value::Bool(false)) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(token) => {
                    let mut u = url.clone();
                    u.set_param(param, &param_text(token));
                    Some(u)
                }
            },
            Pagination::Offset {
                limit,
                offset_param,
                total_path,
                ..
            } => {
                offset += n;
                let total = number_or(total_path)?.and_then(|v| v.as_u64());
                let done = n == 0 || n < *limit || total.is_some_and(|t| offset >= t);
                (!done).then(|| {
                    let mut u = url.clone();
                    u.set_param(offset_param, &offset.to_string());
                    u
                })
            }
            Pagination::Page {
                page_param,
                page_size,
                total_pages_path,
                has_more_path,
                ..
            } => {
                let total = number_or(total_pages_path)?.and_then(|v| v.as_u64());
                let more = number_or(has_more_path)?.map(|v| truthy(&v));
                let first = match &stream.pagination {
                    Pagination::Page { start, .. } => *start,
                    _ => 1,
                };
                let pages_read = page_number.saturating_sub(first) + 1;
                let done = n == 0
                    || more == Some(false)
                    || total.is_some_and(|t| pages_read >= t)
                    || page_size.is_some_and(|s| n < s);
                (!done).then(|| {
                    page_number += 1;
                    let mut u = url.clone();
                    u.set_param(page_param, &page_number.to_string());
                    u
                })
            }
        };
        if let Some(u) = &next {
            if !u.same_origin(base) {
                return Err(ConnectorError::data(
                    "next_page_elsewhere",
                    format!("{what}: the next page is on another host ({u}); only base_url's host is granted"),
                ));
            }
        }
        on_page(Page {
            number,
            url: url.clone(),
            records,
            bytes: response.body.len(),
        })?;
        if max_pages.is_some_and(|m| number >= m) {
            return Ok(());
        }
        match next {
            None => return Ok(()),
            Some(u) => {
                seen.insert(url.to_string());
                if !seen.insert(u.to_string()) {
                    return Err(ConnectorError::data(
                        "pagination_loop",
                        format!("{what}: the next page ({u}) is one already read; the API's pagination loops"),
                    ));
                }
                url = u;
                number += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::http::fake::{answer, Fake};

    fn run(fake: &mut Fake, stream: Value) -> Result<Vec<(u64, String, usize)>> {
        let config: Config = serde_json::from_value(serde_json::json!({
            "base_url": "https://h/api",
            "streams": [stream]
        }))
        .unwrap();
        let checked = config.check().unwrap();
        let mut client = Client::new(fake, &config, &checked);
        client.sleep = |_| {};
        client.note = |_| {};
        let mut pages = Vec::new();
        walk(
            &mut client,
            &checked.base,
            &config.streams[0],
            &[],
            None,
            |p| {
                pages.push((p.number, p.url.to_string(), p.records.len()));
                Ok(())
            },
        )?;
        Ok(pages)
    }

    #[test]
    fn link_header_pages_follow_rel_next() {
        let mut fake = Fake::default();
        fake.script.push_back(answer(
            200,
            "[1,2]",
            &[("link", "<https://h/api/i?page=2>; rel=\"next\"")],
        ));
        fake.script.push_back(answer(200, "[3]", &[]));
        let pages = run(&mut fake, serde_json::json!({"name": "i", "path": "/i", "params": {"per_page": 2}, "pagination": {"type": "link_header"}})).unwrap();
        assert_eq!(
            pages,
            vec![
                (1, "https://h/api/i?per_page=2".into(), 2),
                (2, "https://h/api/i?page=2".into(), 1)
            ]
        );
    }

    #[test]
    fn cursor_pages_stop_at_a_null_token() {
        let mut fake = Fake::default();
        fake.script.push_back(answer(
            200,
            r#"{"data":[1,2],"meta":{"next_cursor":"abc"}}"#,
            &[],
        ));
        fake.script.push_back(answer(
            200,
            r#"{"data":[3],"meta":{"next_cursor":null}}"#,
            &[],
        ));
        let pages = run(
            &mut fake,
            serde_json::json!({"name": "e", "path": "/e", "response_path": "$.data", "pagination": {"type": "cursor", "cursor_path": "$.meta.next_cursor"}}),
        )
        .unwrap();
        assert_eq!(pages[1].1, "https://h/api/e?cursor=abc");
        assert_eq!(pages.len(), 2);
    }

    #[test]
    fn offset_and_page_numbers_advance_until_a_short_page() {
        let mut fake = Fake::default();
        fake.script
            .push_back(answer(200, r#"{"results":[1,2]}"#, &[]));
        fake.script
            .push_back(answer(200, r#"{"results":[3]}"#, &[]));
        let pages = run(
            &mut fake,
            serde_json::json!({"name": "o", "path": "/o", "response_path": "results", "pagination": {"type": "offset", "limit": 2}}),
        )
        .unwrap();
        assert_eq!(
            pages.iter().map(|p| p.1.as_str()).collect::<Vec<_>>(),
            vec![
                "https://h/api/o?limit=2&offset=0",
                "https://h/api/o?limit=2&offset=2"
            ]
        );
        let mut fake = Fake::default();
        fake.script
            .push_back(answer(200, r#"{"items":[1],"total_pages":2}"#, &[]));
        fake.script
            .push_back(answer(200, r#"{"items":[2],"total_pages":2}"#, &[]));
        fake.script
            .push_back(answer(200, r#"{"items":[9],"total_pages":2}"#, &[]));
        let pages = run(
            &mut fake,
            serde_json::json!({"name": "p", "path": "/p", "response_path": "$.items", "pagination": {"type": "page", "total_pages_path": "$.total_pages"}}),
        )
        .unwrap();
        assert_eq!(pages.len(), 2, "stops at total_pages");
        assert_eq!(pages[1].1, "https://h/api/p?page=2");
    }

    #[test]
    fn a_malformed_page_is_a_data_error_naming_the_page() {
        let mut fake = Fake::default();
        fake.script.push_back(answer(
            200,
            "[1]",
            &[("link", "<https://h/api/i?page=2>; rel=\"next\"")],
        ));
        fake.script
            .push_back(answer(200, r#"{"data": [ {"id": 1,"#, &[]));
        let e = run(
            &mut fake,
            serde_json::json!({"name": "i", "path": "/i", "pagination": {"type": "link_header"}}),
        )
        .unwrap_err();
        assert_eq!(e.code, "bad_page");
        assert!(
            e.message.contains("stream `i`, page 2") && e.message.contains("page=2"),
            "{}",
            e.message
        );
    }

    #[test]
    fn loops_and_foreign_next_pages_are_refused() {
        let mut fake = Fake::default();
        fake.script.push_back(answer(
            200,
            "[1]",
            &[("link", "<https://h/api/i>; rel=\"next\"")],
        ));
        let e = run(
            &mut fake,
            serde_json::json!({"name": "i", "path": "/i", "pagination": {"type": "link_header"}}),
        )
        .unwrap_err();
        assert_eq!(e.code, "pagination_loop");
        let mut fake = Fake::default();
        fake.script.push_back(answer(
            200,
            "[1]",
            &[("link", "<https://evil/i?page=2>; rel=\"next\"")],
        ));
        let e = run(
            &mut fake,
            serde_json::json!({"name": "i", "path": "/i", "pagination": {"type": "link_header"}}),
        )
        .unwrap_err();
        assert_eq!(e.code, "next_page_elsewhere");
        let mut fake = Fake::default();
        fake.script.push_back(answer(200, r#"{"data": 5}"#, &[]));
        let e = run(
            &mut fake,
            serde_json::json!({"name": "i", "path": "/i", "response_path": "$.data"}),
        )
        .unwrap_err();
        assert_eq!(e.code, "bad_response_path");
    }
}
