//! ISO-8601 durations as Graph's presence APIs take them (`PT5M`, `PT1H30M`, `P1D`).

use chrono::Duration;

/// Parses `P[nD][T[nH][nM][nS]]`; `None` for anything else.
pub(crate) fn parse_iso8601(text: &str) -> Option<Duration> {
    let rest = text.trim().strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) => (days, Some(time)),
        None => (rest, None),
    };
    let mut total = Duration::zero();
    if !days.is_empty() {
        total += Duration::days(days.strip_suffix('D')?.parse::<i64>().ok()?);
    }
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        let mut number = String::new();
        for c in time.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let n: i64 = number.parse().ok()?;
            number.clear();
            total += match c {
                'H' => Duration::hours(n),
                'M' => Duration::minutes(n),
                'S' => Duration::seconds(n),
                _ => return None,
            };
        }
        if !number.is_empty() {
            return None;
        }
    }
    (rest != "T" && !rest.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_graph_documents() {
        assert_eq!(parse_iso8601("PT5M"), Some(Duration::minutes(5)));
        assert_eq!(parse_iso8601("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_iso8601("P1D"), Some(Duration::days(1)));
        assert_eq!(parse_iso8601("PT4H"), Some(Duration::hours(4)));
        for bad in ["", "P", "PT", "5M", "PT5X", "PT5", "PTM"] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
