//! SQL text built from user values: every name is a quoted identifier and
//! every value a quoted literal, so `x"; DROP DATABASE postgres; --` is a
//! role name like any other. The statements reach `psql` on its standard
//! input, never on a command line, as a [`Script`].

use std::collections::HashMap;

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

/// What a script prints (a notice, on standard error) for each role or
/// database it creates or changes: a run that prints none changed nothing.
pub const CHANGED: &str = "off-changed";

/// The salt and iterations (`4096:<base64>`) of each role's stored SCRAM
/// verifier, by role name, as [`stored_salts_query`]'s output gives them.
pub type StoredSalts = HashMap<String, String>;

/// Lists the stored salts of `roles`: one line per role with a verifier,
/// its name in hex (any name survives the line format) and its salt. Salts
/// are no secret: the server sends one to anyone who tries to log in.
pub fn stored_salts_query(roles: &[&str]) -> Script {
    let names: Vec<String> = roles.iter().map(|r| literal(r)).collect();
    let names = if names.is_empty() {
        "NULL".to_string()
    } else {
        names.join(", ")
    };
    let mut script = Script::new();
    script.push(&format!(
        "SELECT encode(convert_to(rolname, 'UTF8'), 'hex') || ' ' || substring(rolpassword from '^SCRAM-SHA-256\\$([0-9]+:[^$]+)\\$') \
         FROM pg_catalog.pg_authid WHERE rolpassword LIKE 'SCRAM-SHA-256$%' AND rolname IN ({names});\n"
    ));
    script
}

/// Reads [`stored_salts_query`]'s output (`psql -At`).
pub fn parse_stored_salts(stdout: &str) -> StoredSalts {
    stdout
        .lines()
        .filter_map(|line| {
            let (hex, salt) = line.split_once(' ')?;
            if hex.len() % 2 != 0 {
                return None;
            }
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                .collect();
            Some((String::from_utf8(bytes?).ok()?, salt.to_string()))
        })
        .collect()
}

/// Creates or updates each user (its password as a SCRAM verifier where
/// possible, with the salt it has on the server if any) and the database it
/// owns. A user already as asked is left alone.
pub fn users(users: &[DbUser], salts: &StoredSalts) -> Script {
    let mut script = Script::new();
    for u in users {
        let attrs = if u.superuser {
            "SUPERUSER"
        } else {
            "NOSUPERUSER"
        };
        let stored = salts.get(&u.user).map(String::as_str);
        script.push(&ensure_role(
            &u.user,
            &scram::password_for_server_like(u.password.expose(), stored),
            &[attrs],
        ));
        if let Some(db) = &u.dbname {
            script.push(&ensure_database(db, &u.user));
        }
    }
    script
}

/// Creates or updates the role replicas connect as.
pub fn replication_role(user: &str, password: &str, salts: &StoredSalts) -> Script {
    let mut script = Script::new();
    let stored = salts.get(user).map(String::as_str);
    script.push(&ensure_role(
        user,
        &scram::password_for_server_like(password, stored),
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
    // The role as asked: logging in, with this password and these attributes.
    let mut as_asked = vec![
        format!("rolname = {}", literal(name)),
        "rolcanlogin".to_string(),
        format!("rolpassword = {}", literal(password)),
    ];
    for attr in attributes {
        let column = match *attr {
            "SUPERUSER" => "rolsuper",
            "NOSUPERUSER" => "NOT rolsuper",
            "REPLICATION" => "rolreplication",
            "NOREPLICATION" => "NOT rolreplication",
            other => other,
        };
        as_asked.push(column.to_string());
    }
    let body = format!(
        "BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_authid WHERE {}) THEN \
         IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {}) THEN CREATE ROLE {}; END IF; \
         ALTER ROLE {} WITH {} PASSWORD {}; RAISE NOTICE '{CHANGED}'; END IF; END",
        as_asked.join(" AND "),
        literal(name),
        ident(name),
        ident(name),
        attrs.join(" "),
        literal(password)
    );
    format!("DO {};\n", dollar_quote(&body))
}

/// Creates database `name` owned by `owner` unless it exists. `CREATE
/// DATABASE` can run neither in a `DO` block nor conditionally, so the query
/// returns the statement only when the database is absent and psql's
/// `\gexec` runs what it returns.
pub fn ensure_database(name: &str, owner: &str) -> String {
    let create = format!("CREATE DATABASE {} OWNER {}", ident(name), ident(owner));
    let said = format!("DO $off$BEGIN RAISE NOTICE '{CHANGED}'; END$off$");
    format!(
        "SELECT {}, {} WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = {}) \\gexec\n",
        literal(&create),
        literal(&said),
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
            "DO $off1$BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_authid WHERE rolname = 'x''\"; --' \
             AND rolcanlogin AND rolpassword = 'p''$off$\"' AND rolsuper) THEN \
             IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'x''\"; --') THEN CREATE ROLE \"x'\"\"; --\"; END IF; \
             ALTER ROLE \"x'\"\"; --\" WITH LOGIN SUPERUSER PASSWORD 'p''$off$\"'; RAISE NOTICE 'off-changed'; END IF; END$off1$;\n"
        );
        assert!(ensure_role("plain", "pw", &[]).starts_with("DO $off$BEGIN"));
    }

    #[test]
    fn stored_salts_read_back_by_name() {
        let salts = parse_stored_salts("617070 4096:c2FsdA==\n61206220 4096:eA==\nzz 1:x\n");
        assert_eq!(salts["app"], "4096:c2FsdA==");
        assert_eq!(salts["a b "], "4096:eA==");
        assert_eq!(salts.len(), 2);
        let query = stored_salts_query(&["app", "it's"]);
        assert!(
            query.text().contains("rolname IN ('app', 'it''s')"),
            "{}",
            query.text()
        );
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
            super::users(&users, &StoredSalts::new()),
            super::users(&[], &StoredSalts::new()),
            replication_role("replicator", r"r\'p", &StoredSalts::new()),
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
            "SELECT 'CREATE DATABASE \"app''s\" OWNER \"o\"\"wner\"', \
             'DO $off$BEGIN RAISE NOTICE ''off-changed''; END$off$' \
             WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'app''s') \\gexec\n"
        );
    }
}
