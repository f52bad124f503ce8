//! Names: the known name closest to a mistyped one, for the "did you mean"
//! of every input error (a recipe attribute's key at compile time, a check
//! spec's field, a recipe's kwarg, flag or step at run time).

/// The closest of `candidates` to `name`: at most two edits away, and not by
/// replacing the whole candidate (`xy` is not a typo of `os`).
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|&(d, c)| d <= 2 && d < c.chars().count())
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name_within_two_edits() {
        assert_eq!(did_you_mean("nmae", ["check", "name"]), Some("name"));
        assert_eq!(did_you_mean("servce", ["file", "service"]), Some("service"));
        assert_eq!(
            did_you_mean("listen-adresses", ["listen_addresses", "port"]),
            Some("listen_addresses")
        );
        // The nearer of two candidates wins.
        assert_eq!(did_you_mean("pot", ["ports", "port"]), Some("port"));
        assert_eq!(did_you_mean("prot", ["port"]), Some("port"));
    }

    #[test]
    fn suggests_nothing_far_off_or_wholly_replaced() {
        assert_eq!(did_you_mean("database", ["name", "port"]), None);
        // Two edits that replace all of a two-letter name are no typo of it.
        assert_eq!(did_you_mean("xy", ["os"]), None);
        assert_eq!(did_you_mean("ox", ["os"]), Some("os"));
        assert_eq!(did_you_mean("a", std::iter::empty()), None);
    }
}
