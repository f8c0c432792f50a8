//! `docs/configuration.md` against the code: the same keys in the same
//! tables, the defaults `Settings::default()` has, and examples that load.

use std::collections::BTreeMap;

use super::settings::{load_file, SCHEDULER_KEYS, TOP_KEYS};
use super::{SchedulerSettings, Settings};

/// (table heading, key) -> (the `Default:` line, the ```toml examples).
type Documented = BTreeMap<(String, String), (String, Vec<String>)>;

fn documented() -> Documented {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let text = std::fs::read_to_string(&path).expect("docs/configuration.md");
    let mut out = Documented::new();
    let mut table = String::new();
    let mut key: Option<(String, String)> = None;
    let mut in_toml = false;
    let mut block = String::new();
    for line in text.lines() {
        if in_toml {
            if line == "```" {
                in_toml = false;
                if let Some(k) = &key {
                    out.get_mut(k).unwrap().1.push(std::mem::take(&mut block));
                }
            } else {
                block.push_str(line);
                block.push('\n');
            }
        } else if line == "```toml" {
            in_toml = true;
        } else if let Some(t) = line.strip_prefix("## ") {
            table = t.trim_matches('`').to_string();
            key = None;
        } else if let Some(k) = line.strip_prefix("### ") {
            let k = (table.clone(), k.trim_matches('`').to_string());
            assert!(
                out.insert(k.clone(), (String::new(), Vec::new())).is_none(),
                "{k:?} twice"
            );
            key = Some(k);
        } else if let (Some(d), Some(k)) = (line.strip_prefix("Default: "), &key) {
            out.get_mut(k).unwrap().0 = d.to_string();
        }
    }
    out
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    format!("`[{}]`", quoted.join(", "))
}

fn unset_or<T>(v: &Option<T>, f: impl Fn(&T) -> String) -> String {
    v.as_ref().map_or_else(|| "unset".to_string(), f)
}

/// The default of every key as the page writes it: a TOML value in
/// backticks, or `unset`.
fn defaults() -> BTreeMap<(String, String), String> {
    let s = Settings::default();
    let d = SchedulerSettings::default();
    let top = |k: &str| ("[tool.isoaudit]".to_string(), k.to_string());
    let sched = |k: &str| ("[tool.isoaudit.scheduler]".to_string(), k.to_string());
    let mut out = BTreeMap::new();
    for k in TOP_KEYS {
        let v = match k {
            "select" => unset_or(&s.select, |v| list(v)),
            "extend-select" => list(&s.extend_select),
            "ignore" => list(&s.ignore),
            "per-file-ignores" if s.per_file_ignores.is_empty() => "`{}`".into(),
            "isolation-markers" => list(&s.isolation_markers),
            "heavy-markers" => list(&s.heavy_markers),
            "shared-paths" => list(&s.shared_paths),
            "catalog" if s.catalog.is_empty() => "`[]`".into(),
            "timeout" => unset_or(&s.timeout, |t| format!("`{t}`")),
            "heavy-rss-mb" => format!("`{}`", s.heavy_rss_mb),
            "heavy-cpu-s" => format!("`{}`", s.heavy_cpu_s),
            "baseline" => unset_or(&s.baseline, |p| format!("`\"{}\"`", p.display())),
            "scheduler" if s.scheduler == d => "`{}`".into(),
            other => panic!("no documented default for `{other}`: add it here and to the page"),
        };
        out.insert(top(k), v);
    }
    for k in SCHEDULER_KEYS {
        let v = match k {
            "workers" => unset_or(&d.workers, |n| format!("`{n}`")).replace("unset", "`\"auto\"`"),
            "heavy-workers" => unset_or(&d.heavy_workers, |n| format!("`{n}`")),
            "durations" => unset_or(&d.durations, |p| format!("`\"{}\"`", p.display())),
            "rerun-failures-serially" => format!("`{}`", d.rerun_failures_serially),
            other => panic!("no documented default for `{other}`: add it here and to the page"),
        };
        out.insert(sched(k), v);
    }
    out
}

#[test]
fn the_configuration_page_has_every_key_and_its_default() {
    let doc = documented();
    let want = defaults();
    let doc_keys: Vec<_> = doc.keys().collect();
    let code_keys: Vec<_> = want.keys().collect();
    assert_eq!(
        doc_keys, code_keys,
        "docs/configuration.md and the code list different keys"
    );
    for (k, default) in &want {
        let line = &doc[k].0;
        // The value, then an optional explanation in parentheses.
        let value = line.split(" (").next().unwrap_or_default();
        assert_eq!(value, default, "{k:?}: the page says `Default: {line}`");
    }
}

#[test]
fn every_example_on_the_configuration_page_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pyproject.toml");
    for ((table, key), (_, examples)) in documented() {
        assert!(!examples.is_empty(), "`{key}` in {table} has no example");
        for example in examples {
            assert!(
                example.contains(&key),
                "`{key}`'s example does not set it:\n{example}"
            );
            std::fs::write(&path, &example).unwrap();
            let loaded = load_file(&path, dir.path());
            let settings = loaded.unwrap_or_else(|e| panic!("`{key}`: {e}\n{example}"));
            assert_ne!(
                settings,
                Settings::default(),
                "`{key}`'s example changes nothing"
            );
        }
    }
}
