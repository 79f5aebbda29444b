//! `?limit=N&after=NAME` for the list endpoints: entries in name order, at most `limit` (default
//! and most: `MAX_PAGE`) per page, and `next` naming the page's last entry when more follow (the
//! next page is `?after=<next>`), so a catalog of any size is listed in bounded answers.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use serde::Deserialize;

use super::ApiError;

/// Entries per page when the request names no `limit`, and the most it may name.
pub const MAX_PAGE: usize = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<usize>,
    after: Option<String>,
}

/// The page the query asks for, and the `next` cursor: `fetch(after, n)` returns up to `n`
/// entries in name order after `after` (the catalog reads them from its ordered maps, so a
/// page costs O(log n + limit) whatever the catalog's size).
pub fn page<T>(
    fetch: impl FnOnce(Option<&str>, usize) -> Vec<T>,
    name: impl Fn(&T) -> &str,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::unprocessable("invalid_request", rejection.body_text()).at("query string")
    })?;
    let limit = query.limit.unwrap_or(MAX_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("limit must be between 1 and {MAX_PAGE}"),
        )
        .at("limit"));
    }
    // One more than the page: whether it exists says whether another page follows.
    let mut rest = fetch(query.after.as_deref(), limit + 1);
    let more = rest.len() > limit;
    rest.truncate(limit);
    let next = more
        .then(|| rest.last().map(|e| name(e).to_owned()))
        .flatten();
    Ok((rest, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(limit: Option<usize>, after: Option<&str>) -> Result<Query<PageQuery>, QueryRejection> {
        Ok(Query(PageQuery {
            limit,
            after: after.map(str::to_owned),
        }))
    }

    #[test]
    fn pages_follow_the_cursor_to_the_end() {
        let names: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let fetch = |after: Option<&str>, n: usize| -> Vec<String> {
            names
                .iter()
                .filter(|name| after.is_none_or(|after| name.as_str() > after))
                .take(n)
                .cloned()
                .collect()
        };
        fn by_name(s: &String) -> &str {
            s
        }
        let (first, next) = page(fetch, by_name, ask(Some(2), None)).unwrap();
        assert_eq!(
            (first, next.as_deref()),
            (vec!["a".into(), "b".into()], Some("b"))
        );
        let (second, next) = page(fetch, by_name, ask(Some(2), Some("b"))).unwrap();
        assert_eq!(
            (second, next.as_deref()),
            (vec!["c".into(), "d".into()], Some("d"))
        );
        let (last, next) = page(fetch, by_name, ask(Some(2), Some("d"))).unwrap();
        assert_eq!((last, next), (vec!["e".to_owned()], None));
        // A page that ends exactly at the last entry names no next page.
        let (last, next) = page(fetch, by_name, ask(Some(2), Some("c"))).unwrap();
        assert_eq!((last.len(), next), (2, None));
        let (all, next) = page(fetch, by_name, ask(None, None)).unwrap();
        assert_eq!((all.len(), next), (5, None));
        for bad in [0, MAX_PAGE + 1] {
            let error = page(fetch, by_name, ask(Some(bad), None)).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("limit"));
        }
    }
}
