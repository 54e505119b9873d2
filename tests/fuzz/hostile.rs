//! Hostile values and bodies: huge and negative numbers, odd decimals, extreme dates,
//! long strings, unicode and control characters, deep nesting, duplicate keys, and
//! fully random JSON; plus the strategy that mutates a valid request with them.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Value;

use crate::json::{Kinds, Mutation, J};
use crate::values::{DATES, DECIMALS, FACTORS, GARBAGE, NUMBERS, STRINGS, WORDS};

fn raw(texts: &'static [&'static str]) -> BoxedStrategy<J> {
    select(texts).prop_map(|s| J::Raw(s.to_string())).boxed()
}

fn strs(texts: &'static [&'static str]) -> BoxedStrategy<J> {
    select(texts).prop_map(|s| J::Str(s.to_string())).boxed()
}

pub fn number() -> BoxedStrategy<J> {
    prop_oneof![
        4 => raw(NUMBERS),
        1 => any::<i64>().prop_map(|n| J::Raw(n.to_string())),
        1 => any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(|n| J::Raw(n.to_string()))),
    ]
    .boxed()
}

pub fn decimal() -> BoxedStrategy<J> {
    prop_oneof![
        3 => strs(DECIMALS),
        2 => "-?[0-9]{1,32}(\\.[0-9]{0,32})?".prop_map(J::Str),
    ]
    .boxed()
}

/// A date-time written with any year, month, day, hour and offset, valid or not.
fn odd_date() -> impl Strategy<Value = J> {
    (-300_000i64..300_000, 0u32..14, 0u32..33, 0u32..26, 0u32..61, select(&["Z", "+00:00", "-12:00", ".5Z", ""][..]))
        .prop_map(|(y, mo, d, h, mi, tail)| J::Str(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00{tail}")))
}

/// A valid instant up to about 3000 years from the runtime's clock, either way.
fn near_date() -> impl Strategy<Value = J> {
    (-100_000_000_000i64..100_000_000_000).prop_map(|secs| {
        let now = chrono::DateTime::parse_from_rfc3339(crate::world::START).expect("START is RFC 3339");
        J::Str((now + chrono::Duration::seconds(secs)).to_rfc3339())
    })
}

pub fn date() -> BoxedStrategy<J> {
    prop_oneof![3 => strs(DATES), 1 => odd_date(), 2 => near_date()].boxed()
}

/// Strings of up to 300 000 characters (beyond the body limit) of one repeated piece.
fn long_string() -> impl Strategy<Value = J> {
    let sizes = select(&[63usize, 64, 65, 300, 301, 501, 1000, 10_240, 70_000, 300_000][..]);
    let pieces = select(&["a", "é", "漢", "😀", "\u{0}", "#", "/", "9", "\\", "\""][..]);
    (sizes, pieces).prop_map(|(n, piece)| J::Str(piece.repeat(n)))
}

pub fn string() -> BoxedStrategy<J> {
    prop_oneof![
        3 => strs(STRINGS),
        2 => long_string(),
        2 => strs(WORDS),
        1 => "\\PC{0,40}".prop_map(J::Str),
        1 => any::<String>().prop_map(J::Str),
    ]
    .boxed()
}

fn scalar() -> BoxedStrategy<J> {
    prop_oneof![
        3 => number(),
        3 => decimal(),
        3 => date(),
        5 => string(),
        1 => select(&["null", "true", "false", "[]", "{}"][..]).prop_map(|s| J::Raw(s.into())),
        1 => raw(GARBAGE),
    ]
    .boxed()
}

/// Random JSON: scalars inside arrays and objects (with duplicate keys) up to 4 deep.
pub fn random_json() -> BoxedStrategy<J> {
    scalar()
        .prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(J::Arr),
                vec((prop_oneof![strs(WORDS), strs(STRINGS)], inner), 0..6).prop_map(|entries| {
                    J::Obj(
                        entries
                            .into_iter()
                            .map(|(k, v)| (if let J::Str(k) = k { k } else { String::new() }, v))
                            .collect(),
                    )
                }),
            ]
        })
        .boxed()
}

pub fn hostile() -> BoxedStrategy<J> {
    prop_oneof![8 => scalar(), 1 => random_json()].boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        strs(WORDS),
        strs(STRINGS),
        select(&["order_id", "amount", "currency", "type", "__proto__", "items", "status"][..])
            .prop_map(|s| J::Str(s.into())),
    ]
    .prop_map(|k| if let J::Str(k) = k { k } else { String::new() })
    .boxed()
}

/// Values of each kind that mostly still parse as that kind: what gets past the
/// first check to the code behind it.
fn kinds() -> impl Strategy<Value = Box<Kinds>> {
    let number = prop_oneof![
        2 => number(),
        2 => select(&[0u64, 1, 2, 999_999, 1_000_000, 1_000_001, 4_294_967_295, 100_000, 100_001][..]).prop_map(|n| J::Raw(n.to_string())),
    ];
    let string = prop_oneof![2 => strs(WORDS), 2 => string()];
    (decimal(), date(), number, string)
        .prop_map(|(decimal, date, number, string)| Box::new(Kinds { decimal, date, number, string }))
}

pub fn mutation() -> BoxedStrategy<Mutation> {
    let at = 0usize..256;
    prop_oneof![
        12 => (at.clone(), kinds()).prop_map(|(i, k)| Mutation::Typed(i, k)),
        4 => (at.clone(), hostile()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => at.clone().prop_map(Mutation::Remove),
        2 => (at.clone(), hostile(), any::<bool>()).prop_map(|(i, v, after)| Mutation::DuplicateKey(i, v, after)),
        1 => (at.clone(), key(), hostile()).prop_map(|(i, k, v)| Mutation::AddKey(i, k, v)),
        1 => at.clone().prop_map(Mutation::WrapInArray),
        1 => at.clone().prop_map(Mutation::WrapInObject),
        1 => (at.clone(), select(&[0usize, 2, 100, 5000][..])).prop_map(|(i, n)| Mutation::Repeat(i, n)),
        1 => (at, select(&[1usize, 127, 128, 129, 5000][..])).prop_map(|(i, d)| Mutation::Nest(i, d)),
        2 => select(FACTORS).prop_map(Mutation::ScaleDecimals),
        2 => prop_oneof![
            select(&[i64::MAX, i64::MIN, 86_400 * 365 * 8000, -86_400 * 365 * 2100, 1, -1][..]),
            -100_000_000_000i64..100_000_000_000,
        ]
        .prop_map(Mutation::ShiftDates),
    ]
    .boxed()
}

/// A change to the bytes of a finished body.
#[derive(Clone, Debug)]
pub enum Bytes {
    Keep,
    /// Cut after this share (per mille) of the body.
    Truncate(usize),
    /// Insert a byte that is not UTF-8 at this share (per mille).
    InvalidUtf8(usize),
    ByteOrderMark,
    Trailing(&'static str),
}

impl Bytes {
    pub fn apply(&self, mut body: Vec<u8>) -> Vec<u8> {
        let at = |per_mille: usize, len: usize| len * per_mille.min(1000) / 1000;
        match self {
            Bytes::Keep => {}
            Bytes::Truncate(p) => body.truncate(at(*p, body.len())),
            Bytes::InvalidUtf8(p) => body.insert(at(*p, body.len()), 0xff),
            Bytes::ByteOrderMark => body.splice(0..0, "\u{feff}".bytes()).for_each(drop),
            Bytes::Trailing(tail) => body.extend_from_slice(tail.as_bytes()),
        }
        body
    }
}

fn bytes() -> BoxedStrategy<Bytes> {
    prop_oneof![
        20 => Just(Bytes::Keep),
        1 => (0usize..1000).prop_map(Bytes::Truncate),
        1 => (0usize..1000).prop_map(Bytes::InvalidUtf8),
        1 => Just(Bytes::ByteOrderMark),
        1 => select(&["x", " ", "\n", "{}", ",", "\u{0}"][..]).prop_map(Bytes::Trailing),
    ]
    .boxed()
}

/// A request body: one of `templates` with one to three mutations (most of the time),
/// or random JSON, or something that is not JSON; then possibly a byte-level change.
pub fn body(templates: Vec<Value>) -> BoxedStrategy<Vec<u8>> {
    let templates: Vec<J> = templates.iter().map(J::from_value).collect();
    let mutations = prop_oneof![3 => vec(mutation(), 1..=1), 1 => vec(mutation(), 2..=3)];
    let mutated = (select(templates), mutations).prop_map(|(mut tree, mutations)| {
        mutations.iter().for_each(|m| m.apply(&mut tree));
        tree
    });
    let whole = prop_oneof![
        12 => mutated,
        2 => random_json(),
        1 => select(&["", " ", "null", "[]", "\"x\"", "{", "}", "{\"a\":}", "{}", "{\"a\":1,}", "{\"a\" 1}"][..])
            .prop_map(|s| J::Raw(s.into())),
    ];
    (whole, bytes()).prop_map(|(tree, change)| change.apply(tree.text().into_bytes())).boxed()
}

/// A hostile value for a path parameter, raw or percent-encoded; or one of `known`.
pub fn path_param(known: &'static [&'static str]) -> BoxedStrategy<String> {
    let hostile = string().prop_map(|j| if let J::Str(s) = j { s } else { String::new() });
    prop_oneof![
        1 => select(known).prop_map(str::to_string),
        2 => hostile.clone(),
        1 => hostile.prop_map(|s| percent_encode(&s)),
    ]
    .boxed()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
