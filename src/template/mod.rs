//! Go `text/template` subset for Flux commit message templates.

/// A parsed Go template.
#[derive(Debug, Clone)]
pub struct GoTemplate {
    source: String,
}

/// A template that does not parse, or fails to render.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

impl GoTemplate {
    /// Parses a template.
    ///
    /// # Errors
    /// Syntax errors and unsupported features, named.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        Ok(Self {
            source: source.to_owned(),
        })
    }

    /// The template as written.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }
}
