//! `source-rest` against a real HTTPS server: `fixtures/rest_api.py` on
//! 127.0.0.1 with a certificate from a CA the test makes, serving
//! GitHub-like (Link header) and Stripe-like (cursor) pages, offset and
//! page-number pagination, every auth kind, 429s and 5xx bursts and a
//! malformed page. Pipelines run through the engine into Parquet.

use std::time::Instant;

use arrow_array::cast::AsArray;
use rapidbyte_tests::certs::TestCa;
use rapidbyte_tests::rest::RestServer;
use rapidbyte_tests::{i64_column, rows, Project};

/// The spec's GitHub issues stream, declared columns included.
const ISSUES: &str = r#"    - name: issues
      path: "/repos/acme/widgets/issues"
      params: { per_page: 100 }
      sync_mode: incremental
      cursor_field: updated_at
      cursor_param: since
      pagination:
        type: link_header
      response_path: "$"
      schema:
        - { name: id, type: Int64 }
        - { name: title, type: Utf8 }
        - { name: state, type: Utf8 }
        - { name: body, type: Utf8 }
        - { name: updated_at, type: Timestamp }
        - { name: user, type: Json }
"#;

fn pipeline(server: &RestServer, config: &str, streams: &str) -> String {
    format!(
        r#"version: "1.0"
pipeline: rest
source:
  use: rapidbyte/source-rest
  config:
    base_url: "https://localhost:{port}"
    ca_bundle: certs/ca.pem
    headers:
      Accept: "application/vnd.github+json"
    retry: {{ initial_delay: 100ms, max_attempts: 6 }}
{config}  streams:
{streams}destination:
  use: rapidbyte/dest-file
  config:
    path: out
    schema: raw
  write_mode: append
"#,
        port = server.port
    )
}

fn project(ca: &TestCa) -> Project {
    let p = Project::new();
    p.write("certs/ca.pem", &ca.cert_pem);
    p
}

fn data_requests(server: &RestServer, path: &str) -> Vec<serde_json::Value> {
    server
        .requests()
        .into_iter()
        .filter(|r| r["path"] == path)
        .collect()
}

#[test]
fn the_spec_github_pipeline_pages_authenticates_and_resumes_exactly() {
    let ca = TestCa::new("Rapidbyte REST CA");
    let p = project(&ca);
    let auth = "    auth:\n      type: bearer\n      token: s3cret\n";
    let first = RestServer::start(&ca, &["--records", "250", "--bearer", "s3cret"]);
    let report = p.run_ok(&pipeline(&first, auth, ISSUES));
    assert_eq!(report.streams[0].records_written, 250);
    let out = p.read_parquet("out/raw/issues.parquet");
    assert_eq!(i64_column(&out, "id"), (1..=250).collect::<Vec<_>>());
    let user = out[0]
        .column_by_name("user")
        .unwrap()
        .as_string::<i32>()
        .value(0)
        .to_string();
    assert_eq!(
        user, r#"{"login":"user1","id":1001}"#,
        "nested objects stay JSON"
    );
    let pages = data_requests(&first, "/repos/acme/widgets/issues");
    assert_eq!(pages.len(), 3, "250 records at 100 a page: {pages:?}");
    assert!(
        pages
            .iter()
            .all(|r| r["auth"] == "bearer" && r["status"] == 200),
        "{pages:?}"
    );
    drop(first);

    // Ten new issues; the rerun asks only for what changed since the
    // saved cursor and writes exactly those.
    let second = RestServer::start(&ca, &["--records", "260", "--bearer", "s3cret"]);
    let report = p.run_ok(&pipeline(&second, auth, ISSUES));
    assert_eq!(report.streams[0].records_read, 10);
    let ids = i64_column(&p.read_parquet("out/raw/issues.parquet"), "id");
    assert_eq!(
        ids,
        (1..=260).collect::<Vec<_>>(),
        "no record lost or duplicated"
    );
    let pages = data_requests(&second, "/repos/acme/widgets/issues");
    assert!(
        pages.iter().all(|r| r["query"]
            .as_str()
            .unwrap_or("")
            .contains("since=2024-01-01T04%3A10%3A00Z")),
        "the first request carries the saved cursor: {pages:?}"
    );

    let report = p.run_ok(&pipeline(&second, auth, ISSUES));
    assert_eq!(
        report.streams[0].records_read, 0,
        "nothing new, nothing read"
    );
}

#[test]
fn every_pagination_style_reads_every_record_once() {
    let ca = TestCa::new("Rapidbyte REST CA");
    let p = project(&ca);
    let server = RestServer::start(&ca, &["--records", "95"]);
    let streams = r#"    - name: events
      path: /v1/events
      params: { limit: 20 }
      response_path: "$.data"
      pagination: { type: cursor, cursor_path: "$.meta.next_cursor", param: cursor }
    - name: items
      path: /api/items
      response_path: results
      pagination: { type: offset, limit: 25 }
    - name: pages
      path: /api/pages
      response_path: "$.items"
      pagination: { type: page, page_size: 25, size_param: page_size, total_pages_path: "$.total_pages" }
    - name: nested
      path: /api/nested
      response_path: "$.response.payload.records"
      pagination: { type: page, page_size: 30, size_param: page_size, has_more_path: "$.has_more" }
"#;
    let report = p.run_ok(&pipeline(&server, "", streams));
    for name in ["events", "items", "pages", "nested"] {
        let out = p.read_parquet(&format!("out/raw/{name}.parquet"));
        assert_eq!(
            i64_column(&out, "id"),
            (1..=95).collect::<Vec<_>>(),
            "{name}"
        );
        let s = rapidbyte_tests::stream(&report, name);
        assert_eq!(s.records_written, 95, "{name}");
    }
    // Inferred columns: integers, text, timestamps, JSON.
    let out = p.read_parquet("out/raw/items.parquet");
    let schema = out[0].schema();
    assert_eq!(
        schema.field_with_name("id").unwrap().data_type(),
        &arrow_schema::DataType::Int64
    );
    assert!(matches!(
        schema.field_with_name("updated_at").unwrap().data_type(),
        arrow_schema::DataType::Timestamp(..)
    ));
    assert_eq!(
        schema.field_with_name("score").unwrap().data_type(),
        &arrow_schema::DataType::Float64
    );
}

#[test]
fn every_auth_kind_is_sent_the_way_the_api_expects() {
    let ca = TestCa::new("Rapidbyte REST CA");
    let stream = "    - name: items\n      path: /api/items\n      response_path: results\n      pagination: { type: offset, limit: 10 }\n";
    let cases = [
        ("--basic", "ann:pa ss", "    auth: { type: basic, username: ann, password: \"pa ss\" }\n", "basic"),
        ("--api-key-header", "X-Api-Key:k1", "    auth: { type: api_key, name: X-Api-Key, value: k1 }\n", "api_key_header"),
        ("--api-key-query", "api_key:k2", "    auth: { type: api_key, name: api_key, value: k2, in: query }\n", "api_key_query"),
        (
            "--oauth",
            "cid:csecret",
            "    auth: { type: oauth2, token_url: /oauth/token, client_id: cid, client_secret: csecret }\n",
            "oauth",
        ),
    ];
    for (flag, value, auth, kind) in cases {
        let p = project(&ca);
        let server = RestServer::start(&ca, &["--records", "30", flag, value]);
        p.run_ok(&pipeline(&server, auth, stream));
        assert_eq!(rows(&p.read_parquet("out/raw/items.parquet")), 30, "{kind}");
        let data = data_requests(&server, "/api/items");
        assert!(
            !data.is_empty() && data.iter().all(|r| r["status"] == 200),
            "{kind}: {data:?}"
        );
        if kind == "oauth" {
            // One token per connector instance (the discover instance and
            // the stream's), not one per request.
            let tokens = data_requests(&server, "/oauth/token");
            assert_eq!(tokens.len(), 2, "{tokens:?}");
            assert!(
                data.len() > 2 && data.iter().all(|r| r["auth"] == "oauth"),
                "{data:?}"
            );
        }

        // The same API with a wrong secret: a clear auth error, no retry storm.
        let wrong = auth.replace(value.split(':').nth(1).unwrap_or(value), "wrong");
        let report = p.run(&pipeline(&server, &wrong, stream));
        let message = match report {
            Err(e) => e.to_string(),
            Ok(r) => r.streams[0].error.clone().unwrap_or_default(),
        };
        assert!(
            message.contains("401") || message.contains("OAuth2"),
            "{kind}: {message}"
        );
    }
}

#[test]
fn rate_limits_and_server_error_bursts_are_retried_with_their_delays() {
    let ca = TestCa::new("Rapidbyte REST CA");
    let p = project(&ca);
    let server = RestServer::start(
        &ca,
        &[
            "--records",
            "50",
            "--rate-limit-first",
            "2",
            "--retry-after",
            "1",
            "--fail-500",
            "3",
        ],
    );
    let stream = "    - name: items\n      path: /api/items\n      response_path: results\n      pagination: { type: offset, limit: 20 }\n";
    let started = Instant::now();
    p.run_ok(&pipeline(&server, "", stream));
    let took = started.elapsed();
    assert_eq!(
        i64_column(&p.read_parquet("out/raw/items.parquet"), "id"),
        (1..=50).collect::<Vec<_>>()
    );
    let statuses: Vec<i64> = data_requests(&server, "/api/items")
        .iter()
        .map(|r| r["status"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 500).count(),
        3,
        "{statuses:?}"
    );
    assert!(
        took.as_secs_f64() >= 2.0,
        "Retry-After: 1 was honoured twice ({took:?})"
    );
}

fn failure(p: &Project, yaml: &str) -> String {
    match p.run(yaml) {
        Err(e) => e.to_string(),
        Ok(r) => r.streams[0]
            .error
            .clone()
            .unwrap_or_else(|| panic!("the pipeline was expected to fail")),
    }
}

#[test]
fn failures_say_what_and_where() {
    let ca = TestCa::new("Rapidbyte REST CA");
    let p = project(&ca);
    let link = "    - name: issues\n      path: /repos/acme/widgets/issues\n      params: { per_page: 10 }\n      pagination: { type: link_header }\n";

    // A malformed page is a data error that names the page.
    let server = RestServer::start(&ca, &["--records", "50", "--malformed-page", "2"]);
    let m = failure(&p, &pipeline(&server, "", link));
    assert!(m.contains("page 2") && m.contains("not valid JSON"), "{m}");

    // A certificate from a CA nobody configured.
    let yaml = pipeline(&server, "", link).replace("    ca_bundle: certs/ca.pem\n", "");
    let m = failure(&p, &yaml);
    assert!(m.contains("certificate") && m.contains("ca_bundle"), "{m}");

    // A certificate from the configured CA, but for another name: the
    // name is checked, not only the signature.
    let other = RestServer::start_for_names(&ca, &["api.example.test"], &["--records", "5"]);
    let m = failure(&p, &pipeline(&other, "", link));
    assert!(
        m.contains("localhost") && m.contains("certificate") && m.contains("not for that name"),
        "{m}"
    );
    assert!(other.requests().is_empty(), "no request got through");

    // Plain http is refused before anything runs (the manifest requires TLS).
    let yaml = pipeline(&server, "", link).replace("https://localhost", "http://localhost");
    let m = p.start_error(&yaml);
    assert!(
        m.contains("`source.config.base_url`") && m.contains("https"),
        "{m}"
    );

    // A stream on a host the grant does not cover.
    let elsewhere = "    - name: issues\n      path: \"https://127.0.0.2:9/x\"\n";
    let m = p.start_error(&pipeline(&server, "", elsewhere));
    assert!(m.contains("streams[0].path") && m.contains("not on"), "{m}");

    // A server that does not speak TLS.
    let plain = RestServer::start_plain(&["--records", "5"]);
    let m = failure(&p, &pipeline(&plain, "", link));
    assert!(m.contains("TLS") || m.contains("tls"), "{m}");

    // An unknown stream option is named, with the likely one.
    let typo = link.replace("pagination:", "paginaton:");
    let m = p.start_error(&pipeline(&server, "", &typo));
    assert!(m.contains("paginaton") && m.contains("pagination"), "{m}");
}
