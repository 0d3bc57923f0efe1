//! Commit messages: `git.messageTemplate` rendered with the data of the pass.
//!
//! [`MessageTemplate`] is the one place a template syntax is chosen, so another syntax (Flux's Go
//! templates) is one more variant; [`MessageData`] is plain serde data any engine can read.

use serde::Serialize;

/// A commit message template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageTemplate {
    /// Jinja syntax, rendered by minijinja with strict undefined values.
    Jinja(String),
}

/// Why a template could not make a message.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The template does not parse, or names a value or filter that does not exist.
    #[error("{0}")]
    Template(String),
    /// The template rendered only whitespace; git needs a message.
    #[error("the template rendered an empty message")]
    Empty,
}

/// The default message: a subject naming the count and the policies, then one line per change.
pub const DEFAULT_TEMPLATE: &str = "\
Update {{ changes|length }} image reference{% if changes|length != 1 %}s{% endif %} ({{ policies|join(\", \") }})

{% for c in changes -%}
- {{ c.file }}:{{ c.line }} {{ c.policy }}: {{ c.old }} -> {{ c.new }}
{% endfor %}";

/// One value changed by the commit.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MessageChange {
    /// File, relative to the repository root.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// `namespace:name` of the policy.
    pub policy: String,
    /// Which part the marker sets: `image`, `tag`, `name` or `digest`.
    pub field: String,
    /// The policy's image repository, as written in the config.
    pub image: String,
    /// Value before.
    pub old: String,
    /// Value after.
    pub new: String,
}

/// What a template can use.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct MessageData {
    /// Name of the automation (`deckhand` for `deckhand.yaml`).
    pub automation: String,
    /// The branch committed to.
    pub branch: String,
    /// Every value changed, in file order.
    pub changes: Vec<MessageChange>,
    /// The files changed, sorted.
    pub files: Vec<String>,
    /// The policies involved (`namespace:name`), sorted.
    pub policies: Vec<String>,
    /// The new image references (`image:tag`), sorted.
    pub images: Vec<String>,
}

impl MessageData {
    /// Data for `changes`; the sorted sets are derived from them, `images` given by the caller.
    #[must_use]
    pub fn new(
        automation: &str,
        branch: &str,
        changes: Vec<MessageChange>,
        mut images: Vec<String>,
    ) -> Self {
        let mut files: Vec<String> = changes.iter().map(|c| c.file.clone()).collect();
        files.sort();
        files.dedup();
        let mut policies: Vec<String> = changes.iter().map(|c| c.policy.clone()).collect();
        policies.sort();
        policies.dedup();
        images.sort();
        images.dedup();
        Self {
            automation: automation.to_string(),
            branch: branch.to_string(),
            changes,
            files,
            policies,
            images,
        }
    }

    /// Plausible data for checking a template when the config is loaded.
    fn sample() -> Self {
        Self::new(
            "deckhand",
            "main",
            vec![MessageChange {
                file: "deploy/app.yaml".into(),
                line: 3,
                policy: "flux-system:app".into(),
                field: "image".into(),
                image: "registry.lan/app".into(),
                old: "registry.lan/app:1.0.0".into(),
                new: "registry.lan/app:1.1.0".into(),
            }],
            vec!["registry.lan/app:1.1.0".into()],
        )
    }
}

impl MessageTemplate {
    /// The commit message for `data`: trimmed, ending in one newline, never empty.
    pub fn render(&self, data: &MessageData) -> Result<String, MessageError> {
        let rendered = match self {
            Self::Jinja(source) => render_jinja(source, data)?,
        };
        let message = rendered.trim();
        if message.is_empty() {
            return Err(MessageError::Empty);
        }
        Ok(format!("{message}\n"))
    }

    /// Renders the template with sample data, so that syntax errors and misspelt names are found
    /// when the config is loaded rather than at the first commit.
    pub fn check(&self) -> Result<(), MessageError> {
        self.render(&MessageData::sample()).map(|_| ())
    }
}

fn render_jinja(source: &str, data: &MessageData) -> Result<String, MessageError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(
        source,
        minijinja::value::Value::from(minijinja::value::Serde(data)),
    )
    .map_err(|e| MessageError::Template(e.to_string()))
}

/// The default message for `data`.
#[must_use]
pub fn default_message(data: &MessageData) -> String {
    MessageTemplate::Jinja(DEFAULT_TEMPLATE.to_string())
        .render(data)
        .unwrap_or_else(|_| format!("Update {} image reference(s)\n", data.changes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(file: &str, line: usize, policy: &str, old: &str, new: &str) -> MessageChange {
        MessageChange {
            file: file.into(),
            line,
            policy: policy.into(),
            field: "tag".into(),
            image: "reg.lan/app".into(),
            old: old.into(),
            new: new.into(),
        }
    }

    fn data() -> MessageData {
        MessageData::new(
            "homelab",
            "main",
            vec![
                change("b.yaml", 3, "flux-system:web", "1.0.0", "1.2.3"),
                change("a.yaml", 7, "flux-system:api", "1", "2"),
            ],
            vec!["reg.lan/web:1.2.3".into(), "reg.lan/api:2".into()],
        )
    }

    #[test]
    fn the_default_message_lists_every_change() {
        assert_eq!(
            default_message(&data()),
            "Update 2 image references (flux-system:api, flux-system:web)\n\n\
             - b.yaml:3 flux-system:web: 1.0.0 -> 1.2.3\n\
             - a.yaml:7 flux-system:api: 1 -> 2\n"
        );
        let one = MessageData::new("d", "main", vec![change("a", 1, "ns:p", "x", "y")], vec![]);
        assert!(default_message(&one).starts_with("Update 1 image reference (ns:p)\n"));
    }

    #[test]
    fn templates_see_the_data() {
        let t = MessageTemplate::Jinja(
            "[{{ automation }}] {{ images|join(' ') }} on {{ branch }}\n\n\
             {% for c in changes %}{{ c.field }} {{ c.image }} {{ c.old }}→{{ c.new }}\n{% endfor %}\
             files: {{ files|join(',') }}"
                .into(),
        );
        assert_eq!(
            t.render(&data()).expect("renders"),
            "[homelab] reg.lan/api:2 reg.lan/web:1.2.3 on main\n\n\
             tag reg.lan/app 1.0.0→1.2.3\ntag reg.lan/app 1→2\nfiles: a.yaml,b.yaml\n"
        );
    }

    #[test]
    fn bad_templates_are_found_by_check() {
        for (source, needle) in [
            ("{{ chnages }}", "undefined"),
            ("{% for c in changes %}", "unexpected end of input"),
            ("{{ changes|nosuchfilter }}", "unknown filter"),
            ("   {# only a comment #}  ", "empty"),
        ] {
            let err = MessageTemplate::Jinja(source.into())
                .check()
                .expect_err(source)
                .to_string();
            assert!(err.contains(needle), "{source}: {err}");
        }
        assert!(
            MessageTemplate::Jinja("Bump {{ policies|join }}".into())
                .check()
                .is_ok()
        );
    }
}
