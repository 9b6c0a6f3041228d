//! Cells of the sheets people open in a spreadsheet program: what the
//! exports write (sites, inspections, coverage) and the site import reads
//! back. One home for the formula rule, both ways.

/// A cell a spreadsheet would run as a formula (`= + - @`, a tab or a
/// carriage return first) is kept as text: a leading `'`. Only text that
/// people typed goes through here; the numbers are the server's own.
pub fn cell(s: String) -> String {
    // A text that already starts with quotes before such a character gets
    // one more, so that `uncell` gives back exactly what was typed.
    if runs_as_formula(s.trim_start_matches('\'')) {
        format!("'{s}")
    } else {
        s
    }
}

fn runs_as_formula(s: &str) -> bool {
    matches!(s.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'))
}

/// The inverse of [`cell`], for a sheet read back in: exactly the `'` that
/// `cell` adds is dropped (a `'` before anything else is the cell's own).
pub fn uncell(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if runs_as_formula(rest.trim_start_matches('\'')) => rest,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// What the export neutralises, the import reads back exactly.
        #[test]
        fn uncell_undoes_cell(s in "['=+@ \\-\\t]{0,2}[a-z排口]{0,4}") {
            let out = cell(s.clone());
            proptest::prop_assert_eq!(uncell(&out), s.as_str());
        }
    }
}
