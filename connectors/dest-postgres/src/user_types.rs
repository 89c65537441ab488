//! Creating the enums and domains a source's columns use, when this
//! database lacks them, so each column keeps the source's type (same name,
//! enum labels in order, domain base, NOT NULL and CHECK constraints).
//!
//! The definitions travel in the field metadata
//! (`rapidbyte.pg_type_defs`, written by source-postgres). They come from
//! another connector, so they are checked before use: names are type names
//! as PostgreSQL prints them, constraints are single `CHECK (...)`
//! expressions, and each statement runs as one prepared statement (which
//! PostgreSQL refuses to split into several).

use pg_common::tokio_postgres::Client;
use rapidbyte_guest_sdk::{log, Result};
use serde::Deserialize;

/// One definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TypeDef {
    /// `CREATE TYPE name AS ENUM (labels)`.
    Enum { name: String, labels: Vec<String> },
    /// `CREATE DOMAIN name AS base [NOT NULL] [CHECK (...)]...`.
    Domain {
        name: String,
        base: String,
        #[serde(default)]
        not_null: bool,
        #[serde(default)]
        checks: Vec<String>,
    },
}

impl TypeDef {
    fn name(&self) -> &str {
        match self {
            TypeDef::Enum { name, .. } | TypeDef::Domain { name, .. } => name,
        }
    }
}

/// A type name as `format_type` prints it: identifiers (quoted or not),
/// a schema qualifier, a type modifier, array brackets.
fn plausible_type_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.contains([';', '\\', '\0'])
        && !name.contains("--")
        && !name.contains("/*")
        && name.matches('"').count().is_multiple_of(2)
}

fn plausible_check(check: &str) -> bool {
    check.starts_with("CHECK (")
        && check.ends_with(')')
        && !check.contains([';', '\0'])
        && !check.contains("--")
        && !check.contains("/*")
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The schema qualifier of a printed type name (`sales.mood` -> `sales`),
/// outside double quotes.
fn schema_of(name: &str) -> Option<&str> {
    let mut quoted = false;
    for (i, c) in name.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => return Some(&name[..i]),
            _ => {}
        }
    }
    None
}

/// The statement that creates `def`.
pub fn create_sql(def: &TypeDef) -> std::result::Result<String, String> {
    if !plausible_type_name(def.name()) {
        return Err(format!("`{}` is not a type name", def.name()));
    }
    Ok(match def {
        TypeDef::Enum { name, labels } => {
            let labels: Vec<String> = labels.iter().map(|l| quote_literal(l)).collect();
            format!("CREATE TYPE {name} AS ENUM ({})", labels.join(", "))
        }
        TypeDef::Domain {
            name,
            base,
            not_null,
            checks,
        } => {
            if !plausible_type_name(base) {
                return Err(format!("`{base}` is not a type name"));
            }
            let mut sql = format!("CREATE DOMAIN {name} AS {base}");
            if *not_null {
                sql.push_str(" NOT NULL");
            }
            for c in checks {
                if !plausible_check(c) {
                    return Err(format!("`{c}` is not a CHECK constraint"));
                }
                sql.push(' ');
                sql.push_str(c);
            }
            sql
        }
    })
}

/// Creates every enum and domain the columns of `schema` need and this
/// database lacks. A definition that cannot be used is logged and skipped
/// (the column then loads as its Arrow type, as before).
pub async fn create_missing(
    client: &Client,
    schema: &arrow_schema::Schema,
    stream: &str,
) -> Result<()> {
    let mut done: Vec<String> = Vec::new();
    for f in schema.fields() {
        let Some(text) = f.metadata().get(pg_common::TYPE_DEFS_METADATA) else {
            continue;
        };
        let defs: Vec<TypeDef> = match serde_json::from_str(text) {
            Ok(d) => d,
            Err(e) => {
                log::warn(&format!(
                    "stream `{stream}`: column `{}`: unusable type definitions from the source ({e}); it loads without them",
                    f.name()
                ));
                continue;
            }
        };
        for def in defs {
            if done.iter().any(|d| d == def.name()) {
                continue;
            }
            done.push(def.name().to_string());
            let exists: bool = client
                .query_one("SELECT to_regtype($1) IS NOT NULL", &[&def.name()])
                .await
                .map_err(|e| pg_common::error(&e, stream))?
                .get(0);
            if exists {
                continue;
            }
            let sql = match create_sql(&def) {
                Ok(s) => s,
                Err(why) => {
                    log::warn(&format!(
                        "stream `{stream}`: column `{}`: not creating type {}: {why}",
                        f.name(),
                        def.name()
                    ));
                    continue;
                }
            };
            if let Some(ns) = schema_of(def.name()) {
                create_ignoring_races(client, &format!("CREATE SCHEMA IF NOT EXISTS {ns}"), stream)
                    .await?;
            }
            create_ignoring_races(client, &sql, stream).await?;
            log::info(&format!(
                "stream `{stream}`: created type {} as the source has it",
                def.name()
            ));
        }
    }
    Ok(())
}

/// Runs one DDL statement (prepared: a single statement only); another
/// stream creating the same object at the same time is success.
async fn create_ignoring_races(client: &Client, sql: &str, stream: &str) -> Result<()> {
    match client.execute(sql, &[]).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let raced = e
                .as_db_error()
                .is_some_and(|d| matches!(d.code().code(), "23505" | "42710" | "42P06"));
            if raced {
                Ok(())
            } else {
                Err(pg_common::error(&e, stream))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_for_enums_and_domains() {
        let defs: Vec<TypeDef> = serde_json::from_str(
            r#"[{"kind":"enum","name":"mood","labels":["sad","it's ok"]},
                {"kind":"domain","name":"sales.posint","base":"integer","not_null":true,"checks":["CHECK ((VALUE > 0))"]}]"#,
        )
        .unwrap();
        assert_eq!(
            create_sql(&defs[0]).unwrap(),
            "CREATE TYPE mood AS ENUM ('sad', 'it''s ok')"
        );
        assert_eq!(
            create_sql(&defs[1]).unwrap(),
            "CREATE DOMAIN sales.posint AS integer NOT NULL CHECK ((VALUE > 0))"
        );
        assert_eq!(schema_of("sales.posint"), Some("sales"));
        assert_eq!(schema_of("\"a.b\""), None);
    }

    #[test]
    fn definitions_that_smuggle_sql_are_refused() {
        for def in [
            TypeDef::Enum {
                name: "x; DROP TABLE t".into(),
                labels: vec![],
            },
            TypeDef::Domain {
                name: "d".into(),
                base: "int -- x".into(),
                not_null: false,
                checks: vec![],
            },
            TypeDef::Domain {
                name: "d".into(),
                base: "int".into(),
                not_null: false,
                checks: vec!["DEFAULT 1".into()],
            },
            TypeDef::Domain {
                name: "d".into(),
                base: "int".into(),
                not_null: false,
                checks: vec!["CHECK (true); DROP TABLE t; SELECT (1)".into()],
            },
        ] {
            assert!(create_sql(&def).is_err(), "{def:?}");
        }
    }
}
