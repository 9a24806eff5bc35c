//! `${{ namespace.name }}` interpolation in strings (spec §3.10); `$$`
//! escapes `$`. Which namespaces a field allows is checked by the config
//! layer; this module only splits text into literals and references.

use std::fmt;
use std::str::FromStr;

use super::GrammarError;

/// A reference such as `secrets.HF_TOKEN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TemplateVar {
    /// `env`, `secrets`, `run`, `dstack`, `groups`, `variables`, ...
    pub namespace: String,
    /// What follows the namespace: `HF_TOKEN`, `args`, `[0].nodes[1].IP_ADDRESS`;
    /// empty for a bare `${{ name }}` (2022 workflow variables).
    pub name: String,
    /// Byte offset of `${{` in the source text.
    pub offset: usize,
    /// Byte length of the whole `${{ ... }}`.
    pub len: usize,
}

impl TemplateVar {
    /// `namespace.name` as written (without the braces).
    pub fn path(&self) -> String {
        if self.name.starts_with('[') || self.name.is_empty() {
            format!("{}{}", self.namespace, self.name)
        } else {
            format!("{}.{}", self.namespace, self.name)
        }
    }
}

/// A literal piece or a reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TemplatePart {
    /// Text as is (after `$$` unescaping).
    Literal(String),
    /// A `${{ ... }}` reference.
    Var(TemplateVar),
}

/// A string that may contain `${{ }}` references.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// The pieces in order.
    pub parts: Vec<TemplatePart>,
}

impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Template {}

impl std::hash::Hash for Template {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_string().hash(state);
    }
}

impl Template {
    /// A template with no references.
    pub fn literal(text: impl Into<String>) -> Self {
        Self {
            parts: vec![TemplatePart::Literal(text.into())],
        }
    }

    /// The references, in order.
    pub fn vars(&self) -> impl Iterator<Item = &TemplateVar> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Var(v) => Some(v),
            TemplatePart::Literal(_) => None,
        })
    }

    /// Substitutes references with `lookup`; `Err` names the first unresolved one.
    pub fn render(
        &self,
        mut lookup: impl FnMut(&TemplateVar) -> Option<String>,
    ) -> Result<String, TemplateVar> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(text) => out.push_str(text),
                TemplatePart::Var(var) => out.push_str(&lookup(var).ok_or_else(|| var.clone())?),
            }
        }
        Ok(out)
    }

    /// Substitutes only the namespaces `lookup` knows, keeping other references.
    pub fn resolve_some(&self, mut lookup: impl FnMut(&TemplateVar) -> Option<String>) -> Template {
        let mut parts: Vec<TemplatePart> = Vec::new();
        for part in &self.parts {
            let text = match part {
                TemplatePart::Var(var) => match lookup(var) {
                    Some(value) => value,
                    None => {
                        parts.push(part.clone());
                        continue;
                    }
                },
                TemplatePart::Literal(text) => text.clone(),
            };
            match parts.last_mut() {
                Some(TemplatePart::Literal(prev)) => prev.push_str(&text),
                _ => parts.push(TemplatePart::Literal(text)),
            }
        }
        Template { parts }
    }
}

fn parse_var(inner: &str, offset: usize, len: usize) -> Result<TemplateVar, GrammarError> {
    let expr = inner.trim();
    let split = expr.find(['.', '[']).unwrap_or(expr.len());
    let (namespace, rest) = expr.split_at(split);
    let name = rest.strip_prefix('.').unwrap_or(rest);
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let rest_ok = name
        .split(['.', '[', ']'])
        .filter(|s| !s.is_empty())
        .all(ident);
    let bare = rest.is_empty();
    if !ident(namespace) || (!bare && name.is_empty()) || !rest_ok {
        return Err(GrammarError::at(
            offset,
            len,
            format!("`${{{{ {expr} }}}}` is not a valid reference"),
        )
        .help(
            "references look like `${{ secrets.NAME }}`, `${{ env.NAME }}` or `${{ run.args }}`",
        ));
    }
    Ok(TemplateVar {
        namespace: namespace.to_string(),
        name: name.to_string(),
        offset,
        len,
    })
}

impl FromStr for Template {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(dollar) = rest.find('$') {
            literal.push_str(&rest[..dollar]);
            let after = &rest[dollar..];
            let at = offset + dollar;
            if let Some(tail) = after.strip_prefix("$$") {
                literal.push('$');
                rest = tail;
                offset = at + 2;
            } else if let Some(body) = after.strip_prefix("${{") {
                let Some(close) = body.find("}}") else {
                    return Err(
                        GrammarError::at(at, after.len(), "`${{` is not closed with `}}`")
                            .help("write `$${{` for a literal `${{`"),
                    );
                };
                let len = 3 + close + 2;
                if !literal.is_empty() {
                    parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
                }
                parts.push(TemplatePart::Var(parse_var(&body[..close], at, len)?));
                rest = &after[len..];
                offset = at + len;
            } else {
                literal.push('$');
                rest = &after[1..];
                offset = at + 1;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() || parts.is_empty() {
            parts.push(TemplatePart::Literal(literal));
        }
        Ok(Self { parts })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                TemplatePart::Var(var) => write!(f, "${{{{ {} }}}}", var.path())?,
                TemplatePart::Literal(text) => {
                    let next_is_var = matches!(self.parts.get(i + 1), Some(TemplatePart::Var(_)));
                    let chars: Vec<char> = text.chars().collect();
                    for (j, c) in chars.iter().enumerate() {
                        // A `$` must be doubled when what follows would make it
                        // special: another `$`, or `{{`, or a reference.
                        let next = chars.get(j + 1);
                        let special = *c == '$'
                            && match next {
                                Some('$') => true,
                                Some('{') => chars.get(j + 2) == Some(&'{'),
                                Some(_) => false,
                                None => next_is_var,
                            };
                        if special {
                            f.write_str("$$")?;
                        } else {
                            write!(f, "{c}")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Template {
        text.parse().unwrap()
    }

    #[test]
    fn references() {
        let tpl = t("python train.py ${{ run.args }} --token=${{secrets.HF}}");
        let vars: Vec<String> = tpl.vars().map(|v| v.path()).collect();
        assert_eq!(vars, ["run.args", "secrets.HF"]);
        assert_eq!(t("$$x $HOME").to_string(), "$x $HOME");
        let g = t("${{ groups[0].nodes[1].IP_ADDRESS }}");
        assert_eq!(g.vars().next().unwrap().namespace, "groups");
    }

    #[test]
    fn errors() {
        assert!("${{ run.args".parse::<Template>().is_err());
        assert!("${{ }}".parse::<Template>().is_err());
        assert!("${{ a b }}".parse::<Template>().is_err());
    }

    #[test]
    fn display_round_trips_dollars() {
        for text in [
            "$$",
            "$${{ x }}",
            "a$",
            "$$$${{ env.A }}",
            "echo $$ $ {",
            "$${{ env.X }}",
        ] {
            let parsed = t(text);
            assert_eq!(t(&parsed.to_string()), parsed, "{text} -> {parsed}");
        }
    }

    #[test]
    fn render() {
        let tpl = t("a=${{ env.A }}");
        assert_eq!(tpl.render(|_| Some("1".into())).unwrap(), "a=1");
        assert!(tpl.render(|_| None).is_err());
    }
}
