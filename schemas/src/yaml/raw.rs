//! The parser's side of YAML reading: serde-saphyr deserialises into these
//! raw spanned values, which become [`Node`]s with byte spans and source
//! spellings.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::{Entry, Node, Value};
use crate::diag::{SourceFile, Span};

/// The byte span of a parser location (its line and column when the
/// parser gives no offset).
pub(super) fn span_of(file: &SourceFile, location: Location) -> Span {
    let span = location.span();
    match (span.byte_offset(), span.byte_len()) {
        (Some(offset), Some(len)) => Span::new(offset as usize, len as usize),
        _ => Span::new(
            file.offset_of(location.line() as usize, location.column() as usize),
            0,
        ),
    }
}

/// What serde-saphyr hands us: values wrapped in its `Spanned`.
#[derive(Debug)]
enum RawValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<RawNode>),
    Map(Vec<(Spanned<RawKey>, RawNode)>),
}

/// One parsed value with its spans, as the parser hands it over.
#[derive(Debug)]
pub(super) struct RawNode(Spanned<RawValue>);

#[derive(Debug)]
struct RawKey(Result<String, &'static str>);

impl RawNode {
    /// The spanned [`Node`], stopping (and recording where) at `max_depth`.
    pub(super) fn into_node(
        self,
        file: &SourceFile,
        depth: usize,
        max_depth: usize,
        depth_error: &mut Option<Span>,
    ) -> Node {
        let Spanned {
            value,
            referenced,
            defined,
        } = self.0;
        let span = span_of(file, referenced);
        let spelling = || {
            let text = file.slice(span_of(file, defined)).trim();
            text.to_string()
        };
        let nested = matches!(value, RawValue::Seq(_) | RawValue::Map(_));
        if nested && depth >= max_depth {
            depth_error.get_or_insert(span);
            return Node {
                value: Value::Null,
                span,
            };
        }
        let mut recurse = |n: RawNode| n.into_node(file, depth + 1, max_depth, depth_error);
        let value = match value {
            RawValue::Null => Value::Null,
            RawValue::Bool(b) => Value::Bool(b, spelling_or(spelling(), || b.to_string())),
            RawValue::Int(i) => Value::Int(i, spelling_or(spelling(), || i.to_string())),
            RawValue::Float(f) => Value::Float(f, spelling_or(spelling(), || f.to_string())),
            RawValue::Str(s) => Value::Str(s),
            RawValue::Seq(items) => Value::Seq(items.into_iter().map(&mut recurse).collect()),
            RawValue::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(key, value)| Entry {
                        key: key.value.0.unwrap_or_default(),
                        key_span: span_of(file, key.referenced),
                        value: recurse(value),
                    })
                    .collect(),
            ),
        };
        Node { value, span }
    }
}

fn spelling_or(spelling: String, fallback: impl FnOnce() -> String) -> String {
    if spelling.is_empty() || spelling.starts_with('*') {
        fallback()
    } else {
        spelling
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Spanned::<RawValue>::deserialize(d).map(RawNode)
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }

    fn visit_none<E>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        RawValue::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<RawValue, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => RawValue::Int(i),
            Err(_) => RawValue::Float(v as f64),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<RawValue, E> {
        Ok(RawValue::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<RawNode>()? {
            items.push(item);
        }
        Ok(RawValue::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawKey>>()? {
            let value = map.next_value::<RawNode>()?;
            entries.push((key, value));
        }
        Ok(RawValue::Map(entries))
    }
}

impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = RawKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar mapping key")
    }

    fn visit_unit<E>(self) -> Result<RawKey, E> {
        Ok(RawKey(Ok("null".into())))
    }

    fn visit_bool<E>(self, v: bool) -> Result<RawKey, E> {
        Ok(RawKey(Ok(v.to_string())))
    }

    fn visit_i64<E>(self, v: i64) -> Result<RawKey, E> {
        Ok(RawKey(Ok(v.to_string())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<RawKey, E> {
        Ok(RawKey(Ok(v.to_string())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<RawKey, E> {
        Ok(RawKey(Ok(v.to_string())))
    }

    fn visit_str<E>(self, v: &str) -> Result<RawKey, E> {
        Ok(RawKey(Ok(v.to_string())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<RawKey, A::Error> {
        Err(de::Error::custom("a list cannot be a mapping key"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<RawKey, A::Error> {
        Err(de::Error::custom("a mapping cannot be a mapping key"))
    }
}
