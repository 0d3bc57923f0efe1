//! Functions: Go's `text/template` built-ins and the common part of Sprig's hermetic set (the
//! map Flux uses: no time, random or environment functions).

use std::fmt::Write as _;
use std::rc::Rc;

use super::value::{Value, go_float, sort_key};

/// Functions deckhand implements.
const IMPLEMENTED: &[&str] = &[
    // text/template
    "and",
    "or",
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    // Sprig: strings
    "upper",
    "lower",
    "title",
    "untitle",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "substr",
    "trunc",
    "abbrev",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "nospace",
    "plural",
    "split",
    "splitList",
    "join",
    "toString",
    "toStrings",
    "default",
    "empty",
    "coalesce",
    "ternary",
    "initials",
    "wrap",
    // Sprig: lists and dicts
    "list",
    "dict",
    "get",
    "hasKey",
    "keys",
    "values",
    "first",
    "last",
    "rest",
    "initial",
    "append",
    "push",
    "prepend",
    "uniq",
    "sortAlpha",
    "reverse",
    "compact",
    "has",
    "without",
    "until",
    "seq",
    // Sprig: numbers
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "atoi",
    "int",
    "int64",
    "float64",
    // Sprig: encoding, paths, regex
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "b64enc",
    "b64dec",
    "sha256sum",
    "base",
    "dir",
    "ext",
    "clean",
    "regexMatch",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    "kindOf",
    "typeOf",
];

/// Sprig's hermetic functions deckhand does not implement (a template using one is refused by
/// name, rather than with "not defined").
const SPRIG_UNSUPPORTED: &[&str] = &[
    "adler32sum",
    "sha1sum",
    "sha512sum",
    "b32enc",
    "b32dec",
    "camelcase",
    "kebabcase",
    "snakecase",
    "swapcase",
    "shuffle",
    "wrapWith",
    "mustToJson",
    "fromJson",
    "mustFromJson",
    "semver",
    "semverCompare",
    "ceil",
    "floor",
    "round",
    "addf",
    "add1f",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    "biggest",
    "untilStep",
    "pluck",
    "pick",
    "omit",
    "merge",
    "mergeOverwrite",
    "deepCopy",
    "dig",
    "set",
    "unset",
    "chunk",
    "slice",
    "concat",
    "deepEqual",
    "kindIs",
    "typeIs",
    "typeIsLike",
    "fail",
    "toDecimal",
    "osBase",
    "osDir",
    "osExt",
    "osClean",
    "osIsAbs",
    "isAbs",
    "urlParse",
    "urlJoin",
    "buildCustomCert",
    "genCA",
    "genPrivateKey",
    "derivePassword",
    "encryptAES",
    "decryptAES",
    "htpasswd",
    "bcrypt",
    "mustRegexMatch",
    "regexQuoteMeta",
    "mustAppend",
    "mustPush",
    "mustPrepend",
    "mustFirst",
    "mustLast",
    "mustRest",
    "mustInitial",
    "mustReverse",
    "mustUniq",
    "mustWithout",
    "mustHas",
    "mustCompact",
    "mustSlice",
    "mustChunk",
    "mustDeepCopy",
    "mustMerge",
    "mustMergeOverwrite",
    "fromYaml",
    "toYaml",
    "all",
    "any",
    "splitn",
    "call",
];

/// Whether `name` can be called; `Err` says why not (naming it).
pub(crate) fn check(name: &str) -> Result<(), String> {
    if IMPLEMENTED.contains(&name) {
        Ok(())
    } else if SPRIG_UNSUPPORTED.contains(&name) {
        Err(format!(
            "function \"{name}\" (Sprig) is not supported by deckhand's commit templates"
        ))
    } else {
        Err(format!("function \"{name}\" not defined"))
    }
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

fn text(v: &Value) -> String {
    v.as_text()
}

fn int(name: &str, v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        #[allow(clippy::cast_possible_truncation)]
        Value::Float(f) => Ok(*f as i64),
        Value::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("{name}: {s:?} is not a number")),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Missing | Value::Nil => Ok(0),
        other => Err(format!(
            "{name}: cannot use {} as a number",
            other.type_name()
        )),
    }
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::List(l) => l.as_ref().clone(),
        Value::Missing | Value::Nil => Vec::new(),
        other => vec![other.clone()],
    }
}

fn new_list(v: Vec<Value>) -> Value {
    Value::List(Rc::new(v))
}

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        #[allow(clippy::cast_precision_loss, clippy::float_cmp)]
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        #[allow(clippy::float_cmp)]
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Nil | Value::Missing, Value::Nil | Value::Missing) => true,
        (Value::Struct(x), Value::Struct(y)) => x.display == y.display,
        (x, y) => {
            return Err(format!(
                "incompatible types for comparison: {} and {}",
                x.type_name(),
                y.type_name()
            ));
        }
    })
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        #[allow(clippy::cast_precision_loss)]
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let f = |v: &Value| match v {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                _ => 0.0,
            };
            f(a).partial_cmp(&f(b))
                .ok_or_else(|| "cannot compare NaN".to_owned())
        }
        (x, y) => Err(format!(
            "incompatible types for comparison: {} and {}",
            x.type_name(),
            y.type_name()
        )),
    }
}

/// Calls function `name`.
pub(crate) fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    check(name)?;
    let s = |i: usize| args.get(i).map(text).unwrap_or_default();
    let v = match name {
        "not" => {
            want(name, args, 1)?;
            Value::Bool(!args[0].truthy())
        }
        "len" => {
            want(name, args, 1)?;
            let n = match &args[0] {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                other => return Err(format!("len of type {}", other.type_name())),
            };
            Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            };
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::List(l), _) => {
                        let i = int("index", k)?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| l.get(i).cloned())
                            .ok_or_else(|| {
                                format!("error calling index: index out of range: {i}")
                            })?
                    }
                    (Value::Map(m), key) => m
                        .iter()
                        .find(|(mk, _)| sort_key(mk) == sort_key(key))
                        .map_or(Value::Missing, |(_, v)| v.clone()),
                    (Value::Str(st), _) => {
                        let i = int("index", k)?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| st.as_bytes().get(i))
                            .map(|b| Value::Int(i64::from(*b)))
                            .ok_or_else(|| {
                                format!("error calling index: index out of range: {i}")
                            })?
                    }
                    (Value::Missing | Value::Nil, _) => {
                        return Err("error calling index: index of untyped nil".into());
                    }
                    (other, _) => {
                        return Err(format!("can't index item of type {}", other.type_name()));
                    }
                };
            }
            v
        }
        "print" => {
            // Go's Sprint: spaces between operands when neither is a string.
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
                    out.push(' ');
                }
                out.push_str(&a.to_string());
            }
            Value::str(out)
        }
        "println" => {
            let parts: Vec<String> = args.iter().map(ToString::to_string).collect();
            Value::str(format!("{}\n", parts.join(" ")))
        }
        "printf" => {
            let Some((format, rest)) = args.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            Value::str(sprintf(&text(format), rest))
        }
        "eq" => {
            let Some((first, rest)) = args.split_first() else {
                return Err("missing argument for comparison".into());
            };
            if rest.is_empty() {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for r in rest {
                if equal(first, r)? {
                    any = true;
                }
            }
            Value::Bool(any)
        }
        "ne" => {
            want(name, args, 2)?;
            Value::Bool(!equal(&args[0], &args[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, args, 2)?;
            let o = compare(&args[0], &args[1])?;
            Value::Bool(match name {
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "html" => Value::str(
            args.iter()
                .map(text)
                .collect::<String>()
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;"),
        ),
        "js" => Value::str(
            args.iter()
                .map(text)
                .collect::<String>()
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('"', "\\\"")
                .replace('<', "\\u003C")
                .replace('>', "\\u003E"),
        ),
        "urlquery" => Value::str(
            url::form_urlencoded::byte_serialize(
                args.iter().map(text).collect::<String>().as_bytes(),
            )
            .collect::<String>(),
        ),
        // ---- Sprig strings
        "upper" => Value::str(s(0).to_uppercase()),
        "lower" => Value::str(s(0).to_lowercase()),
        "title" => Value::str(title(&s(0))),
        "untitle" => Value::str(
            s(0).split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next().map_or_else(String::new, |f| {
                        f.to_lowercase().collect::<String>() + c.as_str()
                    })
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "trim" => Value::str(s(0).trim()),
        "trimAll" => {
            want(name, args, 2)?;
            let cut: Vec<char> = s(0).chars().collect();
            Value::str(s(1).trim_matches(cut.as_slice()))
        }
        "trimPrefix" => {
            want(name, args, 2)?;
            let (p, t) = (s(0), s(1));
            Value::str(t.strip_prefix(p.as_str()).unwrap_or(&t))
        }
        "trimSuffix" => {
            want(name, args, 2)?;
            let (p, t) = (s(0), s(1));
            Value::str(t.strip_suffix(p.as_str()).unwrap_or(&t))
        }
        "replace" => {
            want(name, args, 3)?;
            Value::str(s(2).replace(&s(0), &s(1)))
        }
        "contains" => {
            want(name, args, 2)?;
            Value::Bool(s(1).contains(&s(0)))
        }
        "hasPrefix" => {
            want(name, args, 2)?;
            Value::Bool(s(1).starts_with(&s(0)))
        }
        "hasSuffix" => {
            want(name, args, 2)?;
            Value::Bool(s(1).ends_with(&s(0)))
        }
        "repeat" => {
            want(name, args, 2)?;
            let n = usize::try_from(int(name, &args[0])?)
                .unwrap_or(0)
                .min(10_000);
            Value::str(s(1).repeat(n))
        }
        "substr" => {
            want(name, args, 3)?;
            let t = s(2);
            let len = i64::try_from(t.len()).unwrap_or(i64::MAX);
            let (mut a, mut b) = (int(name, &args[0])?, int(name, &args[1])?);
            if a < 0 {
                a = 0;
            }
            if b < 0 || b > len {
                b = len;
            }
            if a > b {
                a = b;
            }
            let (a, b) = (
                usize::try_from(a).unwrap_or(0),
                usize::try_from(b).unwrap_or(0),
            );
            Value::str(t.get(a..b).unwrap_or_default())
        }
        "trunc" => {
            want(name, args, 2)?;
            let n = int(name, &args[0])?;
            let t = s(1);
            let len = i64::try_from(t.len()).unwrap_or(i64::MAX);
            let out = if n >= 0 {
                t.get(..usize::try_from(n.min(len)).unwrap_or(0))
                    .unwrap_or(&t)
            } else {
                t.get(usize::try_from((len + n).max(0)).unwrap_or(0)..)
                    .unwrap_or(&t)
            };
            Value::str(out)
        }
        "abbrev" => {
            want(name, args, 2)?;
            let n = usize::try_from(int(name, &args[0])?).unwrap_or(0);
            let t = s(1);
            if n < 4 || t.len() <= n {
                Value::str(t)
            } else {
                Value::str(format!("{}...", t.get(..n - 3).unwrap_or_default()))
            }
        }
        "quote" => Value::str(
            args.iter()
                .filter(|a| !matches!(a, Value::Missing | Value::Nil))
                .map(|a| format!("{:?}", text(a)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => Value::str(
            args.iter()
                .filter(|a| !matches!(a, Value::Missing | Value::Nil))
                .map(|a| format!("'{}'", text(a)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "cat" => Value::str(
            args.iter()
                .filter(|a| !matches!(a, Value::Missing | Value::Nil))
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "indent" | "nindent" => {
            want(name, args, 2)?;
            let n = usize::try_from(int(name, &args[0])?).unwrap_or(0);
            let pad = " ".repeat(n);
            let body = format!("{pad}{}", s(1).replace('\n', &format!("\n{pad}")));
            Value::str(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "nospace" => Value::str(
            s(0).chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>(),
        ),
        "initials" => Value::str(
            s(0).split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>(),
        ),
        "wrap" => {
            want(name, args, 2)?;
            let width = usize::try_from(int(name, &args[0])?).unwrap_or(0).max(1);
            let mut out = String::new();
            let mut col = 0;
            for word in s(1).split_whitespace() {
                if col > 0 && col + 1 + word.len() > width {
                    out.push('\n');
                    col = 0;
                } else if col > 0 {
                    out.push(' ');
                    col += 1;
                }
                out.push_str(word);
                col += word.len();
            }
            Value::str(out)
        }
        "plural" => {
            want(name, args, 3)?;
            Value::str(if int(name, &args[2])? == 1 {
                s(0)
            } else {
                s(1)
            })
        }
        "split" => {
            want(name, args, 2)?;
            let t = s(1);
            Value::string_map(
                t.split(s(0).as_str())
                    .enumerate()
                    .map(|(i, p)| (format!("_{i}"), Value::str(p))),
            )
        }
        "splitList" => {
            want(name, args, 2)?;
            new_list(s(1).split(s(0).as_str()).map(Value::str).collect())
        }
        "join" => {
            want(name, args, 2)?;
            let parts: Vec<String> = list(&args[1]).iter().map(text).collect();
            Value::str(parts.join(&s(0)))
        }
        "toString" => Value::str(args.first().map(text).unwrap_or_default()),
        "toStrings" => new_list(
            args.first()
                .map(list)
                .unwrap_or_default()
                .iter()
                .map(|v| Value::str(text(v)))
                .collect(),
        ),
        "default" => {
            // default DEFAULT GIVEN: GIVEN unless it is empty.
            match args {
                [d] => d.clone(),
                [d, given] => {
                    if given.truthy() {
                        given.clone()
                    } else {
                        d.clone()
                    }
                }
                _ => {
                    return Err(format!(
                        "wrong number of args for default: want 2 got {}",
                        args.len()
                    ));
                }
            }
        }
        "empty" => Value::Bool(!args.first().is_some_and(Value::truthy)),
        "coalesce" => args
            .iter()
            .find(|a| a.truthy())
            .cloned()
            .unwrap_or(Value::Nil),
        "ternary" => {
            want(name, args, 3)?;
            if args[2].truthy() {
                args[0].clone()
            } else {
                args[1].clone()
            }
        }
        // ---- Sprig lists and dicts
        "list" => new_list(args.to_vec()),
        "dict" => {
            let mut entries = Vec::new();
            for pair in args.chunks(2) {
                entries.push((
                    text(&pair[0]),
                    pair.get(1).cloned().unwrap_or(Value::str("")),
                ));
            }
            Value::string_map(entries)
        }
        "get" => {
            want(name, args, 2)?;
            match args[0].field(&s(1)) {
                Ok(Value::Missing) | Err(_) => Value::str(""),
                Ok(v) => v,
            }
        }
        "hasKey" => {
            want(name, args, 2)?;
            Value::Bool(!matches!(args[0].field(&s(1)), Ok(Value::Missing) | Err(_)))
        }
        "keys" => {
            let mut keys: Vec<Value> = Vec::new();
            for a in args {
                if let Value::Map(m) = a {
                    keys.extend(m.iter().map(|(k, _)| k.clone()));
                }
            }
            new_list(keys)
        }
        "values" => match args.first() {
            Some(Value::Map(m)) => new_list(m.iter().map(|(_, v)| v.clone()).collect()),
            _ => new_list(Vec::new()),
        },
        "first" => list(args.first().unwrap_or(&Value::Nil))
            .first()
            .cloned()
            .unwrap_or(Value::Nil),
        "last" => list(args.first().unwrap_or(&Value::Nil))
            .last()
            .cloned()
            .unwrap_or(Value::Nil),
        "rest" => new_list(
            list(args.first().unwrap_or(&Value::Nil))
                .into_iter()
                .skip(1)
                .collect(),
        ),
        "initial" => {
            let mut l = list(args.first().unwrap_or(&Value::Nil));
            l.pop();
            new_list(l)
        }
        "append" | "push" => {
            want(name, args, 2)?;
            let mut l = list(&args[0]);
            l.push(args[1].clone());
            new_list(l)
        }
        "prepend" => {
            want(name, args, 2)?;
            let mut l = list(&args[0]);
            l.insert(0, args[1].clone());
            new_list(l)
        }
        "uniq" => {
            let mut out: Vec<Value> = Vec::new();
            for v in list(args.first().unwrap_or(&Value::Nil)) {
                if !out.iter().any(|o| equal(o, &v).unwrap_or(false)) {
                    out.push(v);
                }
            }
            new_list(out)
        }
        "sortAlpha" => {
            let mut l: Vec<String> = list(args.first().unwrap_or(&Value::Nil))
                .iter()
                .map(text)
                .collect();
            l.sort();
            new_list(l.into_iter().map(Value::str).collect())
        }
        "reverse" => {
            let mut l = list(args.first().unwrap_or(&Value::Nil));
            l.reverse();
            new_list(l)
        }
        "compact" => new_list(
            list(args.first().unwrap_or(&Value::Nil))
                .into_iter()
                .filter(Value::truthy)
                .collect(),
        ),
        "has" => {
            want(name, args, 2)?;
            Value::Bool(
                list(&args[1])
                    .iter()
                    .any(|v| equal(v, &args[0]).unwrap_or(false)),
            )
        }
        "without" => {
            let Some((l, drop)) = args.split_first() else {
                return Err("wrong number of args for without".into());
            };
            new_list(
                list(l)
                    .into_iter()
                    .filter(|v| !drop.iter().any(|d| equal(v, d).unwrap_or(false)))
                    .collect(),
            )
        }
        "until" => {
            want(name, args, 1)?;
            let n = int(name, &args[0])?.clamp(-10_000, 10_000);
            let step = if n < 0 { -1 } else { 1 };
            let mut out = Vec::new();
            let mut i = 0;
            while i != n {
                out.push(Value::Int(i));
                i += step;
            }
            new_list(out)
        }
        "seq" => {
            let nums: Vec<i64> = args
                .iter()
                .map(|a| int(name, a))
                .collect::<Result<_, _>>()?;
            let (start, step, end) = match nums.as_slice() {
                [e] => (1, 1, *e),
                [s, e] => (*s, if s <= e { 1 } else { -1 }, *e),
                [s, st, e] => (*s, *st, *e),
                _ => return Err("wrong number of args for seq".into()),
            };
            let mut out = Vec::new();
            let mut i = start;
            while step != 0
                && ((step > 0 && i <= end) || (step < 0 && i >= end))
                && out.len() < 10_000
            {
                out.push(i.to_string());
                i += step;
            }
            Value::str(out.join(" "))
        }
        // ---- Sprig numbers
        "add" => Value::Int(args.iter().map(|a| int(name, a)).sum::<Result<i64, _>>()?),
        "add1" => Value::Int(int(name, args.first().unwrap_or(&Value::Nil))? + 1),
        "sub" => {
            want(name, args, 2)?;
            Value::Int(int(name, &args[0])? - int(name, &args[1])?)
        }
        "mul" => Value::Int(
            args.iter()
                .try_fold(1i64, |acc, a| int(name, a).map(|v| acc * v))?,
        ),
        "div" | "mod" => {
            want(name, args, 2)?;
            let (a, b) = (int(name, &args[0])?, int(name, &args[1])?);
            if b == 0 {
                return Err(format!("error calling {name}: integer divide by zero"));
            }
            Value::Int(if name == "div" { a / b } else { a % b })
        }
        "max" | "min" => {
            let nums: Vec<i64> = args
                .iter()
                .map(|a| int(name, a))
                .collect::<Result<_, _>>()?;
            let v = if name == "max" {
                nums.iter().max()
            } else {
                nums.iter().min()
            };
            Value::Int(v.copied().unwrap_or(0))
        }
        "atoi" => Value::Int(s(0).trim().parse().unwrap_or(0)),
        "int" | "int64" => Value::Int(int(name, args.first().unwrap_or(&Value::Nil)).unwrap_or(0)),
        "float64" => match args.first() {
            Some(Value::Int(i)) =>
            {
                #[allow(clippy::cast_precision_loss)]
                Value::Float(*i as f64)
            }
            Some(Value::Float(f)) => Value::Float(*f),
            Some(v) => Value::Float(text(v).trim().parse().unwrap_or(0.0)),
            None => Value::Float(0.0),
        },
        // ---- Sprig encoding, paths, regex
        "toJson" | "toRawJson" => {
            Value::str(to_json(args.first().unwrap_or(&Value::Nil)).to_string())
        }
        "toPrettyJson" => Value::str(
            serde_json::to_string_pretty(&to_json(args.first().unwrap_or(&Value::Nil)))
                .unwrap_or_default(),
        ),
        "b64enc" => {
            use base64::Engine as _;
            Value::str(base64::engine::general_purpose::STANDARD.encode(s(0)))
        }
        "b64dec" => {
            use base64::Engine as _;
            Value::str(
                base64::engine::general_purpose::STANDARD
                    .decode(s(0))
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_else(|e| e.to_string()),
            )
        }
        "sha256sum" => {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(s(0).as_bytes());
            let mut hex = String::with_capacity(64);
            for b in digest {
                let _ = write!(hex, "{b:02x}");
            }
            Value::str(hex)
        }
        "base" => Value::str(path_base(&s(0))),
        "dir" => Value::str(path_dir(&s(0))),
        "ext" => {
            let b = path_base(&s(0));
            Value::str(b.rfind('.').map_or("", |i| &b[i..]))
        }
        "clean" => Value::str(path_clean(&s(0))),
        "regexMatch"
        | "regexFind"
        | "regexFindAll"
        | "regexReplaceAll"
        | "regexReplaceAllLiteral"
        | "regexSplit" => regex_fn(name, args)?,
        "kindOf" | "typeOf" => Value::str(match args.first() {
            Some(Value::Str(_)) => "string",
            Some(Value::Int(_)) => "int",
            Some(Value::Float(_)) => "float64",
            Some(Value::Bool(_)) => "bool",
            Some(Value::List(_)) => "slice",
            Some(Value::Map(_)) => "map",
            Some(Value::Struct(_)) => "struct",
            _ => "invalid",
        }),
        other => return Err(format!("function \"{other}\" not defined")),
    };
    Ok(v)
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphanumeric() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace() || c == '-' || c == '_';
    }
    out
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_owned()
}

fn path_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => path_clean(&p[..=i]),
        None => ".".into(),
    }
}

fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn regex_fn(name: &str, args: &[Value]) -> Result<Value, String> {
    let re = |p: &str| regex::Regex::new(p).map_err(|e| format!("{name}: {e}"));
    let s = |i: usize| args.get(i).map(Value::as_text).unwrap_or_default();
    Ok(match name {
        "regexMatch" => {
            want(name, args, 2)?;
            Value::Bool(re(&s(0))?.is_match(&s(1)))
        }
        "regexFind" => {
            want(name, args, 2)?;
            Value::str(re(&s(0))?.find(&s(1)).map_or("", |m| m.as_str()))
        }
        "regexFindAll" => {
            want(name, args, 3)?;
            let n = int(name, &args[2])?;
            let r = re(&s(0))?;
            let t = s(1);
            let all = r.find_iter(&t).map(|m| Value::str(m.as_str()));
            new_list(if n < 0 {
                all.collect()
            } else {
                all.take(usize::try_from(n).unwrap_or(0)).collect()
            })
        }
        "regexReplaceAll" => {
            want(name, args, 3)?;
            // Go's `${1}` expansion; Rust's replacement syntax is the same for these forms.
            Value::str(re(&s(0))?.replace_all(&s(1), s(2).as_str()))
        }
        "regexReplaceAllLiteral" => {
            want(name, args, 3)?;
            Value::str(re(&s(0))?.replace_all(&s(1), regex::NoExpand(&s(2))))
        }
        _ => {
            want(name, args, 3)?;
            let n = int(name, &args[2])?;
            let r = re(&s(0))?;
            let t = s(1);
            let parts: Vec<Value> = if n < 0 {
                r.split(&t).map(Value::str).collect()
            } else {
                r.splitn(&t, usize::try_from(n).unwrap_or(0))
                    .map(Value::str)
                    .collect()
            };
            new_list(parts)
        }
    })
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Missing | Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Str(s) => serde_json::Value::String(s.to_string()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.as_text(), to_json(v))).collect())
        }
        Value::Struct(s) => serde_json::Value::Object(
            s.fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), to_json(v)))
                .collect(),
        ),
    }
}

/// Go's `Sprintf` for the common verbs: `%v %s %d %q %t %x %X %f %%`, with `-`, `0`, width and
/// precision.
fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        let body = match verb {
            'v' | 's' => {
                let t = arg.to_string();
                match precision {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            'q' => format!("{:?}", arg.as_text()),
            'd' => match arg {
                Value::Int(i) => i.to_string(),
                other => format!("%!d({}={other})", other.type_name()),
            },
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                other => format!("%!t({}={other})", other.type_name()),
            },
            'x' | 'X' => {
                let h = match arg {
                    Value::Int(i) => format!("{i:x}"),
                    other => other.as_text().bytes().fold(String::new(), |mut s, b| {
                        let _ = write!(s, "{b:02x}");
                        s
                    }),
                };
                if verb == 'X' { h.to_uppercase() } else { h }
            }
            'f' | 'g' | 'e' => {
                #[allow(clippy::cast_precision_loss)]
                let x = match arg {
                    Value::Float(f) => *f,
                    Value::Int(i) => *i as f64,
                    _ => f64::NAN,
                };
                match verb {
                    'f' => format!("{x:.*}", precision.unwrap_or(6)),
                    _ => go_float(x),
                }
            }
            other => format!("%!{other}({}={arg})", arg.type_name()),
        };
        let width: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < width {
            let pad = width - len;
            if left {
                out.push_str(&body);
                out.push_str(&" ".repeat(pad));
            } else if zero && matches!(verb, 'd' | 'f' | 'x' | 'X') {
                out.push_str(&"0".repeat(pad));
                out.push_str(&body);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={a}", a.type_name()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}
