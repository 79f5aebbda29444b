//! Taking the program out of a response: the last fenced code block in the language (or an
//! untagged fence), else — unless configured otherwise — the whole response.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Extraction {
    /// The last fenced block; the whole response when there is none.
    #[default]
    LastFenceOrWhole,
    /// The last fenced block; no fence means the item fails.
    LastFence,
    /// The response as it is.
    Whole,
}

/// Fenced blocks (```lang ... ```) whose tag is empty or one of `tags`, in order.
fn fenced_blocks<'a>(text: &'a str, tags: &[&str]) -> Vec<&'a str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let Some(line_end) = after.find('\n') else {
            break;
        };
        let tag = after[..line_end].trim().to_ascii_lowercase();
        let body = &after[line_end + 1..];
        let Some(close) = body.find("```") else { break };
        if tag.is_empty() || tags.contains(&tag.as_str()) {
            blocks.push(&body[..close]);
        }
        rest = &body[close + 3..];
    }
    blocks
}

pub fn extract<'a>(response: &'a str, tags: &[&str], mode: Extraction) -> Option<&'a str> {
    match mode {
        Extraction::Whole => Some(response),
        Extraction::LastFence => fenced_blocks(response, tags).pop(),
        Extraction::LastFenceOrWhole => {
            Some(fenced_blocks(response, tags).pop().unwrap_or(response))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY: &[&str] = &["python", "py", "python3"];

    #[test]
    fn takes_the_last_matching_fence() {
        let text =
            "Here:\n```python\nx = 1\n```\nbetter:\n```py\nx = 2\n```\n```js\nlet x = 3\n```\n";
        assert_eq!(extract(text, PY, Extraction::LastFence), Some("x = 2\n"));
        assert_eq!(
            extract("```\nprint(1)\n```", PY, Extraction::LastFence),
            Some("print(1)\n")
        );
        assert_eq!(extract("print(1)", PY, Extraction::LastFence), None);
        assert_eq!(
            extract("print(1)", PY, Extraction::LastFenceOrWhole),
            Some("print(1)")
        );
        assert_eq!(
            extract("```python\nunclosed", PY, Extraction::LastFenceOrWhole),
            Some("```python\nunclosed")
        );
        assert_eq!(
            extract("```python\nx\n```", PY, Extraction::Whole),
            Some("```python\nx\n```")
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Text without backticks (so it cannot open or close a fence).
        fn plain() -> impl Strategy<Value = String> {
            any::<String>().prop_map(|s| s.replace('`', "'"))
        }

        proptest! {
            #[test]
            fn extraction_never_panics_and_returns_part_of_the_response(
                text in any::<String>(),
                fences in proptest::collection::vec(("[a-z]{0,7}", any::<String>()), 0..4),
            ) {
                let mut response = text.clone();
                for (tag, body) in &fences {
                    response.push_str(&format!("```{tag}\n{body}```"));
                }
                for mode in [Extraction::LastFenceOrWhole, Extraction::LastFence, Extraction::Whole] {
                    if let Some(code) = extract(&response, PY, mode) {
                        // a slice of the response itself
                        let start = code.as_ptr() as usize - response.as_ptr() as usize;
                        prop_assert!(start + code.len() <= response.len());
                    }
                }
            }

            #[test]
            fn the_last_python_fence_is_the_program(
                before in plain(),
                first in plain(),
                body in plain(),
                after in plain(),
                tag in prop_oneof![Just(""), Just("python"), Just("py"), Just("Python3")],
            ) {
                let response = format!(
                    "{before}\n```python\n{first}```\n{after}\n```{tag}\n{body}```\n{after}"
                );
                prop_assert_eq!(extract(&response, PY, Extraction::LastFence), Some(body.as_str()));
                prop_assert_eq!(
                    extract(&response, PY, Extraction::LastFenceOrWhole),
                    Some(body.as_str())
                );
            }
        }
    }
}
