//! The JSONPath subset REST responses need: a path of member names and
//! array indexes from the root, `$.data`, `$.response.payload.records`,
//! `$['odd key'][0].id`, or the same without the leading `$`.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parses `text`; the error says where it stopped making sense.
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let raw = text.trim();
        let mut rest = raw.strip_prefix('$').unwrap_or(raw);
        let mut steps = Vec::new();
        let bad = |why: &str| {
            format!("JSONPath `{raw}`: {why} (supported: `$`, `$.a.b`, `$.a[0]`, `$['a b']`)")
        };
        if !raw.starts_with('$') && !rest.is_empty() {
            // `data.items` is read as `$.data.items`.
            let (key, after) = take_name(rest);
            if key.is_empty() {
                return Err(bad("expected a member name"));
            }
            steps.push(Step::Key(key.to_string()));
            rest = after;
        }
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let (key, after) = take_name(r);
                if key.is_empty() {
                    return Err(bad("expected a member name after `.`"));
                }
                if key == "*" {
                    return Err(bad("wildcards are not supported"));
                }
                steps.push(Step::Key(key.to_string()));
                rest = after;
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').ok_or_else(|| bad("`[` without `]`"))?;
                let inner = r[..end].trim();
                rest = &r[end + 1..];
                if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    steps.push(Step::Key(q.to_string()));
                } else if let Ok(i) = inner.parse::<usize>() {
                    steps.push(Step::Index(i));
                } else {
                    return Err(bad(&format!(
                        "`[{inner}]` is neither an index nor a quoted name"
                    )));
                }
            } else {
                return Err(bad(&format!("unexpected `{rest}`")));
            }
        }
        Ok(JsonPath {
            text: raw.to_string(),
            steps,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is the root (`$`).
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// The value at this path in `v`, if there is one.
    pub fn find<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        let mut cur = v;
        for step in &self.steps {
            cur = match step {
                Step::Key(k) => cur.as_object()?.get(k)?,
                Step::Index(i) => cur.as_array()?.get(*i)?,
            };
        }
        Some(cur)
    }

    /// Takes the value at this path out of `v` (no copy), if there is one.
    pub fn take(&self, v: &mut Value) -> Option<Value> {
        let mut cur = v;
        for step in &self.steps {
            cur = match step {
                Step::Key(k) => cur.as_object_mut()?.get_mut(k)?,
                Step::Index(i) => cur.as_array_mut()?.get_mut(*i)?,
            };
        }
        Some(cur.take())
    }
}

/// A member name up to the next `.` or `[`.
fn take_name(s: &str) -> (&str, &str) {
    let end = s.find(['.', '[']).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_nested_members_and_indexes() {
        let v =
            json!({"response": {"payload": {"records": [{"id": 1}, {"id": 2}]}}, "odd key": [7]});
        let p = JsonPath::parse("$.response.payload.records").unwrap();
        assert_eq!(p.find(&v).unwrap().as_array().unwrap().len(), 2);
        assert_eq!(
            JsonPath::parse("$.response.payload.records[1].id")
                .unwrap()
                .find(&v),
            Some(&json!(2))
        );
        assert_eq!(
            JsonPath::parse("$['odd key'][0]").unwrap().find(&v),
            Some(&json!(7))
        );
        assert_eq!(
            JsonPath::parse("response.payload")
                .unwrap()
                .find(&v)
                .is_some(),
            true
        );
        assert!(JsonPath::parse("$").unwrap().is_root());
        assert_eq!(JsonPath::parse("$.missing.deeper").unwrap().find(&v), None);
    }

    #[test]
    fn take_moves_the_value_out() {
        let mut v = json!({"data": [1, 2, 3]});
        let got = JsonPath::parse("$.data").unwrap().take(&mut v).unwrap();
        assert_eq!(got, json!([1, 2, 3]));
        assert_eq!(v, json!({"data": null}));
    }

    #[test]
    fn refuses_what_it_does_not_support_by_name() {
        for bad in ["$.", "$.a[", "$.*", "$..a", "$[x]", "$a"] {
            let e = JsonPath::parse(bad).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }
}
