//! The response variants of IFEval's loose evaluation.

use crate::py;

/// The 8 variants `test_instruction_following_loose` tries, in its order: the response, the
/// response without `*`, without its first line, without its last line, without both, and the
/// last three without `*`. Line removal splits on `"\n"` and strips the result.
pub(crate) fn variants(response: &str) -> [String; 8] {
    let first_nl = response.find('\n');
    let last_nl = response.rfind('\n');
    let remove_first = first_nl.map_or("", |i| &response[i + 1..]);
    let remove_last = last_nl.map_or("", |i| &response[..i]);
    let remove_both = match (first_nl, last_nl) {
        (Some(a), Some(b)) if a < b => &response[a + 1..b],
        _ => "",
    };
    let (f, l, b) = (
        py::strip(remove_first),
        py::strip(remove_last),
        py::strip(remove_both),
    );
    let unstar = |s: &str| s.replace('*', "");
    [
        response.to_string(),
        unstar(response),
        f.to_string(),
        l.to_string(),
        b.to_string(),
        unstar(f),
        unstar(l),
        unstar(b),
    ]
}

#[cfg(test)]
mod tests {
    use super::variants;

    #[test]
    fn eight_variants_like_the_reference() {
        let v = variants("Sure!\n**Body** text\n  more\nBye");
        assert_eq!(v[0], "Sure!\n**Body** text\n  more\nBye");
        assert_eq!(v[1], "Sure!\nBody text\n  more\nBye");
        assert_eq!(v[2], "**Body** text\n  more\nBye");
        assert_eq!(v[3], "Sure!\n**Body** text\n  more");
        assert_eq!(v[4], "**Body** text\n  more");
        assert_eq!(v[5], "Body text\n  more\nBye");
        assert_eq!(v[6], "Sure!\nBody text\n  more");
        assert_eq!(v[7], "Body text\n  more");
    }

    #[test]
    fn single_line_and_two_lines() {
        let v = variants("*only*");
        assert_eq!(v[1], "only");
        assert!(v[2..].iter().all(|s| s.is_empty() || s == "only") && v[2].is_empty());
        let v = variants("a\n b ");
        assert_eq!(
            (v[2].as_str(), v[3].as_str(), v[4].as_str()),
            ("b", "a", "")
        );
    }
}
