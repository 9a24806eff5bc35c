//! `env:` in list form (`[A=1, B]`) or mapping form (`{A: 1}`), every name
//! checked and unique.

use std::collections::BTreeMap;

use super::convert::{Cx, FromYaml, LooseString, from_text};
use crate::diag::{Diagnostic, Span};
use crate::grammar::{EnvEntry, EnvValue, Template};
use crate::yaml::{Node, Value};

/// Env in list form (`[A=1, B]`) or mapping form (`{A: 1}`), names unique.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvList(pub Vec<EnvEntry>);

impl FromYaml for EnvList {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let before = cx.error_count();
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        let mut out = Vec::new();
        let mut add = |entry: EnvEntry, span: Span, cx: &mut Cx| {
            if let Some(first) = seen.get(&entry.name) {
                cx.push(
                    Diagnostic::error(
                        "dstack::config::duplicate_env",
                        format!("`{}` is set twice", entry.name),
                    )
                    .at(span, "set again here")
                    .also(*first, "first set here"),
                );
            } else {
                seen.insert(entry.name.clone(), span);
                out.push(entry);
            }
        };
        match &node.value {
            Value::Seq(items) => {
                for item in items {
                    let Some(text) = String::from_yaml(item, cx) else {
                        continue;
                    };
                    if let Some(entry) =
                        from_text::<EnvEntry>(item, &text, cx, "dstack::config::invalid_env")
                    {
                        add(entry, item.span, cx);
                    }
                }
            }
            Value::Map(entries) => {
                for e in entries {
                    if let Err(err) = crate::grammar::check_env_name(&e.key) {
                        cx.push(
                            Diagnostic::error("dstack::config::invalid_env", err.message)
                                .at(e.key_span, "here"),
                        );
                        continue;
                    }
                    if e.value.value == Value::Null {
                        cx.push(
                            Diagnostic::error("dstack::config::invalid_env", format!("`{}` has no value", e.key))
                                .at(e.key_span, "null value")
                                .help(format!("write `{}: \"\"` for an empty value, or use the list form `- {}` to inherit it", e.key, e.key)),
                        );
                        continue;
                    }
                    let Some(LooseString(text)) = LooseString::from_yaml(&e.value, cx) else {
                        continue;
                    };
                    if let Some(value) =
                        from_text::<Template>(&e.value, &text, cx, "dstack::config::invalid_env")
                    {
                        add(
                            EnvEntry {
                                name: e.key.clone(),
                                value: EnvValue::Set(value),
                            },
                            e.key_span,
                            cx,
                        );
                    }
                }
            }
            _ => {
                cx.expected(
                    node,
                    "a list (`- NAME=value`) or mapping (`NAME: value`) of environment variables",
                );
                return None;
            }
        }
        (cx.error_count() == before).then_some(EnvList(out))
    }
}
