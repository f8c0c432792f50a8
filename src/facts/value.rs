//! Abstract values: is a path, port, URL or name fixed (shared by every xdist
//! worker) or unique per test/worker? Fixed values are literals and constants;
//! unique ones are built from `tmp_path`, `worker_id`, `uuid`, `mkdtemp()`...

/// What is known of an expression's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Unknown,
    /// A fixed string (paths, URLs, names).
    Str(String),
    Int(i64),
    /// Unique per test or per worker.
    Unique,
    Obj(Obj),
    Tuple(Vec<Val>),
    /// A module-level mutable container, by its state key.
    Container(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    /// A client/driver/session/engine of a shared external service.
    Service(String),
    /// A client of something private to the test or worker.
    PrivateService,
    Socket,
    Monkeypatch,
    Request,
    /// A mutable list/dict/set value created in the function.
    Mutable,
    /// A process-wide singleton (`Settings.instance()`), by qualified class.
    Singleton(String),
    /// A `logging.Logger`: process-wide, whatever variable holds it.
    Logger,
    /// A fresh instance of one of the project's classes, with the shared
    /// objects its constructor stored on it: (attribute, shared key).
    Instance(ClassRef, Vec<(String, String)>),
    /// The receiver (`self`/`cls`) of the method being summarised, or a
    /// part of it.
    SelfRef,
    /// A test client (`app.test_client()`) of a web app every test of a
    /// scope shares, by the app's key: requests through it reach that app's
    /// state (its database, its caches).
    AppClient(String),
}

/// A class defined in one of the suite's modules (test or project code).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClassRef {
    pub module: usize,
    pub name: String,
}

impl Val {
    pub fn is_unique(&self) -> bool {
        matches!(self, Val::Unique | Val::Obj(Obj::PrivateService))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_port(&self) -> Option<i64> {
        match self {
            Val::Int(n) => Some(*n),
            Val::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Concatenation of parts: unique if any part is, known if all are.
    pub fn concat(parts: impl IntoIterator<Item = Val>) -> Val {
        let mut out = String::new();
        let mut unknown = false;
        for p in parts {
            match p {
                Val::Unique => return Val::Unique,
                Val::Str(s) => out.push_str(&s),
                Val::Int(n) => out.push_str(&n.to_string()),
                _ => unknown = true,
            }
        }
        if unknown {
            Val::Unknown
        } else {
            Val::Str(out)
        }
    }
}

/// Joins path parts the way `os.path.join` / `Path.__truediv__` do.
pub fn join_path(base: &str, part: &str) -> String {
    if part.starts_with('/') || base.is_empty() {
        return part.to_string();
    }
    if base.ends_with('/') {
        format!("{base}{part}")
    } else {
        format!("{base}/{part}")
    }
}

/// Collapses `//`, `.` and `..`, and drops a trailing `/`.
pub fn normalize_path(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

pub fn dirname(p: &str) -> String {
    match p.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((d, _)) => d.to_string(),
        None => String::new(),
    }
}

/// Where a fixed path lives, which decides the rule and whether it is shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathClass {
    /// Under /tmp, /var/tmp, /dev/shm.
    Temp(String),
    /// Under the home directory.
    Home(String),
    /// Relative: resolved against the (shared) working directory.
    Relative(String),
    /// Another absolute path.
    Absolute(String),
    /// Not a shared location (`/dev/null`, `/proc/self/...`, empty).
    NotShared,
}

pub fn classify_path(raw: &str) -> PathClass {
    let raw = raw.trim();
    if raw.is_empty() || raw.contains('\n') || raw.len() > 4096 {
        return PathClass::NotShared;
    }
    if let Some(rest) = raw.strip_prefix('~') {
        let rest = rest.trim_start_matches('/');
        return PathClass::Home(
            normalize_path(&format!("~/{rest}"))
                .trim_start_matches('/')
                .to_string(),
        );
    }
    if raw.starts_with('/') {
        let p = normalize_path(raw);
        if p.starts_with("/dev/null")
            || p.starts_with("/dev/std")
            || p.starts_with("/dev/fd")
            || p.starts_with("/proc/")
            || p == "/"
        {
            return PathClass::NotShared;
        }
        for t in ["/tmp", "/var/tmp", "/dev/shm"] {
            if p == t || p.starts_with(&format!("{t}/")) {
                return PathClass::Temp(p);
            }
        }
        if p.starts_with("/home/") || p.starts_with("/root/") || p == "/root" {
            return PathClass::Home(p);
        }
        return PathClass::Absolute(p);
    }
    if raw.contains("://") || raw.starts_with(':') {
        return PathClass::NotShared;
    }
    let p = normalize_path(raw);
    if p == "." {
        return PathClass::NotShared;
    }
    PathClass::Relative(format!("./{p}"))
}

/// A service key from a URL: scheme, host, port and database path, no
/// credentials or query (`bolt://neo4j:pw@localhost:7687` -> `bolt://localhost:7687`).
pub fn service_key(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme
        .split('+')
        .next()
        .unwrap_or(scheme)
        .to_ascii_lowercase();
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (auth_host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, p),
        None => (rest, ""),
    };
    let host = auth_host.rsplit('@').next().unwrap_or(auth_host);
    if host.is_empty() {
        return None;
    }
    let path = path.trim_end_matches('/');
    Some(if path.is_empty() {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{path}")
    })
}

/// Does `s` look like it names something per-worker (`test_{worker}` filled
/// by a later `.format`, `%s` with a pid...)? Used for templates left unfilled.
pub fn is_template(s: &str) -> bool {
    s.contains('{') && s.contains('}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_classify() {
        assert_eq!(
            classify_path("/tmp/sbir-etl/"),
            PathClass::Temp("/tmp/sbir-etl".into())
        );
        assert_eq!(
            classify_path("/tmp//a/./b/../c"),
            PathClass::Temp("/tmp/a/c".into())
        );
        assert_eq!(
            classify_path("out/report.csv"),
            PathClass::Relative("./out/report.csv".into())
        );
        assert_eq!(
            classify_path("~/.cache/x"),
            PathClass::Home("~/.cache/x".into())
        );
        assert_eq!(classify_path("/dev/null"), PathClass::NotShared);
        assert_eq!(
            classify_path("/var/lib/app"),
            PathClass::Absolute("/var/lib/app".into())
        );
    }

    #[test]
    fn service_keys_drop_credentials() {
        assert_eq!(
            service_key("bolt://neo4j:secret@localhost:7687").as_deref(),
            Some("bolt://localhost:7687")
        );
        assert_eq!(
            service_key("postgresql+psycopg2://u:p@localhost:5432/test_db?sslmode=off").as_deref(),
            Some("postgresql://localhost:5432/test_db")
        );
        assert_eq!(service_key("not a url"), None);
    }

    #[test]
    fn concat_rules() {
        assert_eq!(
            Val::concat([Val::Str("/tmp/".into()), Val::Unique]),
            Val::Unique
        );
        assert_eq!(
            Val::concat([Val::Str("/tmp/".into()), Val::Unknown]),
            Val::Unknown
        );
        assert_eq!(
            Val::concat([Val::Str("/tmp/x-".into()), Val::Int(3)]),
            Val::Str("/tmp/x-3".into())
        );
    }
}
