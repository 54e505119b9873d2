//! Reading validated values out of untrusted JSON, with errors that name the field by
//! its path (`items[0].unit_price`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Parses a request body as a JSON object.
pub fn parse_body(body: &[u8]) -> Result<Value> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::TooLarge { limit: MAX_BODY_BYTES });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::malformed("body", "a JSON object is required"));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Error::malformed("body", format!("malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::malformed("body", "must be a JSON object"));
    }
    Ok(value)
}

/// A JSON object being read, remembering where it sits in the document.
#[derive(Clone, Copy)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
}

/// Owns the path prefix of nested objects so [`Fields`] can borrow it.
pub struct Nested<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Nested<'a> {
    pub fn fields(&self) -> Fields<'_> {
        Fields { map: self.map, prefix: &self.prefix }
    }
}

impl<'a> Fields<'a> {
    /// The top-level object of a body.
    pub fn root(value: &'a Value) -> Result<Fields<'a>> {
        match value {
            Value::Object(map) => Ok(Fields { map, prefix: "" }),
            _ => Err(Error::malformed("body", "must be a JSON object")),
        }
    }

    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(Error::validation(self.path(name), "must not be empty"))
            }
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(type_error(self.path(name), "a string", other)),
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str> {
        self.opt_str(name)?.ok_or_else(|| missing(self.path(name)))
    }

    /// A decimal written as a JSON string; a JSON number is refused because binary
    /// floating point cannot carry money exactly.
    pub fn opt_decimal_text(&self, name: &str) -> Result<Option<&'a str>> {
        match self.present(name) {
            Some(Value::Number(n)) => Err(Error::validation(
                self.path(name),
                format!("money must be a decimal string such as \"{n}\", not a JSON number"),
            )),
            _ => self.opt_str(name),
        }
    }

    pub fn decimal_text(&self, name: &str) -> Result<&'a str> {
        self.opt_decimal_text(name)?.ok_or_else(|| missing(self.path(name)))
    }

    pub fn opt_u32(&self, name: &str) -> Result<Option<u32>> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or_else(|| {
                Error::validation(self.path(name), format!("must be a whole number from 0 to {}, got {n}", u32::MAX))
            }),
            Some(other) => Err(type_error(self.path(name), "a whole number", other)),
        }
    }

    pub fn u32(&self, name: &str) -> Result<u32> {
        self.opt_u32(name)?.ok_or_else(|| missing(self.path(name)))
    }

    pub fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>> {
        self.opt_str(name)?
            .map(|s| {
                DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| Error::validation(self.path(name), format!("{s:?} is not an RFC 3339 time")))
            })
            .transpose()
    }

    pub fn opt_object(&self, name: &str) -> Result<Option<Nested<'a>>> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Nested { map, prefix: self.path(name) })),
            Some(other) => Err(type_error(self.path(name), "an object", other)),
        }
    }

    pub fn object(&self, name: &str) -> Result<Nested<'a>> {
        self.opt_object(name)?.ok_or_else(|| missing(self.path(name)))
    }

    /// An array of objects; absent reads as empty.
    pub fn objects(&self, name: &str) -> Result<Vec<Nested<'a>>> {
        let items = match self.present(name) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(type_error(self.path(name), "an array", other)),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let prefix = format!("{}[{i}]", self.path(name));
                match item {
                    Value::Object(map) => Ok(Nested { map, prefix }),
                    other => Err(type_error(prefix, "an object", other)),
                }
            })
            .collect()
    }

    /// The raw value, for parts kept as submitted.
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.present(name)
    }
}

fn missing(field: String) -> Error {
    Error::validation(field, "is required")
}

fn type_error(field: String, expected: &str, got: &Value) -> Error {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    Error::validation(field, format!("must be {expected}, got {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_paths_name_the_field() {
        let v = json!({"items": [{"quantity": 1}, {"quantity": "2"}]});
        let root = Fields::root(&v).unwrap();
        let items = root.objects("items").unwrap();
        let err = items[1].fields().u32("quantity").unwrap_err();
        assert_eq!(err.to_string(), "items[1].quantity: must be a whole number, got a string");
    }

    #[test]
    fn money_as_a_json_number_is_refused() {
        let v = json!({"amount": 12.5});
        let err = Fields::root(&v).unwrap().decimal_text("amount").unwrap_err();
        assert!(err.to_string().contains("not a JSON number"), "{err}");
    }

    #[test]
    fn bodies_must_be_json_objects_within_the_limit() {
        assert!(matches!(parse_body(b"{"), Err(Error::Malformed { .. })));
        assert!(matches!(parse_body(b"[1]"), Err(Error::Malformed { .. })));
        assert!(matches!(parse_body(&vec![b' '; MAX_BODY_BYTES + 1]), Err(Error::TooLarge { .. })));
        assert!(parse_body(br#"{"a":1}"#).is_ok());
    }
}
