//! Executing a parsed template against a [`Value`].

use std::rc::Rc;

use super::TemplateError;
use super::funcs;
use super::parse::{Arg, Command, Node, Pipeline};
use super::value::Value;

/// Control flow out of a list of nodes.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Guard against runaway templates (`range` over huge `until`s and the like).
const MAX_OUTPUT: usize = 1 << 20;

pub(crate) struct Exec {
    vars: Vec<(String, Value)>,
    out: String,
    line: usize,
}

pub(crate) fn run(nodes: &[Node], data: &Value) -> Result<String, TemplateError> {
    let mut e = Exec {
        vars: vec![("$".to_owned(), data.clone())],
        out: String::new(),
        line: 1,
    };
    e.list(nodes, data)?;
    Ok(e.out)
}

impl Exec {
    fn fail(&self, message: impl std::fmt::Display) -> TemplateError {
        TemplateError(format!("line {}: {message}", self.line))
    }

    fn list(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for node in nodes {
            match self.node(node, dot)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
            if self.out.len() > MAX_OUTPUT {
                return Err(self.fail("the message grew past 1 MiB"));
            }
        }
        Ok(Flow::Normal)
    }

    /// Runs `nodes` in a variable scope of their own.
    fn scoped(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        let mark = self.vars.len();
        let flow = self.list(nodes, dot);
        self.vars.truncate(mark);
        flow
    }

    fn node(&mut self, node: &Node, dot: &Value) -> Result<Flow, TemplateError> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action { line, pipe } => {
                self.line = *line;
                let v = self.pipeline(pipe, dot)?;
                if pipe.vars.is_empty() {
                    self.out.push_str(&v.to_string());
                }
            }
            Node::If {
                line,
                branches,
                otherwise,
            } => {
                let mark = self.vars.len();
                let mut flow = None;
                for (pipe, body) in branches {
                    self.line = *line;
                    if self.pipeline(pipe, dot)?.truthy() {
                        flow = Some(self.list(body, dot)?);
                        break;
                    }
                }
                let flow = match (flow, otherwise) {
                    (Some(f), _) => f,
                    (None, Some(body)) => self.list(body, dot)?,
                    (None, None) => Flow::Normal,
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::With {
                line,
                pipe,
                body,
                otherwise,
            } => {
                self.line = *line;
                let mark = self.vars.len();
                let v = self.pipeline(pipe, dot)?;
                let flow = if v.truthy() {
                    self.list(body, &v)?
                } else if let Some(body) = otherwise {
                    self.list(body, dot)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range {
                line,
                pipe,
                body,
                otherwise,
            } => {
                self.line = *line;
                return self.range(pipe, body, otherwise.as_deref(), dot);
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        pipe: &Pipeline,
        body: &[Node],
        otherwise: Option<&[Node]>,
        dot: &Value,
    ) -> Result<Flow, TemplateError> {
        // The variables are bound per element, not to the pipeline's value.
        let bare = Pipeline {
            vars: Vec::new(),
            assign: false,
            cmds: pipe.cmds.clone(),
        };
        let value = self.pipeline(&bare, dot)?;
        let items: Vec<(Value, Value)> = match &value {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i64::try_from(i).unwrap_or(i64::MAX)), v.clone()))
                .collect(),
            Value::Map(m) => m.iter().cloned().collect(),
            Value::Int(n) => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Missing | Value::Nil => Vec::new(),
            other => {
                return Err(self.fail(format!("range can't iterate over {other}")));
            }
        };
        if items.is_empty() {
            return match otherwise {
                Some(body) => self.scoped(body, dot),
                None => Ok(Flow::Normal),
            };
        }
        for (key, elem) in items {
            let mark = self.vars.len();
            match pipe.vars.as_slice() {
                [] => {}
                [v] => self.bind(v, elem.clone(), pipe.assign)?,
                [k, v] => {
                    self.bind(k, key, pipe.assign)?;
                    self.bind(v, elem.clone(), pipe.assign)?;
                }
                _ => return Err(self.fail("too many declarations in range")),
            }
            let flow = self.list(body, &elem)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn bind(&mut self, name: &str, value: Value, assign: bool) -> Result<(), TemplateError> {
        if assign {
            match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value,
                None => return Err(self.fail(format!("undefined variable: {name}"))),
            }
        } else {
            self.vars.push((name.to_owned(), value));
        }
        Ok(())
    }

    fn pipeline(&mut self, pipe: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(cmd, dot, value)?);
        }
        let value = value.unwrap_or(Value::Missing);
        for name in &pipe.vars {
            self.bind(name, value.clone(), pipe.assign)?;
        }
        Ok(value)
    }

    fn command(
        &mut self,
        cmd: &Command,
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        let Some((first, rest)) = cmd.args.split_first() else {
            return Err(self.fail("empty command"));
        };
        if let Arg::Ident(name) = first {
            // `and` and `or` stop at the first deciding argument (Go 1.18).
            if name == "and" || name == "or" {
                let want = name == "or";
                let mut last = Value::Missing;
                let mut args: Vec<&Arg> = rest.iter().collect();
                let piped_last = piped;
                if args.is_empty() && piped_last.is_none() {
                    return Err(self.fail(format!(
                        "wrong number of args for {name}: want at least 1 got 0"
                    )));
                }
                for a in args.drain(..) {
                    last = self.arg(a, dot)?;
                    if last.truthy() == want {
                        return Ok(last);
                    }
                }
                if let Some(p) = piped_last {
                    last = p;
                }
                return Ok(last);
            }
            let mut values = Vec::with_capacity(rest.len() + 1);
            for a in rest {
                values.push(self.arg(a, dot)?);
            }
            if let Some(p) = piped {
                values.push(p);
            }
            return funcs::call(name, &values).map_err(|m| self.fail(m));
        }
        if !rest.is_empty() || piped.is_some() {
            return Err(self.fail(format!(
                "can't give argument to non-function {}",
                describe(first)
            )));
        }
        self.arg(first, dot)
    }

    fn arg(&mut self, arg: &Arg, dot: &Value) -> Result<Value, TemplateError> {
        match arg {
            Arg::Field(fields) => self.fields(dot.clone(), fields, "."),
            Arg::Var(name, fields) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(self.fail(format!("undefined variable: {name}")));
                };
                let v = v.clone();
                self.fields(v, fields, name)
            }
            Arg::Ident(name) => funcs::call(name, &[]).map_err(|m| self.fail(m)),
            Arg::Str(s) => Ok(Value::Str(Rc::from(s.as_str()))),
            Arg::Int(i) => Ok(Value::Int(*i)),
            Arg::Float(f) => Ok(Value::Float(*f)),
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Nil => Err(self.fail("nil is not a command")),
            Arg::Sub(pipe, fields) => {
                let mark = self.vars.len();
                let v = self.pipeline(pipe, dot)?;
                self.vars.truncate(mark);
                self.fields(v, fields, "(…)")
            }
        }
    }

    fn fields(&self, mut v: Value, fields: &[String], start: &str) -> Result<Value, TemplateError> {
        let mut path = start.to_owned();
        for f in fields {
            if !path.ends_with('.') {
                path.push('.');
            }
            path.push_str(f);
            v = v
                .field(f)
                .map_err(|m| self.fail(format!("at <{path}>: {m}")))?;
        }
        Ok(v)
    }
}

fn describe(arg: &Arg) -> String {
    match arg {
        Arg::Field(f) => format!(".{}", f.join(".")),
        Arg::Var(n, f) if f.is_empty() => n.clone(),
        Arg::Var(n, f) => format!("{n}.{}", f.join(".")),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Int(i) => i.to_string(),
        Arg::Float(x) => x.to_string(),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".into(),
        Arg::Ident(n) => n.clone(),
        Arg::Sub(..) => "(…)".into(),
    }
}
