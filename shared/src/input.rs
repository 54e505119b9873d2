//! Reading validated values out of untrusted JSON, with errors that name the field by
//! its path (`items[0].unit_price`).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};

/// Largest request body the API accepts, on every route and both backends: 64 KiB. An
/// order is stored at up to about 5 times its body (its line items come back with every
/// amount written out, once in the order and once more, escaped, in the
/// `order.dispatched` message kept in its outbox), so the largest accepted order leaves
/// more than 64 KiB of DynamoDB's 400 KB item limit free, and its largest message takes
/// 56% of the 256 KiB SNS/SQS limit. The derivation is in `docs/storage.md` ("Item and
/// message sizes"); `store::create_order` refuses, before any write, an order that would
/// not fit.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parses a request body as a JSON object.
pub fn parse_body(body: &[u8]) -> Result<Value> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::TooLarge { limit: MAX_BODY_BYTES });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::malformed("body", "a JSON object is required"));
    }
    let value = strict_json(body).map_err(|e| Error::malformed("body", format!("malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::malformed("body", "must be a JSON object"));
    }
    Ok(value)
}

/// Parses JSON text like `serde_json::from_slice`, except that an object with the same
/// key twice is an error instead of silently keeping the last value: a sender and a
/// reader that disagree on which one counts is how checks get bypassed.
pub fn strict_json(text: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice::<Strict>(text).map(|s| s.0)
}

/// A JSON value whose objects have no repeated key.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {}", quote(&key))));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A value quoted for a message, cut after 40 characters: enough to recognise it,
/// never a huge input echoed back.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{:?}…", text.get(..cut).unwrap_or_default()),
        None => format!("{text:?}"),
    }
}

/// How far from the clock a time from outside may lie. A time outside its window is
/// refused naming the field, so no stored time, due key or computed window is absurd
/// (a failure dated in the year 9999 would sort its due key before every real time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub before: Duration,
    pub after: Duration,
}

impl TimeWindow {
    /// When something was observed (an audit result, a fulfilment status report): up to
    /// 30 days before the clock, at most an hour after it (clock skew).
    pub const EVENT: TimeWindow = TimeWindow { before: Duration::days(30), after: Duration::hours(1) };
    /// When an order was paid: up to 10 years before the clock, at most an hour after.
    pub const PAYMENT: TimeWindow = TimeWindow { before: Duration::days(3660), after: Duration::hours(1) };
    /// A digital product's service period: within 100 years either side of the clock.
    pub const SERVICE: TimeWindow = TimeWindow { before: Duration::days(36_525), after: Duration::days(36_525) };

    /// The earliest and latest time the window allows around `now`.
    pub fn bounds(self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            now.checked_sub_signed(self.before).unwrap_or(DateTime::<Utc>::MIN_UTC),
            now.checked_add_signed(self.after).unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }

    /// `time` if it lies in the window around `now`, else the error naming `field`.
    pub fn check(self, field: &str, time: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let (earliest, latest) = self.bounds(now);
        if time < earliest || time > latest {
            let show = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
            return Err(Error::validation(field, format!("must be between {} and {}", show(earliest), show(latest))));
        }
        Ok(time)
    }
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

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(type_error(self.path(name), "true or false", other)),
        }
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

    /// Free text of at most `max_chars` characters.
    pub fn opt_text(&self, name: &str, max_chars: usize) -> Result<Option<&'a str>> {
        let text = self.opt_str(name)?;
        if text.is_some_and(|t| t.chars().nth(max_chars).is_some()) {
            return Err(Error::validation(self.path(name), format!("must be at most {max_chars} characters")));
        }
        Ok(text)
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
        self.opt_u32_in(name, 0, u32::MAX)
    }

    pub fn u32(&self, name: &str) -> Result<u32> {
        self.opt_u32(name)?.ok_or_else(|| missing(self.path(name)))
    }

    /// A whole number from `min` to `max`; the error states that range.
    pub fn opt_u32_in(&self, name: &str, min: u32, max: u32) -> Result<Option<u32>> {
        let out_of_range = |got: &dyn fmt::Display| {
            Error::validation(self.path(name), format!("must be a whole number from {min} to {max}, got {got}"))
        };
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                whole_number(n).filter(|n| (min..=max).contains(n)).map(Some).ok_or_else(|| out_of_range(&n))
            }
            Some(other) => Err(type_error(self.path(name), "a whole number", other)),
        }
    }

    pub fn u32_in(&self, name: &str, min: u32, max: u32) -> Result<u32> {
        self.opt_u32_in(name, min, max)?.ok_or_else(|| missing(self.path(name)))
    }

    /// An RFC 3339 time that lies in `window` around `now`.
    pub fn opt_time_within(&self, name: &str, now: DateTime<Utc>, window: TimeWindow) -> Result<Option<DateTime<Utc>>> {
        self.opt_time(name)?.map(|t| window.check(&self.path(name), t, now)).transpose()
    }

    pub fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>> {
        self.opt_str(name)?
            .map(|s| {
                DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| Error::validation(self.path(name), format!("{} is not an RFC 3339 time", quote(s))))
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

/// A JSON number that is a whole number of `u32`: `2` and also `2.0` (JSON does not
/// tell them apart, and JSON Schema's `integer` accepts both).
fn whole_number(n: &Number) -> Option<u32> {
    if let Some(n) = n.as_u64() {
        return u32::try_from(n).ok();
    }
    // Only a float whose decimal form is `<digits>.0` is whole; it then parses exactly.
    let text = n.as_f64().map(|f| format!("{f:.1}"))?;
    text.strip_suffix(".0")?.parse().ok()
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
    fn duplicate_keys_are_refused_at_any_depth() {
        for body in [r#"{"a":1,"a":2}"#, r#"{"items":[{"quantity":1,"quantity":2}]}"#, r#"{"p":{"x":{},"x":1}}"#] {
            let err = parse_body(body.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("duplicate key"), "{body}: {err}");
        }
        assert_eq!(parse_body(br#"{"a":[1,{"b":null}],"c":"d"}"#).unwrap(), json!({"a":[1,{"b":null}],"c":"d"}));
    }

    #[test]
    fn deep_nesting_and_huge_numbers_are_malformed_not_a_crash() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(parse_body(deep.as_bytes()), Err(Error::Malformed { .. })));
        assert!(matches!(parse_body(br#"{"a":1e999}"#), Err(Error::Malformed { .. })));
    }

    #[test]
    fn whole_numbers_outside_their_range_say_the_range() {
        let v = json!({"quantity": 0, "big": 4294967296u64, "neg": -1, "two": 2.0, "half": 2.5, "huge": 1e300});
        let f = Fields::root(&v).unwrap();
        let err = f.u32_in("quantity", 1, 1_000_000).unwrap_err();
        assert_eq!(err.to_string(), "quantity: must be a whole number from 1 to 1000000, got 0");
        assert!(f.u32("big").is_err());
        assert!(f.u32("neg").is_err());
        assert_eq!(f.u32("two").unwrap(), 2);
        assert!(f.u32("half").is_err());
        assert!(f.u32("huge").is_err());
    }

    #[test]
    fn times_outside_their_window_are_refused_naming_the_field() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().with_timezone(&Utc);
        let v = json!({"a": "9999-12-31T23:59:59Z", "b": "0001-01-01T00:00:00Z", "c": "2026-11-22T10:30:00Z"});
        let f = Fields::root(&v).unwrap();
        let err = f.opt_time_within("a", now, TimeWindow::EVENT).unwrap_err();
        assert_eq!(err.to_string(), "a: must be between 2026-10-23T10:00:00Z and 2026-11-22T11:00:00Z");
        assert!(f.opt_time_within("b", now, TimeWindow::PAYMENT).is_err());
        assert!(f.opt_time_within("c", now, TimeWindow::EVENT).unwrap().is_some());
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
