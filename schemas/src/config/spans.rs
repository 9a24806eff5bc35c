//! Where every value of a file is, by JSON pointer (`/resources/gpu`,
//! `/fleets/0`), so later stages (graph, plan) can point at YAML.

use std::collections::BTreeMap;

use crate::diag::Span;
use crate::yaml::{Node, Value};

/// JSON pointer → (key span, value span).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanIndex {
    spans: BTreeMap<String, (Option<Span>, Span)>,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl SpanIndex {
    /// Indexes every node of a tree.
    pub fn build(root: &Node) -> Self {
        let mut index = SpanIndex::default();
        index.walk(root, String::new(), None);
        index
    }

    fn walk(&mut self, node: &Node, pointer: String, key: Option<Span>) {
        self.spans.insert(pointer.clone(), (key, node.span));
        match &node.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(item, format!("{pointer}/{i}"), None);
                }
            }
            Value::Map(entries) => {
                for e in entries {
                    self.walk(
                        &e.value,
                        format!("{pointer}/{}", escape(&e.key)),
                        Some(e.key_span),
                    );
                }
            }
            _ => {}
        }
    }

    /// The span of the value at `pointer`.
    pub fn value(&self, pointer: &str) -> Option<Span> {
        self.spans.get(pointer).map(|(_, v)| *v)
    }

    /// The span best for a label: the key for mappings and lists (their
    /// value spans are empty), the value otherwise.
    pub fn label(&self, pointer: &str) -> Option<Span> {
        let (key, value) = self.spans.get(pointer)?;
        match key {
            Some(k) if value.len == 0 => Some(*k),
            _ => Some(*value),
        }
    }

    /// The label span of the nearest indexed ancestor of `pointer` (itself first).
    pub fn nearest(&self, pointer: &str) -> Span {
        let mut p = pointer.to_string();
        loop {
            if let Some(span) = self.label(&p) {
                return span;
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => return Span::default(),
            }
        }
    }
}
