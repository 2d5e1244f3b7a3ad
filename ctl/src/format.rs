//! `inspect --format`: the subset of Go's templates that scripts use on
//! docker's inspect: `{{.Path.To.Field}}`, `{{json .Path}}` and `{{json .}}`,
//! with the text around them kept. A value is printed as docker prints it
//! for scalars (a string bare, a missing field `<no value>`); an object or
//! a list as JSON (Go would print `map[...]`: JSON is what a script can
//! read).

use anyhow::bail;
use serde_json::Value;

/// `template` applied to `v`.
pub fn render(template: &str, v: &Value) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("template: unclosed action in {template:?}");
        };
        out.push_str(&action(after[..end].trim(), v)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn action(a: &str, v: &Value) -> anyhow::Result<String> {
    let words: Vec<&str> = a.split_whitespace().collect();
    match words.as_slice() {
        [path] if path.starts_with('.') => Ok(match lookup(v, path)? {
            Some(x) => scalar(x),
            None => "<no value>".into(),
        }),
        ["json", path] if path.starts_with('.') => Ok(match lookup(v, path)? {
            Some(x) => serde_json::to_string(x)?,
            None => "null".into(),
        }),
        _ => bail!("template: {a:?}: only {{{{.Field}}}} and {{{{json .Field}}}} are supported"),
    }
}

/// `.A.B` in `v`: None where a field is missing.
fn lookup<'a>(v: &'a Value, path: &str) -> anyhow::Result<Option<&'a Value>> {
    let mut cur = v;
    for key in path
        .trim_start_matches('.')
        .split('.')
        .filter(|k| !k.is_empty())
    {
        match cur {
            Value::Object(m) => match m.get(key) {
                Some(x) => cur = x,
                None => return Ok(None),
            },
            _ => bail!("template: can't evaluate field {key} in a {}", kind(cur)),
        }
    }
    Ok(Some(cur))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_scripts_use() {
        let v = serde_json::json!({
            "Id": "abc", "State": {"Status": "exited", "ExitCode": 3, "Running": false},
            "Config": {"Cmd": ["sh", "-c", "x"]}, "Empty": null
        });
        let r = |t: &str| render(t, &v).unwrap();
        assert_eq!(r("{{.State.Status}}"), "exited");
        assert_eq!(r("{{ .State.ExitCode }} {{.State.Running}}"), "3 false");
        assert_eq!(r("id={{.Id}}!"), "id=abc!");
        assert_eq!(r("{{json .Config}}"), r#"{"Cmd":["sh","-c","x"]}"#);
        assert!(r("{{json .}}").starts_with("{\"Config\""));
        assert_eq!(r("{{.Nope}} {{.Empty}}"), "<no value> <no value>");
        assert!(render("{{.Id", &v).is_err());
        assert!(render("{{printf \"%s\" .Id}}", &v).is_err());
        assert!(render("{{.Id.More}}", &v).is_err());
    }
}
