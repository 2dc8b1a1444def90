//! The PostgreSQL password: kept out of every message, and taken from
//! where libpq takes it when the URL has none (`PGPASSWORD`, then the
//! password file `PGPASSFILE`, else `~/.pgpass`).
//!
//! Why a file or the environment: a URL on the command line (`--sink`,
//! `--db`) is visible to every local user in `ps`; the password file is
//! private (libpq ignores it when group or others can read it, and so do
//! we).

use std::path::{Path, PathBuf};

/// The URL with its password replaced by `***`, wherever the parser of
/// `postgres::Config` would find one: the user information runs to the
/// *first* `@` (so a password may hold `/`, `?` or `#`), and a
/// `password=` parameter of the query.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let shown = match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    redact_query(&shown)
}

/// `password=` (any case) in the query string becomes `password=***`.
fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// The password of the first line of the password file that matches
/// (`hostname:port:database:username:password`, `*` matches anything,
/// `\:` and `\\` escaped), as libpq reads it. `None` when there is no
/// file, it is readable by group or others, or nothing matches.
pub fn from_passfile(host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    let path = passfile_path()?;
    if !private(&path) {
        tracing::warn!(path = %path.display(), "ignoring the PostgreSQL password file: group or others can read it (chmod 600)");
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let port = port.to_string();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = split_fields(line);
            let [h, p, d, u, password] = fields.as_slice() else {
                return None;
            };
            let matches = |field: &str, value: &str| field == "*" || field == value;
            (matches(h, host) && matches(p, &port) && matches(d, database) && matches(u, user))
                .then(|| password.clone())
        })
}

fn passfile_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGPASSFILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass"))
}

fn private(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o077 == 0)
}

/// The five fields of a password file line, unescaped.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_shape_is_redacted() {
        for (url, shown) in [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("postgres://u:p/w@h:5432/db", "postgres://u:***@h:5432/db"),
            (
                "postgres://u:p?w@h/db?sslmode=disable",
                "postgres://u:***@h/db?sslmode=disable",
            ),
            ("postgres://u:p#w@h/db", "postgres://u:***@h/db"),
            ("postgresql://u:p@ss@h/db", "postgresql://u:***@ss@h/db"),
            (
                "postgres://u@h/db?password=pw&x=1",
                "postgres://u@h/db?password=***&x=1",
            ),
            (
                "postgres://h/db?user=u&PASSWORD=pw",
                "postgres://h/db?user=u&PASSWORD=***",
            ),
            ("postgres://h/db", "postgres://h/db"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn redaction_hides_what_the_parser_takes_as_the_password() {
        for url in [
            "postgres://u:Se/Cret@h/db",
            "postgres://u:Se?Cret@h/db?sslmode=disable",
            "postgres://u:Se#Cret@h/db",
            "postgres://u:Se%2FCret@h/db",
            "postgres://u:SeCret@h:5432/db?password=SeCret",
        ] {
            let config: postgres::Config = url.parse().expect(url);
            let password = String::from_utf8_lossy(config.get_password().expect("password"));
            let shown = redact_url(url);
            assert!(!shown.contains(password.as_ref()), "{url} -> {shown}");
            assert!(!shown.contains("Cret"), "{url} -> {shown}");
        }
    }

    #[test]
    fn password_file_lines() {
        assert_eq!(
            split_fields(r"db.example:5432:*:me:pa\:ss\\w"),
            ["db.example", "5432", "*", "me", r"pa:ss\w"]
        );
        assert_eq!(split_fields("a:b:c:d:e:f"), ["a", "b", "c", "d", "e:f"]);
    }
}
