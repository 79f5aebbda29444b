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

/// The page of `all` (sorted by `name`) the query asks for, and the `next` cursor.
pub fn page<T>(
    all: Vec<T>,
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
    let mut rest: Vec<T> = match &query.after {
        Some(after) => all
            .into_iter()
            .filter(|e| name(e) > after.as_str())
            .collect(),
        None => all,
    };
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
        fn by_name(s: &String) -> &str {
            s
        }
        let (first, next) = page(names.clone(), by_name, ask(Some(2), None)).unwrap();
        assert_eq!(
            (first, next.as_deref()),
            (vec!["a".into(), "b".into()], Some("b"))
        );
        let (second, next) = page(names.clone(), by_name, ask(Some(2), Some("b"))).unwrap();
        assert_eq!(
            (second, next.as_deref()),
            (vec!["c".into(), "d".into()], Some("d"))
        );
        let (last, next) = page(names.clone(), by_name, ask(Some(2), Some("d"))).unwrap();
        assert_eq!((last, next), (vec!["e".to_owned()], None));
        let (all, next) = page(names.clone(), by_name, ask(None, None)).unwrap();
        assert_eq!((all.len(), next), (5, None));
        for bad in [0, MAX_PAGE + 1] {
            let error = page(names.clone(), by_name, ask(Some(bad), None)).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("limit"));
        }
    }
}
