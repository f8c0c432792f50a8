//! isoaudit's own settings: finding `isoaudit.toml` or `[tool.isoaudit]`, and
//! turning the table into [`Settings`] with every unknown key and bad value
//! reported at its span. Knows nothing of pytest's options.

use std::path::{Path, PathBuf};

use toml_edit::{Item, Key, TableLike, Value};

use super::error::{display_path, ConfigError, SourceText};
use super::pytest::{absolutize, parse_toml};
use super::{SchedulerSettings, Settings};

/// The keys of `[tool.isoaudit]`, in the order the help text lists them.
pub const TOP_KEYS: [&str; 13] = [
    "select",
    "extend-select",
    "ignore",
    "per-file-ignores",
    "isolation-markers",
    "heavy-markers",
    "shared-paths",
    "catalog",
    "timeout",
    "heavy-rss-mb",
    "heavy-cpu-s",
    "baseline",
    "scheduler",
];

/// The keys of `[tool.isoaudit.scheduler]`.
pub const SCHEDULER_KEYS: [&str; 4] = [
    "workers",
    "heavy-workers",
    "durations",
    "rerun-failures-serially",
];

/// Walks up from `start` to the file system root; in each directory
/// `isoaudit.toml` wins, else a `pyproject.toml` with `[tool.isoaudit]`.
/// `base` is what error messages show paths relative to.
pub fn find(start: &Path, base: &Path) -> Result<Option<(PathBuf, Settings)>, ConfigError> {
    for dir in start.ancestors() {
        let own = dir.join("isoaudit.toml");
        if own.is_file() {
            let settings = load_file(&own, base)?;
            return Ok(Some((own, settings)));
        }
        let pyproject = dir.join("pyproject.toml");
        if pyproject.is_file() {
            let src = read(&pyproject, base)?;
            if let Some(settings) = from_pyproject(&src, dir)? {
                return Ok(Some((pyproject, settings)));
            }
        }
    }
    Ok(None)
}

/// Reads one config file: `[tool.isoaudit]` when it is named
/// `pyproject.toml` (defaults when the table is absent), else the whole file.
pub fn load_file(path: &Path, base: &Path) -> Result<Settings, ConfigError> {
    let src = read(path, base)?;
    let dir = path.parent().unwrap_or(Path::new(""));
    if path.file_name().is_some_and(|n| n == "pyproject.toml") {
        return Ok(from_pyproject(&src, dir)?.unwrap_or_default());
    }
    let doc = parse_toml(&src)?;
    let labels = Labels {
        top: "the top-level table".into(),
        scheduler: "[scheduler]".into(),
        scheduler_prefix: "scheduler.",
    };
    parse_settings(&src, doc.as_table(), &labels, dir)
}

fn read(path: &Path, base: &Path) -> Result<SourceText, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        path: display_path(path, base),
        source,
    })?;
    Ok(SourceText::new(path, base, text))
}

fn from_pyproject(src: &SourceText, dir: &Path) -> Result<Option<Settings>, ConfigError> {
    let doc = parse_toml(src)?;
    let Some((key, item)) = doc
        .as_table()
        .get("tool")
        .and_then(Item::as_table_like)
        .and_then(|t| t.get_key_value("isoaudit"))
    else {
        return Ok(None);
    };
    let Some(table) = item.as_table_like() else {
        return Err(src.invalid(
            "[tool]",
            "isoaudit",
            "expected a table",
            span_of(key, item),
            None,
        ));
    };
    let labels = Labels {
        top: "[tool.isoaudit]".into(),
        scheduler: "[tool.isoaudit.scheduler]".into(),
        scheduler_prefix: "scheduler.",
    };
    parse_settings(src, table, &labels, dir).map(Some)
}

/// How error messages name the two tables of this file.
struct Labels {
    top: String,
    scheduler: String,
    scheduler_prefix: &'static str,
}

/// The span of a value, or of its key when the value has none (tables
/// written as headers).
fn span_of(key: &Key, item: &Item) -> std::ops::Range<usize> {
    item.span().or_else(|| key.span()).unwrap_or(0..0)
}

fn parse_settings(
    src: &SourceText,
    table: &dyn TableLike,
    labels: &Labels,
    dir: &Path,
) -> Result<Settings, ConfigError> {
    let mut settings = Settings::default();
    for (name, _) in table.iter() {
        let Some((key, item)) = table.get_key_value(name) else {
            continue;
        };
        let field = Field {
            src,
            table: &labels.top,
            key: name,
            span: span_of(key, item),
        };
        match name {
            "select" => settings.select = Some(codes(&field, item)?),
            "extend-select" => settings.extend_select = codes(&field, item)?,
            "ignore" => settings.ignore = codes(&field, item)?,
            "per-file-ignores" => settings.per_file_ignores = per_file_ignores(&field, item)?,
            "isolation-markers" => settings.isolation_markers = markers(&field, item)?,
            "heavy-markers" => settings.heavy_markers = markers(&field, item)?,
            "shared-paths" => {
                settings.shared_paths = strings(&field, item)?
                    .into_iter()
                    .map(|(s, span)| {
                        if s.is_empty() {
                            Err(field.invalid_at("expected a non-empty path", span, None))
                        } else {
                            Ok(s)
                        }
                    })
                    .collect::<Result<_, _>>()?
            }
            "catalog" => {
                settings.catalog = strings(&field, item)?
                    .into_iter()
                    .map(|(s, _)| absolutize(dir, Path::new(&s)))
                    .collect()
            }
            "timeout" => settings.timeout = Some(timeout_seconds(&field, item)?),
            "heavy-rss-mb" => settings.heavy_rss_mb = timeout_seconds(&field, item)?,
            "heavy-cpu-s" => settings.heavy_cpu_s = timeout_seconds(&field, item)?,
            "baseline" => match item.as_str() {
                Some(s) if !s.is_empty() => settings.baseline = Some(absolutize(dir, Path::new(s))),
                _ => {
                    return Err(field.invalid(
                        "expected a file path",
                        Some("for example `baseline = \".isoaudit/baseline.json\"`".into()),
                    ))
                }
            },
            "scheduler" => {
                let Some(sched) = item.as_table_like() else {
                    return Err(field.invalid("expected a table", None));
                };
                settings.scheduler = scheduler(src, sched, labels, dir)?;
            }
            _ => return Err(unknown_key(src, &labels.top, name, key, false, labels)),
        }
    }
    Ok(settings)
}

fn scheduler(
    src: &SourceText,
    table: &dyn TableLike,
    labels: &Labels,
    dir: &Path,
) -> Result<SchedulerSettings, ConfigError> {
    let mut out = SchedulerSettings::default();
    for (name, _) in table.iter() {
        let Some((key, item)) = table.get_key_value(name) else {
            continue;
        };
        let field = Field {
            src,
            table: &labels.scheduler,
            key: name,
            span: span_of(key, item),
        };
        match name {
            "workers" => {
                out.workers = match item.as_value() {
                    Some(Value::String(s)) if s.value() == "auto" => None,
                    Some(Value::Integer(i)) => Some(positive(&field, *i.value())?),
                    _ => {
                        return Err(field.invalid(
                            "expected \"auto\" or an integer >= 1",
                            Some("`workers = \"auto\"` uses one worker per CPU".into()),
                        ))
                    }
                }
            }
            "heavy-workers" => match item.as_value() {
                Some(Value::Integer(i)) => out.heavy_workers = Some(positive(&field, *i.value())?),
                _ => return Err(field.invalid("expected an integer >= 1", None)),
            },
            "durations" => match item.as_str() {
                Some(s) if !s.is_empty() => out.durations = Some(absolutize(dir, Path::new(s))),
                _ => {
                    return Err(field.invalid(
                        "expected a file path",
                        Some("for example `durations = \".isoaudit/durations.json\"`".into()),
                    ))
                }
            },
            "rerun-failures-serially" => match item.as_bool() {
                Some(b) => out.rerun_failures_serially = b,
                None => return Err(field.invalid("expected true or false", None)),
            },
            _ => return Err(unknown_key(src, &labels.scheduler, name, key, true, labels)),
        }
    }
    Ok(out)
}

/// One key being read, for error construction.
struct Field<'a> {
    src: &'a SourceText,
    table: &'a str,
    key: &'a str,
    span: std::ops::Range<usize>,
}

impl Field<'_> {
    fn invalid(&self, message: &str, help: Option<String>) -> ConfigError {
        self.invalid_at(message, self.span.clone(), help)
    }

    fn invalid_at(
        &self,
        message: &str,
        span: std::ops::Range<usize>,
        help: Option<String>,
    ) -> ConfigError {
        self.src.invalid(self.table, self.key, message, span, help)
    }
}

/// `timeout`: seconds, an integer or a float, above zero.
fn timeout_seconds(field: &Field, item: &Item) -> Result<f64, ConfigError> {
    let seconds = match item.as_value() {
        Some(Value::Integer(i)) => Some(*i.value() as f64),
        Some(Value::Float(f)) => Some(*f.value()),
        _ => None,
    };
    match seconds {
        Some(s) if s.is_finite() && s > 0.0 => Ok(s),
        _ => Err(field.invalid(
            "expected a number of seconds above 0",
            Some("for example `timeout = 300`; leave the key out for no limit".into()),
        )),
    }
}

fn positive(field: &Field, value: i64) -> Result<usize, ConfigError> {
    match usize::try_from(value) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(field.invalid("expected an integer >= 1", None)),
    }
}

fn strings(
    field: &Field,
    item: &Item,
) -> Result<Vec<(String, std::ops::Range<usize>)>, ConfigError> {
    let Some(array) = item.as_array() else {
        return Err(field.invalid("expected an array of strings", None));
    };
    array
        .iter()
        .map(|v| {
            let span = v.span().unwrap_or_else(|| field.span.clone());
            match v.as_str() {
                Some(s) => Ok((s.to_string(), span)),
                None => Err(field.invalid_at("expected a string", span, None)),
            }
        })
        .collect()
}

fn codes(field: &Field, item: &Item) -> Result<Vec<String>, ConfigError> {
    strings(field, item)?
        .into_iter()
        .map(|(code, span)| check_code(field, code, span))
        .collect()
}

fn check_code(
    field: &Field,
    code: String,
    span: std::ops::Range<usize>,
) -> Result<String, ConfigError> {
    match crate::rules::registry::check_selector(&code) {
        Ok(()) => Ok(code),
        Err(help) => Err(field.invalid_at(
            &format!("`{code}` is not a rule code or prefix"),
            span,
            Some(help),
        )),
    }
}

fn per_file_ignores(field: &Field, item: &Item) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    let Some(table) = item.as_table_like() else {
        return Err(field.invalid(
            "expected a table of glob = [codes]",
            Some("for example `\"tests/legacy/*\" = [\"ISO4\"]`".into()),
        ));
    };
    let mut out = Vec::new();
    for (pattern, _) in table.iter() {
        let Some((key, value)) = table.get_key_value(pattern) else {
            continue;
        };
        let key_span = key.span().unwrap_or_else(|| field.span.clone());
        if let Err(e) = globset::Glob::new(pattern) {
            return Err(field.invalid_at(
                &format!("invalid glob `{pattern}`: {}", e.kind()),
                key_span,
                None,
            ));
        }
        let entry = Field {
            span: span_of(key, value),
            ..*field
        };
        out.push((pattern.to_string(), codes(&entry, value)?));
    }
    Ok(out)
}

fn markers(field: &Field, item: &Item) -> Result<Vec<String>, ConfigError> {
    strings(field, item)?
        .into_iter()
        .map(|(name, span)| {
            if is_identifier(&name) {
                return Ok(name);
            }
            let help = name
                .strip_prefix("pytest.mark.")
                .filter(|n| is_identifier(n))
                .map(|n| format!("write the marker name alone: `{n}`"));
            Err(field.invalid_at(&format!("`{name}` is not a marker name"), span, help))
        })
        .collect()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn unknown_key(
    src: &SourceText,
    table: &str,
    name: &str,
    key: &Key,
    in_scheduler: bool,
    labels: &Labels,
) -> ConfigError {
    let (valid, other): (&[&str], &[&str]) = if in_scheduler {
        (&SCHEDULER_KEYS, &TOP_KEYS)
    } else {
        (&TOP_KEYS, &SCHEDULER_KEYS)
    };
    let valid_list = valid
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    // A scheduler key at the top (or the reverse) is a common slip: say where
    // it belongs rather than only that it is unknown here.
    let help = if let Some(s) = suggest(name, valid) {
        format!("did you mean `{s}`? valid keys: {valid_list}")
    } else if let Some(k) = suggest(name, other) {
        if in_scheduler {
            format!(
                "`{k}` belongs in {}, not in the scheduler table; valid keys here: {valid_list}",
                labels.top
            )
        } else {
            format!(
                "did you mean `{}{k}`? valid keys here: {valid_list}",
                labels.scheduler_prefix
            )
        }
    } else {
        format!("valid keys: {valid_list}")
    };
    src.unknown(table, name, key.span().unwrap_or(0..0), help)
}

/// The closest of `candidates` to `name`, if close enough to be a typo.
/// `_` and `-` are treated alike (snake_case is the usual slip).
fn suggest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    let wanted = norm(name);
    let limit = (wanted.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (levenshtein(&wanted, &norm(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Writes `text` as `name` in a fresh directory and loads it.
    fn load_text(name: &str, text: &str) -> (tempfile::TempDir, Result<Settings, ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        let result = load_file(&path, dir.path());
        (dir, result)
    }

    /// The text an error's span covers.
    fn spanned<'a>(text: &'a str, err: &ConfigError) -> &'a str {
        &text[err.span().expect("error has a span")]
    }

    fn help(err: &ConfigError) -> String {
        match err {
            ConfigError::UnknownKey { help, .. } => help.clone(),
            ConfigError::InvalidValue { help, .. } => help.clone().unwrap_or_default(),
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn full_pyproject_table() {
        let text = r#"
[project]
name = "x"

[tool.isoaudit]
select = ["ISO1", "ISO203"]
extend-select = ["ISO7"]
ignore = ["ISO101"]
isolation-markers = ["serial"]
heavy-markers = ["gpu", "use_real_models"]
shared-paths = ["/srv/data"]
catalog = ["catalogs/extra.toml"]
timeout = 120.5
baseline = "ci/baseline.json"

[tool.isoaudit.per-file-ignores]
"tests/legacy/*" = ["ISO4", "ISO101"]

[tool.isoaudit.scheduler]
workers = 4
heavy-workers = 1
durations = "ci/durations.json"
rerun-failures-serially = false
"#;
        let (dir, s) = load_text("pyproject.toml", text);
        let s = s.unwrap();
        assert_eq!(
            s.select,
            Some(vec!["ISO1".to_string(), "ISO203".to_string()])
        );
        assert_eq!(s.extend_select, vec!["ISO7"]);
        assert_eq!(s.ignore, vec!["ISO101"]);
        assert_eq!(s.isolation_markers, vec!["serial"]);
        assert_eq!(s.heavy_markers, vec!["gpu", "use_real_models"]);
        assert_eq!(s.shared_paths, vec!["/srv/data"]);
        assert_eq!(s.catalog, vec![dir.path().join("catalogs/extra.toml")]);
        assert_eq!(s.timeout, Some(120.5));
        assert_eq!(s.baseline, Some(dir.path().join("ci/baseline.json")));
        assert_eq!(
            s.per_file_ignores,
            vec![(
                "tests/legacy/*".to_string(),
                vec!["ISO4".to_string(), "ISO101".to_string()]
            )]
        );
        assert_eq!(
            s.scheduler,
            SchedulerSettings {
                workers: Some(4),
                heavy_workers: Some(1),
                durations: Some(dir.path().join("ci/durations.json")),
                rerun_failures_serially: false,
            }
        );
    }

    #[test]
    fn isoaudit_toml_has_no_prefix_and_auto_workers() {
        let (_d, s) = load_text(
            "isoaudit.toml",
            "ignore = [\"ALL\"]\nscheduler = { workers = \"auto\" }\n",
        );
        let s = s.unwrap();
        assert_eq!(s.ignore, vec!["ALL"]);
        assert_eq!(s.scheduler.workers, None);
        assert_eq!(s.isolation_markers, Settings::default().isolation_markers);
    }

    #[test]
    fn pyproject_without_table_gives_defaults() {
        let (_d, s) = load_text("pyproject.toml", "[project]\nname = \"x\"\n");
        assert_eq!(s.unwrap(), Settings::default());
    }

    #[test]
    fn unknown_key_suggests_the_close_one() {
        let text = "[tool.isoaudit]\nisolation_marker = [\"serial\"]\n";
        let (_d, r) = load_text("pyproject.toml", text);
        let err = r.unwrap_err();
        assert!(matches!(err, ConfigError::UnknownKey { .. }));
        assert_eq!(spanned(text, &err), "isolation_marker");
        let h = help(&err);
        assert!(h.starts_with("did you mean `isolation-markers`?"), "{h}");
        assert!(h.contains("`heavy-markers`"), "{h}");
    }

    #[test]
    fn unknown_key_without_suggestion_lists_valid_keys() {
        let text = "[tool.isoaudit]\ncolour = true\n";
        let (_d, r) = load_text("pyproject.toml", text);
        let err = r.unwrap_err();
        assert_eq!(spanned(text, &err), "colour");
        let h = help(&err);
        assert!(h.starts_with("valid keys: `select`"), "{h}");
        assert!(!h.contains("did you mean"), "{h}");
    }

    #[test]
    fn misplaced_scheduler_key_says_where_it_goes() {
        let text = "[tool.isoaudit]\nworkers = 2\n";
        let (_d, r) = load_text("pyproject.toml", text);
        let err = r.unwrap_err();
        assert_eq!(spanned(text, &err), "workers");
        assert!(
            help(&err).starts_with("did you mean `scheduler.workers`?"),
            "{}",
            help(&err)
        );

        let text = "[tool.isoaudit.scheduler]\nwrokers = 2\n";
        let (_d, r) = load_text("pyproject.toml", text);
        let err = r.unwrap_err();
        assert_eq!(spanned(text, &err), "wrokers");
        assert!(
            help(&err).starts_with("did you mean `workers`?"),
            "{}",
            help(&err)
        );
        assert!(
            err.to_string().contains("[tool.isoaudit.scheduler]"),
            "{err}"
        );
    }

    #[test]
    fn workers_zero_points_at_the_value() {
        let text = "[tool.isoaudit.scheduler]\nworkers = 0\n";
        let (_d, r) = load_text("pyproject.toml", text);
        let err = r.unwrap_err();
        assert!(matches!(err, ConfigError::InvalidValue { .. }));
        let span = err.span().unwrap();
        assert_eq!(
            span,
            text.find("= 0").unwrap() + 2..text.find("= 0").unwrap() + 3
        );
        assert_eq!(spanned(text, &err), "0");
    }

    #[test]
    fn bad_values_each_kind() {
        let cases: &[(&str, &str)] = &[
            // wrong type for a list
            ("select = \"ISO1\"\n", "\"ISO1\""),
            // wrong element type
            ("ignore = [\"ISO1\", 3]\n", "3"),
            // bad code pattern
            ("select = [\"ISO1\", \"E501\"]\n", "\"E501\""),
            ("extend-select = [\"ISO1234\"]\n", "\"ISO1234\""),
            // bad marker name
            (
                "isolation-markers = [\"not a marker\"]\n",
                "\"not a marker\"",
            ),
            // scheduler values
            ("timeout = 0\n", "0"),
            ("timeout = -1.5\n", "-1.5"),
            ("timeout = \"long\"\n", "\"long\""),
            ("scheduler.workers = \"many\"\n", "\"many\""),
            ("scheduler.workers = -3\n", "-3"),
            ("scheduler.heavy-workers = 0\n", "0"),
            ("scheduler.rerun-failures-serially = \"yes\"\n", "\"yes\""),
            ("scheduler.durations = 5\n", "5"),
            ("scheduler = 5\n", "5"),
            ("per-file-ignores = [\"x\"]\n", "[\"x\"]"),
            ("shared-paths = [\"\"]\n", "\"\""),
            ("baseline = 3\n", "3"),
            ("baseline = \"\"\n", "\"\""),
        ];
        for (body, expected) in cases {
            let (_d, r) = load_text("isoaudit.toml", body);
            let err = r.expect_err(body);
            assert!(
                matches!(err, ConfigError::InvalidValue { .. }),
                "{body}: {err:?}"
            );
            assert_eq!(spanned(body, &err), *expected, "{body}");
        }
    }

    #[test]
    fn per_file_ignores_errors() {
        let text = "[tool.isoaudit.per-file-ignores]\n\"a/[b\" = [\"ISO1\"]\n";
        let (_d, r) = load_text("pyproject.toml", text);
        let err = r.unwrap_err();
        assert_eq!(spanned(text, &err), "\"a/[b\"");

        let text = "[tool.isoaudit.per-file-ignores]\n\"a/*\" = [\"iso101\"]\n";
        let (_d, r) = load_text("pyproject.toml", text);
        let err = r.unwrap_err();
        assert_eq!(spanned(text, &err), "\"iso101\"");
        assert_eq!(help(&err), "did you mean `ISO101`?");
    }

    #[test]
    fn codes_must_name_a_rule_or_a_prefix_of_one() {
        // The same check as the command line's: a well-formed code no rule
        // has is as wrong as a misspelt one.
        for bad in ["ISO999", "ISO9", "ISO1234", "iso1", "ISOX", "all", "E501"] {
            let body = format!("select = [\"{bad}\"]\n");
            let (_d, r) = load_text("isoaudit.toml", &body);
            let err = r.expect_err(bad);
            assert_eq!(spanned(&body, &err), format!("\"{bad}\""), "{bad}");
        }
        for ok in ["ISO", "ISO1", "ISO10", "ISO101", "ALL"] {
            let (_d, r) = load_text("isoaudit.toml", &format!("ignore = [\"{ok}\"]\n"));
            assert!(r.is_ok(), "{ok}: {r:?}");
        }
    }

    #[test]
    fn toml_syntax_error_has_span() {
        let text = "[tool.isoaudit]\nselect = [\"ISO1\"\n";
        let (_d, r) = load_text("pyproject.toml", text);
        let err = r.unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        let span = err.span().unwrap();
        assert!(span.start > text.find("select").unwrap(), "{span:?}");
    }

    #[test]
    fn find_prefers_isoaudit_toml_and_skips_bare_pyproject() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let sub = root.join("pkg/tests");
        fs::create_dir_all(&sub).unwrap();
        fs::write(root.join("pkg/pyproject.toml"), "[project]\nname = \"x\"\n").unwrap();
        fs::write(
            root.join("pyproject.toml"),
            "[tool.isoaudit]\nignore = [\"ISO4\"]\n",
        )
        .unwrap();
        let (path, s) = find(&sub, root).unwrap().unwrap();
        assert_eq!(path, root.join("pyproject.toml"));
        assert_eq!(s.ignore, vec!["ISO4"]);

        fs::write(root.join("isoaudit.toml"), "ignore = [\"ISO5\"]\n").unwrap();
        let (path, s) = find(&sub, root).unwrap().unwrap();
        assert_eq!(path, root.join("isoaudit.toml"));
        assert_eq!(s.ignore, vec!["ISO5"]);

        fs::write(
            root.join("pkg/pyproject.toml"),
            "[tool.isoaudit]\nselect = [\"ISO2\"]\n",
        )
        .unwrap();
        let (path, s) = find(&sub, root).unwrap().unwrap();
        assert_eq!(path, root.join("pkg/pyproject.toml"));
        assert_eq!(s.select, Some(vec!["ISO2".to_string()]));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("isolation_markers", &TOP_KEYS),
            Some("isolation-markers")
        );
        assert_eq!(suggest("selct", &TOP_KEYS), Some("select"));
        assert_eq!(suggest("Extend_Select", &TOP_KEYS), Some("extend-select"));
        assert_eq!(suggest("zzzzzz", &TOP_KEYS), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }

    #[test]
    fn renders_with_miette() {
        let text = "[tool.isoaudit.scheduler]\nworkers = 0\n";
        let (_d, r) = load_text("pyproject.toml", text);
        let report = miette::Report::new(r.unwrap_err());
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, report.as_ref())
            .unwrap();
        assert!(out.contains("pyproject.toml:2:11"), "{out}");
        assert!(out.contains("expected an integer >= 1"), "{out}");
    }
}
