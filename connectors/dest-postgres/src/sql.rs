//! The SQL each write mode runs, built from quoted identifiers.
//!
//! `upsert` and `merge` load rows into a session-local staging table
//! (`pg_temp.__rb_stage`, emptied at each commit) and apply it to the target
//! at every checkpoint, inside the transaction that loaded it. Within one
//! checkpoint the last row for a key wins (`__rb_seq` keeps arrival order).

use pg_common::ident;
use rapidbyte_guest_sdk::prelude::WriteMode;

/// The staging table of `upsert` and `merge`.
pub const STAGE: &str = "pg_temp.\"__rb_stage\"";
const SEQ: &str = "\"__rb_seq\"";

/// How rows reach the target table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// COPY straight into the target.
    Append,
    /// COPY into `<stream>__rb_new`, swapped in at the end.
    Replace,
    /// Stage, then `INSERT ... ON CONFLICT (keys) DO UPDATE`.
    Upsert {
        /// Conflict columns.
        keys: Vec<String>,
    },
    /// Stage, then update matching rows and insert the others.
    Merge {
        /// Match columns.
        keys: Vec<String>,
        /// Columns updated on a match (empty: every non-key column).
        update: Vec<String>,
    },
}

impl Plan {
    /// The plan for a write mode.
    pub fn of(mode: &WriteMode) -> Plan {
        match mode {
            WriteMode::Append => Plan::Append,
            WriteMode::Replace => Plan::Replace,
            WriteMode::Upsert(keys) => Plan::Upsert { keys: keys.clone() },
            WriteMode::Merge(m) => Plan::Merge {
                keys: m.merge_keys.clone(),
                update: m.update_columns.clone(),
            },
        }
    }

    /// The key columns of a staged plan.
    pub fn keys(&self) -> &[String] {
        match self {
            Plan::Upsert { keys } | Plan::Merge { keys, .. } => keys,
            Plan::Append | Plan::Replace => &[],
        }
    }

    /// Whether rows go through the staging table.
    pub fn staged(&self) -> bool {
        !self.keys().is_empty()
    }
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `CREATE TABLE IF NOT EXISTS` for the target; an upsert target gets its
/// keys as primary key, which `ON CONFLICT` needs.
pub fn create_target(target: &str, columns: &[String], plan: &Plan) -> String {
    let mut defs = columns.join(", ");
    if let Plan::Upsert { keys } = plan {
        defs.push_str(&format!(", PRIMARY KEY ({})", list(keys)));
    }
    format!("CREATE TABLE IF NOT EXISTS {target} ({defs})")
}

/// The staging table: the incoming columns plus an arrival counter.
pub fn create_stage(columns: &[String]) -> String {
    format!(
        "DROP TABLE IF EXISTS {STAGE}; CREATE TEMP TABLE {STAGE} ({}, {SEQ} bigserial) ON COMMIT DELETE ROWS",
        columns.join(", ")
    )
}

/// Counts staged rows with a NULL key column.
pub fn null_keys(keys: &[String]) -> String {
    let cond: Vec<String> = keys
        .iter()
        .map(|k| format!("{} IS NULL", ident(k)))
        .collect();
    format!("SELECT count(*) FROM {STAGE} WHERE {}", cond.join(" OR "))
}

/// The staged rows, one per key: the last to arrive.
fn latest(names: &[String], keys: &[String]) -> String {
    format!(
        "SELECT DISTINCT ON ({k}) {cols} FROM {STAGE} ORDER BY {k}, {SEQ} DESC",
        k = list(keys),
        cols = list(names)
    )
}

/// The statements that apply the staged rows to `target`.
pub fn apply(plan: &Plan, target: &str, names: &[String]) -> String {
    match plan {
        Plan::Append | Plan::Replace => String::new(),
        Plan::Upsert { keys } => {
            let sets: Vec<String> = names
                .iter()
                .filter(|n| !keys.contains(n))
                .map(|n| format!("{c} = EXCLUDED.{c}", c = ident(n)))
                .collect();
            let action = if sets.is_empty() {
                "DO NOTHING".to_string()
            } else {
                format!("DO UPDATE SET {}", sets.join(", "))
            };
            format!(
                "INSERT INTO {target} AS t ({cols}) {rows} ON CONFLICT ({k}) {action}",
                cols = list(names),
                rows = latest(names, keys),
                k = list(keys),
            )
        }
        Plan::Merge { keys, update } => {
            let update: Vec<&String> = if update.is_empty() {
                names.iter().filter(|n| !keys.contains(n)).collect()
            } else {
                update.iter().collect()
            };
            let on: Vec<String> = keys
                .iter()
                .map(|k| format!("t.{c} = s.{c}", c = ident(k)))
                .collect();
            let on = on.join(" AND ");
            let rows = latest(names, keys);
            let mut sql = String::new();
            if !update.is_empty() {
                let sets: Vec<String> = update
                    .iter()
                    .map(|n| format!("{c} = s.{c}", c = ident(n)))
                    .collect();
                sql.push_str(&format!(
                    "UPDATE {target} AS t SET {} FROM ({rows}) AS s WHERE {on}; ",
                    sets.join(", ")
                ));
            }
            sql.push_str(&format!(
                "INSERT INTO {target} ({cols}) SELECT {cols} FROM ({rows}) AS s \
                 WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {on})",
                cols = list(names),
            ));
            sql
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn upsert_updates_non_key_columns() {
        let sql = apply(
            &Plan::Upsert { keys: s(&["id"]) },
            "\"x\".\"t\"",
            &s(&["id", "v"]),
        );
        assert!(sql.contains("ON CONFLICT (\"id\") DO UPDATE SET \"v\" = EXCLUDED.\"v\""));
        assert!(sql.contains("DISTINCT ON (\"id\")"));
        let only_keys = apply(&Plan::Upsert { keys: s(&["id"]) }, "t", &s(&["id"]));
        assert!(only_keys.ends_with("DO NOTHING"));
    }

    #[test]
    fn merge_updates_only_the_named_columns() {
        let sql = apply(
            &Plan::Merge {
                keys: s(&["id"]),
                update: s(&["a"]),
            },
            "t",
            &s(&["id", "a", "b"]),
        );
        assert!(sql.contains("SET \"a\" = s.\"a\" FROM"));
        assert!(!sql.contains("\"b\" = s.\"b\""));
        assert!(sql.contains("WHERE NOT EXISTS"));
    }
}
