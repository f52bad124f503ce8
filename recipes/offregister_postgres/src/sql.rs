//! SQL text built from user values: every name is a quoted identifier and
//! every value a quoted literal, so `x"; DROP DATABASE postgres; --` is a
//! role name like any other. The statements reach `psql` on its standard
//! input, never on a command line.

/// `name` as a quoted identifier: `"` doubled inside double quotes.
/// `bob` → `"bob"`, `a"b` → `"a""b"`.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as a string literal: `'` doubled inside single quotes. With
/// `standard_conforming_strings` (on by default since PostgreSQL 9.1)
/// backslashes are ordinary characters; the `E` prefix is never used.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Creates role `name` if it does not exist, then sets its login, password
/// and attributes, so a second run updates a changed password. `CREATE
/// ROLE` has no `IF NOT EXISTS`, hence the `DO` block. `password` is best a
/// SCRAM verifier ([`crate::scram::verifier`]), which the server stores as is.
pub fn ensure_role(name: &str, password: &str, attributes: &[&str]) -> String {
    let mut attrs = vec!["LOGIN"];
    attrs.extend_from_slice(attributes);
    let create = format!(
        "BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {}) THEN CREATE ROLE {}; END IF; END",
        literal(name),
        ident(name)
    );
    format!(
        "DO {};\nALTER ROLE {} WITH {} PASSWORD {};\n",
        dollar_quote(&create),
        ident(name),
        attrs.join(" "),
        literal(password)
    )
}

/// Creates database `name` owned by `owner` unless it exists. `CREATE
/// DATABASE` can run neither in a `DO` block nor conditionally, so the query
/// returns the statement only when the database is absent and psql's
/// `\gexec` runs what it returns.
pub fn ensure_database(name: &str, owner: &str) -> String {
    let create = format!("CREATE DATABASE {} OWNER {}", ident(name), ident(owner));
    format!(
        "SELECT {} WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = {}) \\gexec\n",
        literal(&create),
        literal(name),
    )
}

/// `text` dollar-quoted with a tag that does not occur in it: `$off$…$off$`
/// (or `$off1$`, … when the text contains the tag).
pub fn dollar_quote(text: &str) -> String {
    let mut tag = "$off$".to_string();
    let mut n = 0;
    while text.contains(&tag) {
        n += 1;
        tag = format!("$off{n}$");
    }
    format!("{tag}{text}{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_their_quotes() {
        assert_eq!(ident("bob"), "\"bob\"");
        assert_eq!(
            ident("x\"; DROP DATABASE postgres; --"),
            "\"x\"\"; DROP DATABASE postgres; --\""
        );
        assert_eq!(ident(""), "\"\"");
    }

    #[test]
    fn literals_double_their_quotes_and_keep_backslashes() {
        assert_eq!(literal("pw"), "'pw'");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\'b"), "'a\\''b'");
        assert_eq!(literal("$1 \"x\""), "'$1 \"x\"'");
    }

    #[test]
    fn dollar_quotes_pick_a_tag_absent_from_the_text() {
        assert_eq!(dollar_quote("x"), "$off$x$off$");
        assert_eq!(dollar_quote("a $off$ b"), "$off1$a $off$ b$off1$");
        assert_eq!(dollar_quote("$off$ $off1$"), "$off2$$off$ $off1$$off2$");
    }

    #[test]
    fn role_statements_quote_name_and_password() {
        let sql = ensure_role("x'\"; --", "p'$off$\"", &["SUPERUSER"]);
        assert_eq!(
            sql,
            "DO $off$BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'x''\"; --') \
             THEN CREATE ROLE \"x'\"\"; --\"; END IF; END$off$;\n\
             ALTER ROLE \"x'\"\"; --\" WITH LOGIN SUPERUSER PASSWORD 'p''$off$\"';\n"
        );
        // A name holding the tag gets another tag.
        assert!(ensure_role("$off$", "pw", &[]).starts_with("DO $off1$BEGIN"));
    }

    #[test]
    fn database_statement_runs_only_when_absent() {
        let sql = ensure_database("app's", "o\"wner");
        assert_eq!(
            sql,
            "SELECT 'CREATE DATABASE \"app''s\" OWNER \"o\"\"wner\"' \
             WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'app''s') \\gexec\n"
        );
    }
}
