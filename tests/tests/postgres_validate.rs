//! `rapidbyte check` for the Postgres connectors: missing privileges, an
//! unknown schema and `sslmode: require` against a server without TLS each get a message that says what
//! to do, and a read without privileges fails its stream cleanly.

use rapidbyte_host::pipeline::Prepared;
use rapidbyte_host::runtime::bindings::types::ValidationStatus;
use rapidbyte_tests::pg::{PgCluster, PASSWORD};
use rapidbyte_tests::{runtime, settings, Project};

fn pipeline(pg: &PgCluster, user: &str, source_extra: &str, dest_extra: &str) -> String {
    let conn = rapidbyte_tests::pg_connection(pg, user);
    format!(
        "version: \"1.0\"\npipeline: v\nsource:\n  use: rapidbyte/source-postgres\n  config:\n{conn}    database: src\n{source_extra}destination:\n  use: rapidbyte/dest-postgres\n  config:\n{conn}    database: dst\n{dest_extra}  write_mode: append\n"
    )
}

#[test]
fn check_names_missing_privileges_schemas_and_tls() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql("postgres", "CREATE DATABASE dst");
    pg.psql(
        "postgres",
        &format!("CREATE ROLE limited LOGIN PASSWORD '{PASSWORD}'"),
    );
    pg.psql(
        "src",
        "CREATE TABLE open (id int PRIMARY KEY); CREATE TABLE secret (id int PRIMARY KEY);
         GRANT SELECT ON open TO limited; CREATE SCHEMA hidden; CREATE TABLE hidden.t (id int);",
    );
    let p = Project::new();
    let check = |yaml: &str| {
        let config = p.pipeline(yaml);
        let prepared = Prepared::new(&config, runtime(), settings()).expect("prepares");
        prepared.validate().expect("validates")
    };

    // Source: a table without SELECT is a warning naming the GRANT.
    // Destination: PostgreSQL 15 lets only owners create in `public`.
    let (src, dst) = check(&pipeline(
        &pg,
        "limited",
        "  streams:\n    - name: open\n",
        "",
    ));
    assert_eq!(src.status, ValidationStatus::Warning, "{}", src.message);
    let detail = &src.details[0].message;
    assert!(
        detail.contains("secret") && detail.contains("GRANT SELECT"),
        "{detail}"
    );
    assert_eq!(dst.status, ValidationStatus::Failed, "{}", dst.message);
    assert!(
        dst.message.contains("limited") && dst.message.contains("GRANT CREATE ON SCHEMA"),
        "{}",
        dst.message
    );
    // A schema that does not exist yet needs CREATE on the database.
    let (_, dst) = check(&pipeline(
        &pg,
        "limited",
        "  streams:\n    - name: open\n",
        "    schema: raw\n",
    ));
    assert!(
        dst.message.contains("CREATE SCHEMA") && dst.message.contains("GRANT CREATE ON DATABASE"),
        "{}",
        dst.message
    );
    pg.psql("dst", "CREATE SCHEMA raw AUTHORIZATION limited");
    let (_, dst) = check(&pipeline(
        &pg,
        "limited",
        "  streams:\n    - name: open\n",
        "    schema: raw\n",
    ));
    assert_eq!(dst.status, ValidationStatus::Success, "{}", dst.message);

    // Reading the table anyway: the stream fails with the privilege error.
    let report = p
        .run(&pipeline(
            &pg,
            "limited",
            "  streams:\n    - name: secret\n",
            "    schema: raw\n",
        ))
        .expect("starts");
    let err = report.streams[0].error.clone().expect("permission denied");
    assert!(
        err.contains("insufficient_privilege") && err.contains("secret"),
        "{err}"
    );

    // A schema the user may not use, and one that does not exist.
    let (src, _) = check(&pipeline(
        &pg,
        "limited",
        "    schema: hidden\n  streams: []\n",
        "",
    ));
    assert_eq!(src.status, ValidationStatus::Failed);
    assert!(
        src.message.contains("GRANT USAGE ON SCHEMA"),
        "{}",
        src.message
    );
    let (src, _) = check(&pipeline(
        &pg,
        "postgres",
        "    schema: nope\n  streams: []\n",
        "",
    ));
    assert_eq!(src.status, ValidationStatus::Failed);
    assert!(
        src.message.contains("`nope` does not exist"),
        "{}",
        src.message
    );

    // TLS required by the config, a server without TLS: refused up front,
    // saying what to do.
    let config = p.pipeline(&pipeline(&pg, "postgres", "    sslmode: require\n", ""));
    let err = Prepared::new(&config, runtime(), settings())
        .err()
        .map(|e| e.to_string())
        .expect("sslmode require is refused by a server without TLS");
    assert!(
        err.contains("tls_unavailable") && err.contains("does not accept TLS"),
        "{err}"
    );
}
