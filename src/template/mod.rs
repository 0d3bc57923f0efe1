//! Flux commit message templates: a subset of Go's `text/template` with the common Sprig
//! functions, rendering the same text as Flux's image-automation-controller.
//!
//! [`GoTemplate::parse`] does what Flux's controller finds out only when it commits: syntax
//! errors, functions that are not defined (or Sprig functions deckhand lacks), and the removed
//! `.Updated` / `.Changed.ImageResult` fields are errors naming them, and the template is tried
//! once on sample data so that a field that does not exist is caught at load time.
//! [`flux_data`] builds Flux's `TemplateData` from the changes of a pass; maps are iterated in
//! sorted order, so the message is deterministic.

mod exec;
mod funcs;
mod parse;
mod value;

use std::collections::BTreeMap;

pub use value::{Struct, Value};

use parse::{Arg, Node, Nodes, Pipeline};

/// A template that does not parse, uses something unsupported, or fails to render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// A parsed Go template.
#[derive(Debug, Clone)]
pub struct GoTemplate {
    source: String,
    nodes: Nodes,
}

impl GoTemplate {
    /// Parses a Flux `messageTemplate` and checks it against Flux's template data.
    ///
    /// # Errors
    /// A syntax error, an undefined or unsupported function, a removed field (`.Updated`,
    /// `.Changed.ImageResult`), or a field the template data does not have — each named.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let nodes = parse::parse(source)?;
        check_nodes(&nodes)?;
        let template = GoTemplate {
            source: source.to_owned(),
            nodes,
        };
        template.render(&sample_data())?;
        Ok(template)
    }

    /// The template as written.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template with `data` (see [`flux_data`]).
    ///
    /// # Errors
    /// A failure during execution (wrong argument types, a field that does not exist, …).
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        exec::run(&self.nodes, data).map_err(|e| removed_field(&e).unwrap_or(e))
    }
}

/// Parses and renders `template` in one go.
///
/// # Errors
/// As [`GoTemplate::parse`] and [`GoTemplate::render`].
pub fn render_go(template: &str, data: &Value) -> Result<String, TemplateError> {
    let nodes = parse::parse(template)?;
    check_nodes(&nodes)?;
    exec::run(&nodes, data).map_err(|e| removed_field(&e).unwrap_or(e))
}

/// Flux's message for the removed fields.
fn removed_field(e: &TemplateError) -> Option<TemplateError> {
    if e.0
        .contains("can't evaluate field Updated in type source.TemplateData")
    {
        return Some(TemplateError(
            "template uses removed '.Updated' field. Please use '.Changed' instead".into(),
        ));
    }
    if e.0
        .contains("can't evaluate field ImageResult in type update.Result")
    {
        return Some(TemplateError(
            "template uses removed '.Changed.ImageResult' field. Please use \
             '.Changed.FileChanges' or '.Changed.Objects' instead"
                .into(),
        ));
    }
    None
}

/// Static checks: every function is known, and no chain names a removed field.
fn check_nodes(nodes: &[Node]) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(_) | Node::Break | Node::Continue => {}
            Node::Action { line, pipe } => check_pipe(pipe, *line)?,
            Node::If {
                line,
                branches,
                otherwise,
            } => {
                for (pipe, body) in branches {
                    check_pipe(pipe, *line)?;
                    check_nodes(body)?;
                }
                if let Some(body) = otherwise {
                    check_nodes(body)?;
                }
            }
            Node::Range {
                line,
                pipe,
                body,
                otherwise,
            }
            | Node::With {
                line,
                pipe,
                body,
                otherwise,
            } => {
                check_pipe(pipe, *line)?;
                check_nodes(body)?;
                if let Some(body) = otherwise {
                    check_nodes(body)?;
                }
            }
        }
    }
    Ok(())
}

fn check_pipe(pipe: &Pipeline, line: usize) -> Result<(), TemplateError> {
    for cmd in &pipe.cmds {
        for arg in &cmd.args {
            match arg {
                Arg::Ident(name) => {
                    funcs::check(name).map_err(|m| TemplateError(format!("line {line}: {m}")))?;
                }
                Arg::Sub(inner, _) => check_pipe(inner, line)?,
                Arg::Field(chain) | Arg::Var(_, chain) => {
                    if chain
                        .windows(2)
                        .any(|w| w[0] == "Changed" && w[1] == "ImageResult")
                    {
                        return Err(TemplateError(format!(
                            "line {line}: template uses removed '.Changed.ImageResult' field. \
                             Please use '.Changed.FileChanges' or '.Changed.Objects' instead"
                        )));
                    }
                    let root = matches!(arg, Arg::Var(n, _) if n == "$");
                    if root && chain.first().is_some_and(|f| f == "Updated") {
                        return Err(TemplateError(format!(
                            "line {line}: template uses removed '.Updated' field. Please use \
                             '.Changed' instead"
                        )));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

pub use crate::manifest::ObjectId;

/// One change, as Flux records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxChange {
    /// The file, relative to `update.path`, with `/` separators.
    pub file: String,
    /// The object in the file.
    pub object: ObjectId,
    /// Value before.
    pub old_value: String,
    /// Value after.
    pub new_value: String,
    /// The marker's `$imagepolicy` value (`flux-system:web`, `flux-system:web:tag`).
    pub setter: String,
}

fn object_value(id: &ObjectId) -> Value {
    let s = Value::str;
    // ObjectIdentifier{ResourceIdentifier{TypeMeta{APIVersion, Kind}, NameMeta{Name, Namespace}}}
    // prints as Go's nested struct form; the embedded fields are promoted.
    let display = format!(
        "{{{{{{{} {}}} {{{} {}}}}}}}",
        id.api_version, id.kind, id.name, id.namespace
    );
    Value::structure(
        "update.ObjectIdentifier",
        vec![
            ("APIVersion", s(&id.api_version)),
            ("Kind", s(&id.kind)),
            ("Name", s(&id.name)),
            ("Namespace", s(&id.namespace)),
        ],
        Some(display),
    )
}

fn change_value(c: &FluxChange) -> Value {
    Value::structure(
        "update.Change",
        vec![
            ("OldValue", Value::str(&c.old_value)),
            ("NewValue", Value::str(&c.new_value)),
            ("Setter", Value::str(&c.setter)),
        ],
        None,
    )
}

/// Flux's `TemplateData`: `.AutomationObject` (prints `namespace/name`), `.Changed`
/// (`.FileChanges`, `.Objects`, `.Changes`) and `.Values`.
#[must_use]
pub fn flux_data(
    automation_namespace: &str,
    automation_name: &str,
    changes: &[FluxChange],
    values: &BTreeMap<String, String>,
) -> Value {
    // file -> object -> changes, in the order the changes came.
    let mut files: BTreeMap<&str, BTreeMap<&ObjectId, Vec<&FluxChange>>> = BTreeMap::new();
    for c in changes {
        files
            .entry(&c.file)
            .or_default()
            .entry(&c.object)
            .or_default()
            .push(c);
    }
    let object_map = |objects: &BTreeMap<&ObjectId, Vec<&FluxChange>>| -> Value {
        let mut entries: Vec<(Value, Value)> = objects
            .iter()
            .map(|(id, cs)| {
                (
                    object_value(id),
                    Value::List(std::rc::Rc::new(
                        cs.iter().map(|c| change_value(c)).collect(),
                    )),
                )
            })
            .collect();
        entries.sort_by_key(|a| value::sort_key(&a.0));
        Value::Map(std::rc::Rc::new(entries))
    };
    let file_changes =
        Value::string_map(files.iter().map(|(f, objects)| (*f, object_map(objects))));
    // Objects(): merged across files (appended, as Flux 1.2 does).
    let mut merged: BTreeMap<&ObjectId, Vec<&FluxChange>> = BTreeMap::new();
    for objects in files.values() {
        for (id, cs) in objects {
            merged.entry(id).or_default().extend(cs.iter().copied());
        }
    }
    // Changes(): de-duplicated, in file, object, change order.
    let mut seen: Vec<(&str, &str, &str)> = Vec::new();
    let mut all = Vec::new();
    for cs in files.values().flat_map(BTreeMap::values) {
        for c in cs {
            let key = (
                c.old_value.as_str(),
                c.new_value.as_str(),
                c.setter.as_str(),
            );
            if !seen.contains(&key) {
                seen.push(key);
                all.push(change_value(c));
            }
        }
    }
    let changed = Value::structure(
        "update.Result",
        vec![
            ("FileChanges", file_changes),
            ("Objects", object_map(&merged)),
            ("Changes", Value::List(std::rc::Rc::new(all))),
        ],
        None,
    );
    let automation = Value::structure(
        "types.NamespacedName",
        vec![
            ("Namespace", Value::str(automation_namespace)),
            ("Name", Value::str(automation_name)),
        ],
        Some(format!("{automation_namespace}/{automation_name}")),
    );
    Value::structure(
        "source.TemplateData",
        vec![
            ("AutomationObject", automation),
            ("Changed", changed),
            (
                "Values",
                Value::string_map(values.iter().map(|(k, v)| (k, Value::str(v)))),
            ),
        ],
        None,
    )
}

/// Data for the load-time trial render: two files, two objects, two changes.
fn sample_data() -> Value {
    let deployment = ObjectId {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: "web".into(),
        namespace: "default".into(),
    };
    let changes = [
        FluxChange {
            file: "apps/web.yaml".into(),
            object: deployment,
            old_value: "reg.example/web:1.0.0".into(),
            new_value: "reg.example/web:1.1.0".into(),
            setter: "flux-system:web".into(),
        },
        FluxChange {
            file: "compose/docker-compose.yml".into(),
            object: ObjectId::default(),
            old_value: "1.0.0".into(),
            new_value: "1.1.0".into(),
            setter: "flux-system:api:tag".into(),
        },
    ];
    flux_data("flux-system", "sample", &changes, &BTreeMap::new())
}

#[cfg(test)]
mod tests;
