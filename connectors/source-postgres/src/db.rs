//! The catalog queries.

use arrow_schema::Schema;
use pg_common::tokio_postgres::Client;
use pg_common::{error, ident};
use rapidbyte_guest_sdk::Result;

use crate::types::{self, Kind};

/// A column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// The type as PostgreSQL prints it (`numeric(12,2)`).
    pub pg_type: String,
    /// How it is decoded.
    pub kind: Kind,
    /// Whether it may be NULL.
    pub nullable: bool,
    /// For text-read columns: whether the type is one whose text form is
    /// its documented, exact transport (numeric, time, interval, network
    /// types, money, enums, arrays, ...), as opposed to an unknown type.
    pub known_text: bool,
    /// How to create the column's user-defined types (enums, domains, and
    /// those of array elements and domain bases), base types first, as a
    /// JSON array; `None` for built-in types.
    pub type_defs: Option<String>,
}

/// A table or view of the schema.
#[derive(Debug, Clone)]
pub struct Table {
    /// Name.
    pub name: String,
    /// Columns in order.
    pub columns: Vec<Column>,
    /// Primary key columns, in key order.
    pub primary_key: Vec<String>,
}

impl Table {
    /// The Arrow schema.
    pub fn schema(&self) -> Schema {
        Schema::new(
            self.columns
                .iter()
                .map(|c| {
                    let f = types::field(&c.name, c.kind, &c.pg_type, c.nullable);
                    match &c.type_defs {
                        Some(defs) => {
                            let mut meta = f.metadata().clone();
                            meta.insert(pg_common::TYPE_DEFS_METADATA.to_string(), defs.clone());
                            f.with_metadata(meta)
                        }
                        None => f,
                    }
                })
                .collect::<Vec<_>>(),
        )
    }

    /// A column that looks like a change timestamp, suggested as the cursor.
    pub fn suggested_cursor(&self) -> Option<&str> {
        [
            "updated_at",
            "modified_at",
            "last_modified",
            "updated",
            "created_at",
        ]
        .into_iter()
        .find(|n| self.columns.iter().any(|c| c.name == *n))
    }

    /// The WHERE condition of share `index` of `count` of a partitioned
    /// read: rows are dealt out by primary key (modulo for one integer
    /// column, a hash otherwise), so the shares are disjoint and complete
    /// whatever concurrent writes do, as long as keys are not updated.
    /// `None` without a primary key.
    pub fn share_condition(&self, index: u32, count: u32) -> Option<String> {
        let keys: Vec<&Column> = self
            .primary_key
            .iter()
            .filter_map(|k| self.columns.iter().find(|c| &c.name == k))
            .collect();
        if keys.is_empty() || keys.len() != self.primary_key.len() {
            return None;
        }
        let n = i64::from(count);
        let value = match keys.as_slice() {
            [k] if matches!(k.kind, Kind::Int2 | Kind::Int4 | Kind::Int8) => {
                format!("((__rb_t.{}::int8 % {n}) + {n}) % {n}", ident(&k.name))
            }
            _ => {
                let cols: Vec<String> = keys
                    .iter()
                    .map(|k| format!("__rb_t.{}", ident(&k.name)))
                    .collect();
                format!(
                    "(hashtext(ROW({})::text)::int8 + 2147483648) % {n}",
                    cols.join(", ")
                )
            }
        };
        Some(format!("{value} = {index}"))
    }

    /// Columns of types this connector does not know, read as text.
    pub fn unknown_types(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(|c| c.kind == Kind::AsText && !c.known_text)
    }

    /// The SELECT list, casting types without a binary decoder to text.
    pub fn select_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| match c.kind {
                Kind::AsText => format!("{}::text", ident(&c.name)),
                _ => ident(&c.name),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether a schema exists, and whether the user may use it.
pub struct SchemaAccess {
    /// The schema exists.
    pub exists: bool,
    /// The user has USAGE on it.
    pub usable: bool,
}

/// Looks up `schema` and the user's USAGE privilege on it.
pub async fn schema_access(client: &Client, schema: &str) -> Result<SchemaAccess> {
    let row = client
        .query_opt(
            "SELECT has_schema_privilege(oid, 'USAGE') FROM pg_catalog.pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .await
        .map_err(|e| error(&e, &format!("looking up schema `{schema}`")))?;
    Ok(match row {
        Some(r) => SchemaAccess {
            exists: true,
            usable: r.get(0),
        },
        None => SchemaAccess {
            exists: false,
            usable: false,
        },
    })
}

/// Tables and views of `schema` the user may not SELECT from.
pub async fn unreadable_tables(client: &Client, schema: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f') \
               AND NOT has_table_privilege(c.oid, 'SELECT') \
             ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(|e| error(&e, &format!("checking privileges in schema `{schema}`")))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Every table, view and materialized view of `schema`.
pub async fn tables(client: &Client, schema: &str) -> Result<Vec<Table>> {
    let rows = client
        .query(
            // A domain (over domains, ...) reads as its innermost base
            // type and keeps its own name.
            "WITH RECURSIVE dom(oid, base) AS ( \
                 SELECT oid, typbasetype FROM pg_catalog.pg_type WHERE typtype = 'd' \
                 UNION ALL \
                 SELECT d.oid, t.typbasetype FROM dom d JOIN pg_catalog.pg_type t ON t.oid = d.base \
                 WHERE t.typtype = 'd' \
             ), root AS ( \
                 SELECT d.oid, d.base FROM dom d JOIN pg_catalog.pg_type t ON t.oid = d.base \
                 WHERE t.typtype <> 'd' \
             ) \
             SELECT c.relname::text, a.attname::text, \
                    COALESCE(r.base, a.atttypid), \
                    format_type(a.atttypid, a.atttypmod), \
                    NOT a.attnotnull, \
                    (t.typtype = 'e' OR bt.typtype = 'e' OR t.typcategory = 'A' OR bt.typcategory = 'A'), \
                    a.atttypid, \
                    (t.typtype IN ('e', 'd') OR (t.typcategory = 'A' AND et.typtype IN ('e', 'd'))) \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN root r ON r.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_type bt ON bt.oid = r.base \
             LEFT JOIN pg_catalog.pg_type et ON et.oid = t.typelem AND t.typelem <> 0 \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f') \
             ORDER BY c.relname, a.attnum",
            &[&schema],
        )
        .await
        .map_err(|e| error(&e, &format!("listing tables of schema `{schema}`")))?;
    let mut tables: Vec<Table> = Vec::new();
    let mut defs_of: std::collections::HashMap<u32, Option<String>> = Default::default();
    for row in rows {
        let table: String = row.get(0);
        let oid: u32 = row.get(2);
        let enum_or_array: Option<bool> = row.get(5);
        let type_oid: u32 = row.get(6);
        let user_defined: Option<bool> = row.get(7);
        let type_defs = if user_defined.unwrap_or(false) {
            match defs_of.get(&type_oid) {
                Some(known) => known.clone(),
                None => {
                    let defs = type_defs(client, type_oid, 0).await?;
                    let text =
                        (!defs.is_empty()).then(|| serde_json::Value::Array(defs).to_string());
                    defs_of.insert(type_oid, text.clone());
                    text
                }
            }
        } else {
            None
        };
        let column = Column {
            name: row.get(1),
            pg_type: row.get(3),
            kind: types::kind_of(oid),
            nullable: row.get(4),
            known_text: enum_or_array.unwrap_or(false) || types::exact_as_text(oid),
            type_defs,
        };
        match tables.last_mut() {
            Some(t) if t.name == table => t.columns.push(column),
            _ => tables.push(Table {
                name: table,
                columns: vec![column],
                primary_key: Vec::new(),
            }),
        }
    }
    let keys = client
        .query(
            "SELECT c.relname::text, a.attname::text \
             FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
             WHERE i.indisprimary AND n.nspname = $1 \
             ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)",
            &[&schema],
        )
        .await
        .map_err(|e| error(&e, &format!("reading primary keys of schema `{schema}`")))?;
    for row in keys {
        let table: String = row.get(0);
        if let Some(t) = tables.iter_mut().find(|t| t.name == table) {
            t.primary_key.push(row.get(1));
        }
    }
    Ok(tables)
}

/// How to create user type `oid` in another database: the definitions of
/// what it builds on (a domain's base, an array's element) first, then its
/// own. Enums carry their labels in order; domains their base type, NOT
/// NULL and CHECK constraints. Built-in types need nothing.
fn type_defs<'a>(
    client: &'a Client,
    oid: u32,
    depth: u32,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<serde_json::Value>>> + 'a>> {
    Box::pin(async move {
        let what = "reading the definition of a user-defined type";
        if depth > 16 {
            return Ok(Vec::new());
        }
        let Some(t) = client
            .query_opt(
                "SELECT typtype::text, format_type(oid, NULL), typbasetype, \
                        format_type(typbasetype, typtypmod), typnotnull, typelem, typcategory::text \
                 FROM pg_catalog.pg_type WHERE oid = $1",
                &[&oid],
            )
            .await
            .map_err(|e| error(&e, what))?
        else {
            return Ok(Vec::new());
        };
        let kind: String = t.get(0);
        let name: String = t.get(1);
        let elem: u32 = t.get(5);
        let category: String = t.get(6);
        Ok(match kind.as_str() {
            "e" => {
                let labels = texts(
                    client,
                    "SELECT enumlabel::text FROM pg_catalog.pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder",
                    oid,
                    what,
                )
                .await?;
                vec![serde_json::json!({"kind": "enum", "name": name, "labels": labels})]
            }
            "d" => {
                let base: u32 = t.get(2);
                let mut defs = type_defs(client, base, depth + 1).await?;
                let checks = texts(
                    client,
                    "SELECT pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint \
                     WHERE contypid = $1 AND contype = 'c' ORDER BY conname",
                    oid,
                    what,
                )
                .await?;
                defs.push(serde_json::json!({
                    "kind": "domain",
                    "name": name,
                    "base": t.get::<_, String>(3),
                    "not_null": t.get::<_, bool>(4),
                    "checks": checks,
                }));
                defs
            }
            _ if category == "A" && elem != 0 => type_defs(client, elem, depth + 1).await?,
            _ => Vec::new(),
        })
    })
}

/// The one text column of `sql`'s rows, for type `oid`.
async fn texts(client: &Client, sql: &str, oid: u32, what: &str) -> Result<Vec<String>> {
    Ok(client
        .query(sql, &[&oid])
        .await
        .map_err(|e| error(&e, what))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}
