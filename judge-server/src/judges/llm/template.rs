//! Judge prompt templates: data rendered with minijinja (strict undefined, bounded fuel).

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Bounds the work one rendering may do, so a user template cannot loop for ever.
const FUEL: u64 = 5_000_000;

pub struct JudgeTemplate {
    env: Environment<'static>,
}

impl JudgeTemplate {
    /// Compiles `source`; `Err` is the syntax error.
    pub fn new(source: &str) -> Result<JudgeTemplate, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.add_template_owned("judge", source.to_owned())
            .map_err(|e| e.to_string())?;
        Ok(JudgeTemplate { env })
    }

    /// Renders with `context`; `Err` names the missing variable or the failing expression.
    pub fn render(&self, context: &impl Serialize) -> Result<String, String> {
        let template = self.env.get_template("judge").map_err(|e| e.to_string())?;
        template
            .render(minijinja::value::Serde(context))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_variables_loops_and_fails_on_undefined() {
        let template = JudgeTemplate::new(
            "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}A: {{ response }} [{{ metadata.answer }}]",
        )
        .unwrap();
        let rendered = template
            .render(&json!({
                "messages": [{"role": "user", "content": "2+2?"}],
                "response": "4",
                "metadata": {"answer": 4},
            }))
            .unwrap();
        assert_eq!(rendered, "user: 2+2?\nA: 4 [4]");
        let missing = template
            .render(&json!({"messages": [], "response": "4", "metadata": {}}))
            .unwrap_err();
        assert!(missing.contains("undefined"), "{missing}");
        assert!(JudgeTemplate::new("{% if %}").is_err());
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let template = JudgeTemplate::new(
            "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}",
        )
        .unwrap();
        assert!(template.render(&json!({})).is_err());
    }

    #[test]
    fn nothing_is_html_escaped() {
        let template = JudgeTemplate::new("{{ response }}").unwrap();
        assert_eq!(
            template.render(&json!({"response": "<b>&"})).unwrap(),
            "<b>&"
        );
    }
}
