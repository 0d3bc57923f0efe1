//! The values a template works on: Go's dynamic values, as far as commit templates need them.

use std::fmt::{self, Write as _};
use std::rc::Rc;

/// A Go value as `text/template` sees it.
#[derive(Debug, Clone)]
pub enum Value {
    /// A missing map entry (Go's invalid value): prints `<no value>`.
    Missing,
    /// `nil`: prints `<nil>`.
    Nil,
    /// A bool.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Rc<str>),
    /// A slice.
    List(Rc<Vec<Value>>),
    /// A map, kept in Go's iteration order for templates (sorted by key).
    Map(Rc<Vec<(Value, Value)>>),
    /// A struct: a type name for messages, its fields, and how it prints.
    Struct(Rc<Struct>),
}

/// A struct value.
#[derive(Debug)]
pub struct Struct {
    /// Go type name, e.g. `update.Change`.
    pub type_name: &'static str,
    /// Fields (and niladic methods) by name.
    pub fields: Vec<(&'static str, Value)>,
    /// What `%v` prints (a `String()` method, or Go's `{a b}` form).
    pub display: String,
}

impl Value {
    /// A string value.
    #[must_use]
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::Str(Rc::from(s.as_ref()))
    }

    /// A map from string keys, sorted as Go's template `range` iterates it.
    #[must_use]
    pub fn string_map<K: AsRef<str>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        let mut v: Vec<(Value, Value)> = entries
            .into_iter()
            .map(|(k, v)| (Value::str(k), v))
            .collect();
        v.sort_by_key(|a| sort_key(&a.0));
        Value::Map(Rc::new(v))
    }

    /// A struct whose `%v` is Go's `{field field}` form unless `display` is given.
    #[must_use]
    pub fn structure(
        type_name: &'static str,
        fields: Vec<(&'static str, Value)>,
        display: Option<String>,
    ) -> Value {
        let display = display.unwrap_or_else(|| {
            let parts: Vec<String> = fields.iter().map(|(_, v)| v.to_string()).collect();
            format!("{{{}}}", parts.join(" "))
        });
        Value::Struct(Rc::new(Struct {
            type_name,
            fields,
            display,
        }))
    }

    /// Go's truth: false, 0, nil, and empty strings, slices and maps are false.
    #[must_use]
    pub fn truthy(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Struct(_) => true,
        }
    }

    /// The Go type name, for messages.
    #[must_use]
    pub fn type_name(&self) -> &str {
        match self {
            Value::Missing => "<no value>",
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map",
            Value::Struct(s) => s.type_name,
        }
    }

    /// A field of a struct or an entry of a string-keyed map.
    pub(crate) fn field(&self, name: &str) -> Result<Value, String> {
        match self {
            Value::Struct(s) => s
                .fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("can't evaluate field {name} in type {}", s.type_name)),
            Value::Map(m) => Ok(m
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if &**s == name))
                .map_or(Value::Missing, |(_, v)| v.clone())),
            Value::Missing | Value::Nil => Err(format!("nil pointer evaluating .{name}")),
            other => Err(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            )),
        }
    }

    /// The text of a string value (other values as printed).
    #[must_use]
    pub fn as_text(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            other => other.to_string(),
        }
    }
}

/// How Go's `fmtsort` orders map keys: numbers by value, strings byte-wise, structs field by
/// field.
pub(crate) fn sort_key(v: &Value) -> SortKey {
    match v {
        Value::Int(i) => SortKey::Num(*i as f64),
        Value::Float(f) => SortKey::Num(*f),
        Value::Str(s) => SortKey::Text(s.to_string()),
        Value::Struct(s) => SortKey::Fields(s.fields.iter().map(|(_, v)| sort_key(v)).collect()),
        other => SortKey::Text(other.to_string()),
    }
}

#[derive(Debug)]
pub(crate) enum SortKey {
    Num(f64),
    Text(String),
    Fields(Vec<SortKey>),
}

impl PartialEq for SortKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for SortKey {}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |k: &SortKey| match k {
            SortKey::Num(_) => 0,
            SortKey::Text(_) => 1,
            SortKey::Fields(_) => 2,
        };
        match (self, other) {
            (SortKey::Num(a), SortKey::Num(b)) => a.total_cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            (SortKey::Fields(a), SortKey::Fields(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

impl fmt::Display for Value {
    /// Go's `%v`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Missing => f.write_str("<no value>"),
            Value::Nil => f.write_str("<nil>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&go_float(*x)),
            Value::Str(s) => f.write_str(s),
            Value::List(l) => {
                f.write_char('[')?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_char(']')
            }
            Value::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_char(']')
            }
            Value::Struct(s) => f.write_str(&s.display),
        }
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(x, 'g', -1, 64)` with Go's exponent form).
pub(crate) fn go_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let abs = x.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let s = format!("{x}");
    s
}
