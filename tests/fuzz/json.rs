//! A JSON tree that can hold what `serde_json::Value` cannot (duplicate keys, numbers
//! beyond `u64`/`f64`, `-0`, invalid literals), the mutations that turn a valid request
//! into a hostile one, and a short printable form of any body.

use rust_decimal::Decimal;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum J {
    /// Written verbatim: numbers of any size, `-0`, `NaN`, deep nesting.
    Raw(String),
    Str(String),
    Arr(Vec<J>),
    /// Entries in order; a key may appear twice.
    Obj(Vec<(String, J)>),
}

impl J {
    pub fn from_value(value: &Value) -> J {
        match value {
            Value::Object(map) => J::Obj(map.iter().map(|(k, v)| (k.clone(), J::from_value(v))).collect()),
            Value::Array(items) => J::Arr(items.iter().map(J::from_value).collect()),
            Value::String(s) => J::Str(s.clone()),
            other => J::Raw(other.to_string()),
        }
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            J::Raw(raw) => out.push_str(raw),
            J::Str(s) => out.push_str(&Value::String(s.clone()).to_string()),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::Obj(entries) => {
                out.push('{');
                for (i, (key, item)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    item.write(out);
                }
                out.push('}');
            }
        }
    }

    /// Every node, as the child positions leading to it from the root (the root first).
    fn paths(&self) -> Vec<Vec<usize>> {
        let mut all = vec![Vec::new()];
        let mut i = 0;
        while i < all.len() {
            let path = all[i].clone();
            let children = self.at(&path).map_or(0, J::children);
            all.extend((0..children).map(|c| [path.as_slice(), &[c]].concat()));
            i += 1;
        }
        all
    }

    fn children(&self) -> usize {
        match self {
            J::Arr(items) => items.len(),
            J::Obj(entries) => entries.len(),
            _ => 0,
        }
    }

    fn at(&self, path: &[usize]) -> Option<&J> {
        path.iter().try_fold(self, |node, &c| match node {
            J::Arr(items) => items.get(c),
            J::Obj(entries) => entries.get(c).map(|(_, v)| v),
            _ => None,
        })
    }

    fn at_mut(&mut self, path: &[usize]) -> Option<&mut J> {
        path.iter().try_fold(self, |node, &c| match node {
            J::Arr(items) => items.get_mut(c),
            J::Obj(entries) => entries.get_mut(c).map(|(_, v)| v),
            _ => None,
        })
    }
}

/// One change to a valid request. A node is picked by a number, modulo the count of the
/// nodes of the tree as it is when the mutation applies (0 is the root), so mutations
/// compose and shrink.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// A leaf (a string, number or literal) becomes the value of its own kind: a
    /// decimal string another decimal, a date another date, a number another number,
    /// any other string another string. Most such requests still look valid.
    Typed(usize, Box<Kinds>),
    Replace(usize, J),
    Remove(usize),
    /// The entry's key appears again with this value, after the entry (`true`: the
    /// duplicate wins in most parsers) or before it.
    DuplicateKey(usize, J, bool),
    AddKey(usize, String, J),
    WrapInArray(usize),
    WrapInObject(usize),
    /// The node becomes an array of `n` copies of itself (or of its first element).
    Repeat(usize, usize),
    /// The node becomes itself inside `depth` nested arrays.
    Nest(usize, usize),
    /// Every decimal string times this factor, to the cent: amounts stay consistent
    /// with each other (splits still add up to the total) while they grow or shrink.
    ScaleDecimals(&'static str),
    /// Every date moved by this many seconds: the periods keep their order.
    ShiftDates(i64),
}

/// A replacement of each kind, for [`Mutation::Typed`].
#[derive(Clone, Debug)]
pub struct Kinds {
    pub decimal: J,
    pub date: J,
    pub number: J,
    pub string: J,
}

impl Kinds {
    fn for_leaf(&self, leaf: &J) -> J {
        let decimal = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-');
        match leaf {
            J::Str(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => self.date.clone(),
            J::Str(s) if decimal(s) => self.decimal.clone(),
            J::Str(_) => self.string.clone(),
            _ => self.number.clone(),
        }
    }
}

impl Mutation {
    pub fn apply(&self, tree: &mut J) {
        let paths = tree.paths();
        let pick = |i: &usize| paths[i % paths.len()].clone();
        match self {
            Mutation::Typed(i, kinds) => {
                let leaves: Vec<&Vec<usize>> = paths
                    .iter()
                    .filter(|p| tree.at(p).is_some_and(|n| n.children() == 0 && !matches!(n, J::Arr(_) | J::Obj(_))))
                    .collect();
                let Some(path) = leaves.get(i % leaves.len().max(1)).map(|p| p.to_vec()) else { return };
                set(tree, &path, |leaf| kinds.for_leaf(&leaf));
            }
            Mutation::Replace(i, value) => set(tree, &pick(i), |_| value.clone()),
            Mutation::Remove(i) => edit_parent(tree, &pick(i), |entries, at| {
                entries.remove(at);
            }),
            Mutation::DuplicateKey(i, value, after) => edit_parent(tree, &pick(i), |entries, at| {
                let key = entries[at].0.clone();
                entries.insert(if *after { at + 1 } else { at }, (key, value.clone()));
            }),
            Mutation::AddKey(i, key, value) => {
                let objects: Vec<&Vec<usize>> =
                    paths.iter().filter(|p| matches!(tree.at(p), Some(J::Obj(_)))).collect();
                let Some(path) = objects.get(i % objects.len().max(1)).map(|p| p.to_vec()) else { return };
                if let Some(J::Obj(entries)) = tree.at_mut(&path) {
                    entries.push((key.clone(), value.clone()));
                }
            }
            Mutation::WrapInArray(i) => set(tree, &pick(i), |node| J::Arr(vec![node])),
            Mutation::WrapInObject(i) => set(tree, &pick(i), |node| J::Obj(vec![("value".into(), node)])),
            Mutation::Repeat(i, n) => set(tree, &pick(i), |node| match node {
                J::Arr(items) if !items.is_empty() => J::Arr(vec![items[0].clone(); *n]),
                other => J::Arr(vec![other; *n]),
            }),
            Mutation::Nest(i, depth) => set(tree, &pick(i), |node| {
                J::Raw(format!("{}{}{}", "[".repeat(*depth), node.text(), "]".repeat(*depth)))
            }),
            Mutation::ScaleDecimals(factor) => tree.each_string(&|s| scaled(s, factor)),
            Mutation::ShiftDates(seconds) => tree.each_string(&|s| shifted(s, *seconds)),
        }
    }
}

fn scaled(text: &str, factor: &str) -> Option<String> {
    let (value, factor) = (text.parse::<Decimal>().ok()?, factor.parse::<Decimal>().ok()?);
    Some(value.checked_mul(factor).map_or_else(|| Decimal::MAX.to_string(), |v| v.round_dp(2).to_string()))
}

fn shifted(text: &str, seconds: i64) -> Option<String> {
    let at = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(at.checked_add_signed(chrono::Duration::try_seconds(seconds)?)?.to_rfc3339())
}

impl J {
    /// Replaces every string for which `f` has a replacement.
    fn each_string(&mut self, f: &dyn Fn(&str) -> Option<String>) {
        match self {
            J::Str(s) => {
                if let Some(new) = f(s) {
                    *s = new;
                }
            }
            J::Arr(items) => items.iter_mut().for_each(|i| i.each_string(f)),
            J::Obj(entries) => entries.iter_mut().for_each(|(_, v)| v.each_string(f)),
            J::Raw(_) => {}
        }
    }
}

fn set(tree: &mut J, path: &[usize], f: impl FnOnce(J) -> J) {
    if let Some(node) = tree.at_mut(path) {
        let old = std::mem::replace(node, J::Raw("null".into()));
        *node = f(old);
    }
}

/// Applies `f` to the object entries holding the node at `path` (array elements count
/// as entries with an empty key), with the node's position.
fn edit_parent(tree: &mut J, path: &[usize], f: impl FnOnce(&mut Vec<(String, J)>, usize)) {
    let Some((&at, parent)) = path.split_last() else { return };
    match tree.at_mut(parent) {
        Some(J::Obj(entries)) => f(entries, at),
        Some(J::Arr(items)) => {
            let mut entries: Vec<(String, J)> = items.drain(..).map(|v| (String::new(), v)).collect();
            f(&mut entries, at);
            items.extend(entries.into_iter().map(|(_, v)| v));
        }
        _ => {}
    }
}

/// A body as a reader wants to see it: runs of one character longer than 12 shown as
/// `⟪c×n⟫`, control characters escaped, and the whole cut to about 1500 characters.
pub fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let shown = if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() };
        if run > 12 {
            out.push_str(&format!("⟪{shown}×{run}⟫"));
            i += run;
        } else {
            out.push_str(&shown);
            i += 1;
        }
    }
    if out.chars().count() > 1500 {
        let head: String = out.chars().take(1200).collect();
        let tail: String = out.chars().rev().take(200).collect::<Vec<_>>().into_iter().rev().collect();
        out = format!("{head} ⟪…⟫ {tail}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_and_raw_numbers_are_written_as_given() {
        let mut tree = J::from_value(&serde_json::json!({"a": 1}));
        Mutation::DuplicateKey(1, J::Raw("18446744073709551616".into()), true).apply(&mut tree);
        assert_eq!(tree.text(), r#"{"a":1,"a":18446744073709551616}"#);
    }

    #[test]
    fn long_runs_are_shown_counted() {
        assert_eq!(show(format!("\"{}\"", "a".repeat(10_240)).as_bytes()), "\"⟪a×10240⟫\"");
    }
}
