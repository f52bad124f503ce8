//! SQL text built from user values: every name is a quoted identifier and
//! every value a quoted literal, so `x"; DROP DATABASE postgres; --` is a
//! role name like any other. The statements reach `psql` on its standard
//! input, never on a command line, as a [`Script`].

use crate::inputs::DbUser;
use crate::scram;

/// The first statement of every script: the literals below double their
/// quotes and leave backslashes alone, which is how the server reads them
/// only with `standard_conforming_strings` on. That is the default, but a
/// server's configuration may turn it off, and then it would read the
/// backslash of `'a\'b'` as an escape.
const PREAMBLE: &str = "SET standard_conforming_strings = on;\n";

/// SQL for psql's standard input, always opening with [`PREAMBLE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script(String);

impl Script {
    pub fn new() -> Script {
        Script(PREAMBLE.to_string())
    }

    pub fn push(&mut self, statements: &str) {
        self.0.push_str(statements);
    }

    pub fn text(&self) -> &str {
        &self.0
    }
}

/// Creates or updates each user (its password as a SCRAM verifier where
/// possible) and the database it owns.
pub fn users(users: &[DbUser]) -> Script {
    let mut script = Script::new();
    for u in users {
        let attrs = if u.superuser {
            "SUPERUSER"
        } else {
            "NOSUPERUSER"
        };
        script.push(&ensure_role(
            &u.user,
            &scram::password_for_server(u.password.expose()),
            &[attrs],
        ));
        if let Some(db) = &u.dbname {
            script.push(&ensure_database(db, &u.user));
        }
    }
    script
}

/// Creates or updates the role replicas connect as.
pub fn replication_role(user: &str, password: &str) -> Script {
    let mut script = Script::new();
    script.push(&ensure_role(
        user,
        &scram::password_for_server(password),
        &["REPLICATION"],
    ));
    script
}

/// `name` as a quoted identifier: `"` doubled inside double quotes.
/// `bob` → `"bob"`, `a"b` → `"a""b"`.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as a string literal: `'` doubled inside single quotes. With
/// `standard_conforming_strings` on (as every [`Script`] sets it)
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
    fn every_script_sets_standard_conforming_strings_first() {
        let users: Vec<DbUser> = serde_json::from_str(
            r#"[{"user": "a\\'b", "password": "p\u00e9\\'", "dbname": "d\\'b"},
                {"user": "admin", "password": "pw", "superuser": true}]"#,
        )
        .unwrap();
        let scripts = [
            Script::new(),
            super::users(&users),
            super::users(&[]),
            replication_role("replicator", r"r\'p"),
        ];
        for script in &scripts {
            assert!(
                script
                    .text()
                    .starts_with("SET standard_conforming_strings = on;\n"),
                "{}",
                script.text()
            );
        }
        // Backslashes stay as they are: data once the setting is on. A
        // password beyond ASCII is sent as itself, the others as verifiers.
        let text = scripts[1].text();
        assert!(
            text.contains(r#"ALTER ROLE "a\'b" WITH LOGIN NOSUPERUSER PASSWORD 'pé\''';"#),
            "{text}"
        );
        assert!(text.contains(r"WHERE datname = 'd\''b') \gexec"), "{text}");
        assert!(
            text.contains(r#"ALTER ROLE "admin" WITH LOGIN SUPERUSER PASSWORD 'SCRAM-SHA-256$"#),
            "{text}"
        );
        let text = scripts[3].text();
        assert!(
            text.contains(
                r#"ALTER ROLE "replicator" WITH LOGIN REPLICATION PASSWORD 'SCRAM-SHA-256$"#
            ),
            "{text}"
        );
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
