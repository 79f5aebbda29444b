//! `Retry-After` (RFC 9110, section 10.2.3), as the client and the server's LLM backends read it.

use std::time::{Duration, SystemTime};

/// How long a `Retry-After` value asks to wait from `now`: delay-seconds (fractions accepted,
/// as some servers send them) or an HTTP-date (one already past asks for no wait). `None` for
/// anything else, a negative or unrepresentable delay included.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(" 0.5 ", now), Some(Duration::from_millis(500)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["-1", "soon", "", "NaN", "inf", "1e300"] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
    }
}
