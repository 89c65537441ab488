//! `${VAR}` substitution in YAML string values.

use serde_norway::Value;

/// Replaces `${NAME}` in every string of `value` with the environment
/// variable `NAME` (`$${` escapes a literal `${`). Substituted values stay
/// strings (a password `12345` stays text); numeric settings accept numeric
/// strings. Errors name the key path and the variable.
pub fn substitute(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (String, String)> {
    match value {
        Value::String(s) => {
            if !s.contains("${") {
                return Ok(());
            }
            *s = expand(s, lookup).map_err(|var| {
                (
                    path.to_string(),
                    format!("environment variable `{var}` is not set"),
                )
            })?;
            Ok(())
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                substitute(v, &child, lookup)?;
            }
            Ok(())
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                substitute(v, &format!("{path}[{i}]"), lookup)?;
            }
            Ok(())
        }
        Value::Tagged(t) => substitute(&mut t.value, path, lookup),
        _ => Ok(()),
    }
}

fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("${") {
        if rest[..pos].ends_with('$') {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[pos..]);
            return Ok(out);
        };
        let name = &after[..end];
        out.push_str(&lookup(name).ok_or_else(|| name.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.local".into()),
            "PORT" => Some("5432".into()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_and_types_whole_values() {
        let mut v: Value =
            serde_norway::from_str("a: ${HOST}\nb: ${PORT}\nc: x-${HOST}-y\nd: $${HOST}").unwrap();
        substitute(&mut v, "", &env).unwrap();
        assert_eq!(v["a"], Value::String("db.local".into()));
        assert_eq!(v["b"], Value::String("5432".into()));
        assert_eq!(v["c"], Value::String("x-db.local-y".into()));
        assert_eq!(v["d"], Value::String("${HOST}".into()));
    }

    #[test]
    fn missing_variable_names_path() {
        let mut v: Value = serde_norway::from_str("source:\n  config:\n    pw: ${NOPE}").unwrap();
        let (path, msg) = substitute(&mut v, "", &env).unwrap_err();
        assert_eq!(path, "source.config.pw");
        assert!(msg.contains("NOPE"));
    }
}
