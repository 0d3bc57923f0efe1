//! Reading a compose file the way compose does, as far as deckhand needs it: the project name,
//! each service's image (with `${VAR}` interpolation from the environment and the project's
//! `.env`), and the `depends_on` order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;

/// A compose project as deckhand sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeProject {
    /// The compose file (absolute).
    pub file: PathBuf,
    /// The project directory (the file's directory; `.env` is read from here).
    pub dir: PathBuf,
    /// The project name (`com.docker.compose.project`).
    pub name: String,
    /// The services, dependencies first (`depends_on` order, then by name).
    pub services: Vec<ComposeService>,
    /// Variables used without a value (compose warns and uses an empty string).
    pub unset_variables: Vec<String>,
}

/// One service of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeService {
    /// The service name.
    pub name: String,
    /// Its image after interpolation; `None` for a service that only has `build:`.
    pub image: Option<String>,
    /// Services it depends on.
    pub depends_on: Vec<String>,
}

/// Why a compose file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The file (or its `.env`) cannot be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML does not parse or does not have compose's shape.
    #[error("{}: not a compose file: {message}", file.display())]
    Yaml {
        /// The file.
        file: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A `${…}` expression is malformed, or a `${VAR:?message}` variable is unset.
    #[error("{}: {key}: {message}", file.display())]
    Interpolation {
        /// The file.
        file: PathBuf,
        /// Where: `services.web.image` or `name`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A line of `.env` that is not `KEY=VALUE`.
    #[error("{}:{line}: {message}", file.display())]
    EnvFile {
        /// The `.env` file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `depends_on` names a service that does not exist.
    #[error("{}: services.{service}.depends_on: no service `{dependency}` in the file", file.display())]
    UnknownDependency {
        /// The file.
        file: PathBuf,
        /// The service.
        service: String,
        /// The missing dependency.
        dependency: String,
    },
    /// `depends_on` has a cycle.
    #[error("{}: depends_on has a cycle among {}", file.display(), services.join(", "))]
    Cycle {
        /// The file.
        file: PathBuf,
        /// The services in the cycle (and those waiting on it).
        services: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
struct RawFile {
    name: Option<String>,
    #[serde(default)]
    services: BTreeMap<String, Option<RawService>>,
}

#[derive(Debug, Deserialize)]
struct RawService {
    image: Option<String>,
    depends_on: Option<RawDependsOn>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDependsOn {
    List(Vec<String>),
    Map(BTreeMap<String, IgnoredAny>),
}

/// Loads `file`. The project name is `name` when given, else derived as compose does
/// ([`project_name`]). Variables come from `env` (the process environment in production), then
/// from the `.env` next to the file; `env` wins, as in compose.
///
/// # Errors
///
/// See [`ComposeError`]; every variant names the file.
pub fn load(
    file: &Path,
    name: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ComposeProject, ComposeError> {
    let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let text = std::fs::read_to_string(&file).map_err(|source| ComposeError::Read {
        file: file.clone(),
        source,
    })?;
    let dotenv_path = dir.join(".env");
    let dotenv = match std::fs::read_to_string(&dotenv_path) {
        Ok(t) => parse_dotenv(&dotenv_path, &t, env)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(source) => {
            return Err(ComposeError::Read {
                file: dotenv_path,
                source,
            });
        }
    };
    let lookup = |var: &str| env(var).or_else(|| dotenv.get(var).cloned());
    parse(&file, &dir, &text, name, &lookup)
}

/// [`load`] on text already read (`dir` holds the project's directory).
///
/// # Errors
///
/// See [`ComposeError`].
pub fn parse(
    file: &Path,
    dir: &Path,
    text: &str,
    name: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ComposeProject, ComposeError> {
    let raw: RawFile = if text.trim().is_empty() {
        RawFile {
            name: None,
            services: BTreeMap::new(),
        }
    } else {
        serde_saphyr::from_str(text).map_err(|e| ComposeError::Yaml {
            file: file.to_path_buf(),
            message: e.to_string().lines().next().unwrap_or_default().to_string(),
        })?
    };
    let mut unset = BTreeSet::new();
    let mut interpolate_at = |key: String, value: &str| -> Result<String, ComposeError> {
        let out = interpolate(value, lookup).map_err(|message| ComposeError::Interpolation {
            file: file.to_path_buf(),
            key,
            message,
        })?;
        unset.extend(out.unset);
        Ok(out.text)
    };
    let file_name = match &raw.name {
        Some(n) => Some(interpolate_at("name".into(), n)?),
        None => None,
    };
    let mut services = BTreeMap::new();
    for (service, body) in raw.services {
        let body = body.unwrap_or(RawService {
            image: None,
            depends_on: None,
        });
        let image = match body.image {
            Some(i) => Some(interpolate_at(format!("services.{service}.image"), &i)?),
            None => None,
        };
        let depends_on = match body.depends_on {
            None => Vec::new(),
            Some(RawDependsOn::List(list)) => list,
            Some(RawDependsOn::Map(map)) => map.into_keys().collect(),
        };
        services.insert(
            service.clone(),
            ComposeService {
                name: service,
                image,
                depends_on,
            },
        );
    }
    let services = dependency_order(file, services)?;
    let name = match name {
        Some(n) => n.to_string(),
        None => project_name(dir, file_name.as_deref(), lookup),
    };
    Ok(ComposeProject {
        file: file.to_path_buf(),
        dir: dir.to_path_buf(),
        name,
        services,
        unset_variables: unset.into_iter().collect(),
    })
}

/// The project name compose derives when none is given: `COMPOSE_PROJECT_NAME` (environment,
/// then `.env`), else the file's top-level `name:`, else the project directory's base name,
/// lowercased with everything but `a-z0-9_-` dropped (`default` when nothing is left).
#[must_use]
pub fn project_name(
    dir: &Path,
    file_name: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> String {
    if let Some(n) = lookup("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()) {
        return normalize_name(&n);
    }
    if let Some(n) = file_name.filter(|n| !n.is_empty()) {
        return normalize_name(n);
    }
    let base = dir
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    normalize_name(&base)
}

fn normalize_name(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    let kept = kept.trim_start_matches(['-', '_']);
    if kept.is_empty() {
        "default".into()
    } else {
        kept.to_string()
    }
}

/// Services sorted so that each comes after what it depends on; ties by name.
fn dependency_order(
    file: &Path,
    mut services: BTreeMap<String, ComposeService>,
) -> Result<Vec<ComposeService>, ComposeError> {
    for s in services.values() {
        if let Some(missing) = s.depends_on.iter().find(|d| !services.contains_key(*d)) {
            return Err(ComposeError::UnknownDependency {
                file: file.to_path_buf(),
                service: s.name.clone(),
                dependency: missing.clone(),
            });
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(services.len());
    while !services.is_empty() {
        let ready: Vec<String> = services
            .values()
            .filter(|s| s.depends_on.iter().all(|d| done.contains(d)))
            .map(|s| s.name.clone())
            .collect();
        if ready.is_empty() {
            return Err(ComposeError::Cycle {
                file: file.to_path_buf(),
                services: services.into_keys().collect(),
            });
        }
        for name in ready {
            if let Some(s) = services.remove(&name) {
                done.insert(name);
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// The result of interpolating one value.
#[derive(Debug, PartialEq, Eq)]
pub struct Interpolated {
    /// The text.
    pub text: String,
    /// Variables that were used without a value or default.
    pub unset: Vec<String>,
}

/// Compose's interpolation: `$$` is a literal `$`; `$VAR` and `${VAR}` are replaced (unset: the
/// empty string, reported in `unset`); `${VAR:-default}` / `${VAR-default}` use the default when
/// the variable is unset or empty / unset; `${VAR:?message}` / `${VAR?message}` are errors then;
/// `${VAR:+other}` / `${VAR+other}` give `other` when it is set and non-empty / set. Defaults may
/// themselves hold `${…}`.
///
/// # Errors
///
/// A message for a malformed expression or a required variable that is missing.
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, String> {
    let mut out = Interpolated {
        text: String::with_capacity(text.len()),
        unset: Vec::new(),
    };
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.text.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.text.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body)
                .ok_or_else(|| format!("`{text}`: `${{` without a closing `}}`"))?;
            expand_braced(&body[..end], text, lookup, &mut out)?;
            rest = &body[end + 1..];
        } else {
            let len = name_len(after);
            if len == 0 {
                return Err(format!(
                    "`{text}`: invalid interpolation format (write `$$` for a literal `$`)"
                ));
            }
            let name = &after[..len];
            match lookup(name) {
                Some(v) => out.text.push_str(&v),
                None => out.unset.push(name.to_string()),
            }
            rest = &after[len..];
        }
    }
    out.text.push_str(rest);
    Ok(out)
}

/// Length of a variable name at the start of `s`: `[_A-Za-z][_A-Za-z0-9]*`.
fn name_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {}
        _ => return 0,
    }
    bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count()
}

/// Index of the `}` closing a `${`, counting nested `${…}`.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn expand_braced(
    inner: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
) -> Result<(), String> {
    let len = name_len(inner);
    if len == 0 {
        return Err(format!(
            "`{whole}`: invalid interpolation format for `${{{inner}}}`"
        ));
    }
    let name = &inner[..len];
    let op = &inner[len..];
    let value = lookup(name);
    let set_and_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    let nested = |arg: &str, out: &mut Interpolated| -> Result<(), String> {
        let expanded = interpolate(arg, lookup)?;
        out.text.push_str(&expanded.text);
        out.unset.extend(expanded.unset);
        Ok(())
    };
    if op.is_empty() {
        match value {
            Some(v) => out.text.push_str(&v),
            None => out.unset.push(name.to_string()),
        }
    } else if let Some(default) = op.strip_prefix(":-") {
        match value.filter(|_| set_and_nonempty) {
            Some(v) => out.text.push_str(&v),
            None => nested(default, out)?,
        }
    } else if let Some(default) = op.strip_prefix('-') {
        match value {
            Some(v) => out.text.push_str(&v),
            None => nested(default, out)?,
        }
    } else if let Some(message) = op.strip_prefix(":?") {
        match value.filter(|_| set_and_nonempty) {
            Some(v) => out.text.push_str(&v),
            None => return Err(required(name, message, "is unset or empty")),
        }
    } else if let Some(message) = op.strip_prefix('?') {
        match value {
            Some(v) => out.text.push_str(&v),
            None => return Err(required(name, message, "is unset")),
        }
    } else if let Some(other) = op.strip_prefix(":+") {
        if set_and_nonempty {
            nested(other, out)?;
        }
    } else if let Some(other) = op.strip_prefix('+') {
        if value.is_some() {
            nested(other, out)?;
        }
    } else {
        return Err(format!(
            "`{whole}`: invalid interpolation format for `${{{inner}}}`"
        ));
    }
    Ok(())
}

fn required(name: &str, message: &str, why: &str) -> String {
    if message.is_empty() {
        format!("required variable {name} {why}")
    } else {
        format!("required variable {name} {why}: {message}")
    }
}

/// Parses a `.env` file as compose does: `KEY=VALUE` lines, `export ` allowed, `#` comments and
/// blank lines skipped; `'single'` quotes are literal, `"double"` quotes understand `\n`, `\t`,
/// `\"`, `\\` and `${…}`; an unquoted value ends at ` #` and is trimmed and interpolated.
/// Variables from `env` and earlier lines are visible to later values.
///
/// # Errors
///
/// [`ComposeError::EnvFile`] naming the line.
pub fn parse_dotenv(
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |message: String| ComposeError::EnvFile {
            file: file.to_path_buf(),
            line: i + 1,
            message,
        };
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, raw)) = line.split_once('=') else {
            return Err(bad(format!("`{line}` is not KEY=VALUE")));
        };
        let key = key.trim();
        if name_len(key) != key.len() {
            return Err(bad(format!("`{key}` is not a variable name")));
        }
        let raw = raw.trim_start();
        let lookup = |name: &str| env(name).or_else(|| vars.get(name).cloned());
        let value = if let Some(body) = raw.strip_prefix('\'') {
            let end = body
                .find('\'')
                .ok_or_else(|| bad("a single quote is not closed".into()))?;
            body[..end].to_string()
        } else if let Some(body) = raw.strip_prefix('"') {
            let mut unescaped = String::new();
            let mut chars = body.chars();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('n') => unescaped.push('\n'),
                        Some('t') => unescaped.push('\t'),
                        Some('r') => unescaped.push('\r'),
                        Some(other) => {
                            if !matches!(other, '"' | '\\' | '$') {
                                unescaped.push('\\');
                            }
                            if other == '$' {
                                unescaped.push_str("$$");
                            } else {
                                unescaped.push(other);
                            }
                        }
                        None => unescaped.push('\\'),
                    },
                    c => unescaped.push(c),
                }
            }
            if !closed {
                return Err(bad("a double quote is not closed".into()));
            }
            interpolate(&unescaped, &lookup).map_err(bad)?.text
        } else {
            let unquoted = match raw.find(" #") {
                Some(pos) => &raw[..pos],
                None => raw,
            };
            interpolate(unquoted.trim_end(), &lookup).map_err(bad)?.text
        };
        vars.insert(key.to_string(), value);
    }
    Ok(vars)
}

#[cfg(test)]
mod tests;
