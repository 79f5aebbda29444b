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

/// One fenced block: whether its info string names one of the language's tags, and its body.
struct Block<'a> {
    tagged: bool,
    body: &'a str,
}

/// An opening fence line (CommonMark: up to three spaces, then three or more backticks or
/// tildes, then the info string): the fence character, its length, and the info's first word.
fn opening(line: &str) -> Option<(char, usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let fence = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let length = rest.len() - rest.trim_start_matches(fence).len();
    if length < 3 {
        return None;
    }
    let info = rest[length..].trim();
    if fence == '`' && info.contains('`') {
        return None;
    }
    Some((fence, length, info.split_whitespace().next().unwrap_or("")))
}

/// Whether `line` closes a fence of `fence` × `length` (at least as long, nothing after).
fn closes(line: &str, fence: char, length: usize) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let run = rest.len() - rest.trim_start_matches(fence).len();
    indent <= 3 && run >= length && rest[run..].trim().is_empty()
}

/// Fenced blocks whose tag is empty or one of `tags`, in order. A fence that is never closed
/// runs to the end of the text (as in CommonMark: a response cut off by the token limit).
fn fenced_blocks<'a>(text: &'a str, tags: &[&str]) -> Vec<Block<'a>> {
    let mut blocks = Vec::new();
    let mut lines = text.split_inclusive('\n').scan(0usize, |offset, line| {
        let start = *offset;
        *offset += line.len();
        Some((start, line.trim_end_matches(['\n', '\r'])))
    });
    while let Some((_, line)) = lines.next() {
        let Some((fence, length, tag)) = opening(line) else {
            continue;
        };
        let tag = tag.to_ascii_lowercase();
        let body_start = lines.clone().next().map_or(text.len(), |(start, _)| start);
        let mut body_end = text.len();
        for (start, line) in lines.by_ref() {
            if closes(line, fence, length) {
                body_end = start;
                break;
            }
        }
        if tag.is_empty() || tags.contains(&tag.as_str()) {
            blocks.push(Block {
                tagged: !tag.is_empty(),
                body: &text[body_start..body_end],
            });
        }
    }
    blocks
}

/// The program: the last block tagged with the language, else the last untagged block (an
/// untagged fence after the code is usually its sample output, not another program).
fn last_program<'a>(text: &'a str, tags: &[&str]) -> Option<&'a str> {
    let blocks = fenced_blocks(text, tags);
    blocks
        .iter()
        .rev()
        .find(|block| block.tagged)
        .or_else(|| blocks.last())
        .map(|block| block.body)
}

/// The program in `response` (`tags` are the language's fence tags, lowercase).
pub fn extract<'a>(response: &'a str, tags: &[&str], mode: Extraction) -> Option<&'a str> {
    match mode {
        Extraction::Whole => Some(response),
        Extraction::LastFence => last_program(response, tags),
        Extraction::LastFenceOrWhole => Some(last_program(response, tags).unwrap_or(response)),
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
            Some("unclosed"),
            "an unclosed fence runs to the end (CommonMark)"
        );
        assert_eq!(
            extract("```python\nx\n```", PY, Extraction::Whole),
            Some("```python\nx\n```")
        );
    }

    #[test]
    fn a_tagged_fence_wins_over_later_untagged_ones() {
        // The program, then its sample output in an untagged fence: the program runs.
        let text = "```python\nprint(input())\n```\nOutput:\n```\n42\n```\n";
        assert_eq!(
            extract(text, PY, Extraction::LastFence),
            Some("print(input())\n")
        );
        // Untagged blocks only: the last one.
        assert_eq!(
            extract("```\na\n```\n```\nb\n```", PY, Extraction::LastFence),
            Some("b\n")
        );
    }

    #[test]
    fn commonmark_fences() {
        // Longer backtick fences hold ``` inside; tildes; an info string after the tag;
        // indentation up to three spaces; closing fences at least as long as the opening.
        let four = "````python\ns = '```'\nprint(s)\n````\n";
        assert_eq!(
            extract(four, PY, Extraction::LastFence),
            Some("s = '```'\nprint(s)\n")
        );
        assert_eq!(
            extract("~~~python\nx = 1\n~~~\n", PY, Extraction::LastFence),
            Some("x = 1\n")
        );
        assert_eq!(
            extract(
                "```python title=\"a.py\"\nx = 2\n```",
                PY,
                Extraction::LastFence
            ),
            Some("x = 2\n")
        );
        assert_eq!(
            extract("   ```py\nx = 3\n   ```\n", PY, Extraction::LastFence),
            Some("x = 3\n")
        );
        assert_eq!(
            extract("~~~~py\nx = 4\n~~~\n~~~~\n", PY, Extraction::LastFence),
            Some("x = 4\n~~~\n"),
            "a shorter fence does not close"
        );
        // Four spaces of indentation is code, not a fence; inline ``` is not a fence.
        assert_eq!(
            extract("    ```python\nx\n    ```\n", PY, Extraction::LastFence),
            None
        );
        assert_eq!(
            extract("use ```python``` here", PY, Extraction::LastFence),
            None
        );
        // CRLF line ends.
        assert_eq!(
            extract("```python\r\nx = 5\r\n```\r\n", PY, Extraction::LastFence),
            Some("x = 5\r\n")
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Text without backticks or tildes (so it cannot open or close a fence), ending in
        /// a line break (a closing fence stands on a line of its own).
        fn plain() -> impl Strategy<Value = String> {
            any::<String>().prop_map(|s| {
                let mut s = s.replace(['`', '~'], "'").replace('\r', " ");
                if !s.is_empty() && !s.ends_with('\n') {
                    s.push('\n');
                }
                s
            })
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
                // A later untagged fence (sample output, say) does not replace the tagged one.
                let program = if tag.is_empty() { first.as_str() } else { body.as_str() };
                prop_assert_eq!(extract(&response, PY, Extraction::LastFence), Some(program));
                prop_assert_eq!(
                    extract(&response, PY, Extraction::LastFenceOrWhole),
                    Some(program)
                );
            }
        }
    }
}
