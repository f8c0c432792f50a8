//! Every rule isoaudit knows: code, name, family, whether it is on by default,
//! whether it can fix, and its documentation (`rules/CODE.md`, embedded).
//! Detection lives in `facts/` (hazards), `classify.rs` (verdicts) and
//! `rules/mod.rs` (turning both into findings); this table is the one list.

use crate::diagnostic::{Applicability, Severity};

#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub code: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    pub default_on: bool,
    pub severity: Severity,
    pub fix: Option<Applicability>,
    pub doc: &'static str,
}

macro_rules! rules {
    ($( $code:literal, $name:literal, $on:expr, $sev:ident, $fix:expr, $summary:literal; )*) => {
        pub const RULES: &[Rule] = &[
            $( Rule {
                code: $code,
                name: $name,
                summary: $summary,
                default_on: $on,
                severity: Severity::$sev,
                fix: $fix,
                doc: include_str!(concat!("../../rules/", $code, ".md")),
            }, )*
        ];
    };
}

const SAFE: Option<Applicability> = Some(Applicability::Safe);
const UNSAFE: Option<Applicability> = Some(Applicability::Unsafe);

rules! {
    "ISO001", "syntax-error", true, Error, None, "The file has a syntax error; what parsed is still analysed.";
    "ISO002", "unreadable-file", true, Error, None, "A file or directory could not be read (I/O error, symlink loop, oversized file).";
    "ISO003", "undecodable-source", true, Error, None, "The file's bytes are not valid in its declared (or default UTF-8) encoding.";
    "ISO004", "unresolved-fixture", true, Warning, None, "A test or fixture requests a fixture no conftest, module or known plugin defines.";
    "ISO005", "fixture-cycle", true, Error, None, "Fixtures request each other in a cycle.";
    "ISO006", "nesting-too-deep", true, Warning, None, "Code nested deeper than the analyser follows; the rest of the file is still analysed.";
    "ISO009", "internal-error", true, Error, None, "isoaudit failed on this file; please report it.";
    "ISO101", "hardcoded-temp-path", true, Error, None, "Writes a fixed path under /tmp (or gettempdir()) that every xdist worker shares.";
    "ISO102", "home-directory-path", true, Error, None, "Writes a fixed path in the home directory, shared by every worker.";
    "ISO103", "cwd-relative-write", true, Error, None, "Writes a file relative to the working directory, which every worker shares.";
    "ISO104", "tempfile-mktemp", true, Warning, None, "`tempfile.mktemp()` hands out a name another process can take first.";
    "ISO105", "fixed-absolute-path", true, Error, None, "Writes a fixed absolute path outside the temp directory, shared by every worker.";
    "ISO106", "shared-root-deleted", true, Error, None, "Deletes a shared root (the temp directory or home), which breaks every worker.";
    "ISO201", "fixed-port", true, Error, None, "Binds or serves on a fixed port; a second worker gets `Address already in use`.";
    "ISO203", "fixed-local-service-url", true, Error, None, "Changes state on a fixed local service URL that every worker talks to.";
    "ISO301", "shared-database-service", true, Error, None, "Connects to a fixed database or service that every worker shares.";
    "ISO302", "fixed-sqlite-file", true, Error, None, "Opens a fixed SQLite/database file that every worker writes.";
    "ISO303", "destructive-database-operation", true, Error, None, "Wipes a whole database or service (DETACH DELETE all, DROP DATABASE, FLUSHALL).";
    "ISO304", "dagster-shared-instance", true, Error, None, "`DagsterInstance.get()` uses the DAGSTER_HOME instance every worker shares.";
    "ISO305", "fixed-dagster-home", true, Error, None, "Points DAGSTER_HOME at a fixed directory shared by every worker.";
    "ISO306", "broad-scope-service-fixture", true, Warning, None, "A session/module-scoped fixture hands one database session or driver to many tests.";
    "ISO307", "table-wide-destructive-operation", true, Error, None, "Truncates or drops tables/keyspaces of a shared database.";
    "ISO401", "environ-write", true, Error, None, "Sets or deletes an environment variable without restoring it.";
    "ISO402", "module-attribute-assignment", true, Error, None, "Assigns an attribute of an imported module without restoring it.";
    "ISO403", "sys-path-mutation", true, Error, None, "Changes `sys.path` without restoring it.";
    "ISO404", "sys-modules-mutation", true, Error, None, "Changes `sys.modules` without restoring it.";
    "ISO405", "chdir", true, Error, None, "Changes the working directory without restoring it.";
    "ISO406", "global-write", true, Error, None, "Assigns a module global from a test or fixture.";
    "ISO407", "module-container-mutation", true, Error, None, "Mutates a module-level list/dict/set that other tests read.";
    "ISO408", "class-attribute-singleton", true, Error, None, "Assigns a class attribute (singleton, registry) of imported code without restoring it.";
    "ISO409", "process-wide-setting", true, Error, None, "Changes a process-wide setting (logging, locale, warnings, socket timeout...).";
    "ISO501", "defensive-isolation-marker", true, Warning, UNSAFE, "Isolation marker on a test with no hazard: remove it.";
    "ISO502", "isolation-marker-resource-conflict", true, Warning, None, "Isolation marker where a keyed resource conflict exists: group instead of serialising.";
    "ISO503", "legacy-isolation-marker", true, Warning, UNSAFE, "Isolation marker whose hazard is already mitigated: remove it.";
    "ISO504", "isolation-marker-without-reason", true, Warning, SAFE, "Required isolation marker with no `reason=`: say why.";
    "ISO505", "missing-isolation-marker", true, Warning, None, "Needs coordination but carries no isolation marker (for plain `pytest -n`).";
    "ISO506", "unregistered-marker", true, Warning, None, "Marker used but not registered in the pytest configuration.";
    "ISO507", "unused-isolation-marker", true, Warning, None, "Isolation marker registered but used by no test.";
    "ISO508", "conftest-auto-marking", true, Warning, None, "A conftest hook adds isolation markers by name or path.";
    "ISO601", "model-load-per-test", true, Error, None, "Loads an ML model in a test or function-scoped fixture.";
    "ISO602", "process-pool-all-cpus", true, Warning, None, "Starts a process pool sized to every CPU inside a test.";
    "ISO701", "autouse-fixture-hazard", true, Warning, None, "An autouse fixture has a hazard, which reaches every test below it.";
    "ISO703", "shared-mutable-fixture", true, Error, None, "A test mutates the value of a module/session-scoped fixture.";
    "ISO704", "dynamic-fixture-request", false, Warning, None, "`request.getfixturevalue()` with a computed name hides the fixture closure.";
    "ISO705", "unordered-parametrize", true, Error, None, "`parametrize` over a set: workers collect different orders and xdist aborts.";
    "ISO801", "observed-shared-resource", false, Warning, None, "A run saw the test write a file, bind a port or use a local service that the static analysis did not find.";
    "ISO802", "observed-leaked-state", false, Warning, None, "A run saw the test leave process-wide state changed (environment, cwd, sys.path, module state) that the static analysis did not find.";
}

pub fn get(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code.eq_ignore_ascii_case(code))
}

/// Whether `selector` names a rule or a prefix of some rule's code (`ISO`,
/// `ISO1`, `ISO10`, `ISO101`) or is `ALL`. `Err` carries the one-line help
/// shown with the usage or config error: the nearest known selector, or,
/// for another linter's code (`E501`, `PT004`, `B`), what isoaudit's look like.
/// The command line and the config files check codes with this one function.
pub fn check_selector(selector: &str) -> Result<(), String> {
    if is_known_selector(selector) {
        return Ok(());
    }
    let upper = selector.trim().to_ascii_uppercase();
    if upper != selector && is_known_selector(&upper) {
        return Err(format!("did you mean `{upper}`?"));
    }
    let lists = "(`isoaudit rule` lists every rule)";
    if looks_foreign(&upper) {
        return Err(format!(
            "`{selector}` looks like another linter's code; isoaudit's codes are ISOnnn, e.g. `ISO101`, or `ISO1` for a family {lists}"
        ));
    }
    let families = families().join(", ");
    if upper.len() == 4 && upper.starts_with("ISO") {
        return Err(format!(
            "there is no rule family `{upper}`; the families are {families} {lists}"
        ));
    }
    match nearest_selector(&upper) {
        Some(near) => Err(format!("did you mean `{near}`? {lists}")),
        None => Err(format!(
            "isoaudit's codes are ISOnnn, e.g. `ISO101`; the families are {families} {lists}"
        )),
    }
}

fn is_known_selector(s: &str) -> bool {
    s == "ALL" || (s.len() >= 3 && RULES.iter().any(|r| r.code.starts_with(s)))
}

/// Letters then digits, not `ISO`: ruff/flake8/pylint style (`E501`, `F401`,
/// `PT004`, `B`, `PLR0913`).
fn looks_foreign(s: &str) -> bool {
    let letters = s.bytes().take_while(u8::is_ascii_uppercase).count();
    (1..=4).contains(&letters)
        && s.bytes().skip(letters).all(|b| b.is_ascii_digit())
        && !s.starts_with("ISO")
        && !"ALL".starts_with(s)
}

/// `ISO0`, `ISO1`, ... in order, each once.
fn families() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = RULES.iter().map(|r| &r.code[..4]).collect();
    out.dedup();
    out
}

/// The known selector closest to `s` (edit distance, then the one of the
/// same length, then the smallest), if close enough to be a typo.
fn nearest_selector(s: &str) -> Option<String> {
    let mut candidates: Vec<&str> = RULES
        .iter()
        .flat_map(|r| (3..=r.code.len()).map(move |n| &r.code[..n]))
        .collect();
    candidates.push("ALL");
    candidates.sort();
    candidates.dedup();
    let limit = (s.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| {
            let d = crate::config::settings::levenshtein(s, c);
            (d, c.len().abs_diff(s.len()), c)
        })
        .filter(|(d, _, _)| *d <= limit)
        .min()
        .map(|(_, _, c)| c.to_string())
}

/// Selection: `--select`/`--extend-select`/`--ignore` by code or prefix
/// (`ISO1`, `ISO10`, `ISO101`, `ALL`); the longest matching prefix wins, as in
/// ruff. Per-file ignores (config and `--per-file-ignores`) drop codes in the
/// files a glob matches.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub select: Option<Vec<String>>,
    pub extend_select: Vec<String>,
    pub ignore: Vec<String>,
    /// (glob relative to the project root, codes or prefixes)
    pub per_file_ignores: Vec<(String, Vec<String>)>,
}

fn prefix_len(pattern: &str, code: &str) -> Option<usize> {
    let p = pattern.trim().to_ascii_uppercase();
    if p == "ALL" {
        return Some(0);
    }
    code.starts_with(&p).then_some(p.len())
}

impl Selection {
    pub fn enabled(&self, rule: &Rule) -> bool {
        let best = |list: &[String]| list.iter().filter_map(|p| prefix_len(p, rule.code)).max();
        let selected = match &self.select {
            Some(s) => best(s),
            None => rule.default_on.then_some(0),
        };
        let selected = selected.max(best(&self.extend_select));
        match (selected, best(&self.ignore)) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(s), Some(i)) => s > i,
        }
    }

    pub fn enabled_code(&self, code: &str) -> bool {
        get(code).is_some_and(|r| self.enabled(r))
    }
}

/// `docs/rules.md`: one table row per rule, from each rule's doc
/// (`rules/CODE.md`: its title and the first sentence of "What it finds")
/// and its registry entry. A test keeps the committed file equal to it.
pub fn index_markdown() -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "# Rules\n\n\
         <!-- Generated from rules/*.md by `scripts/update-docs`; do not edit by hand. -->\n\n\
         Every rule isoaudit has. `isoaudit rule CODE` prints a rule's page; select rules by \
         code or prefix (`--select ISO1,ISO203`, `ignore = [\"ISO4\"]`). Rules marked *off* \
         run only when selected; *safe* and *unsafe* fixes are applied by `check --fix` and \
         `check --fix --unsafe-fixes`.\n",
    );
    let mut family = None;
    for r in RULES {
        let f = &r.code[..4];
        if family != Some(f) {
            family = Some(f);
            let _ = write!(
                out,
                "\n## {f}xx\n\n| code | name | finds | default | fix |\n|---|---|---|---|---|\n"
            );
        }
        let title = r
            .doc
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .unwrap_or(r.code);
        let name = title.split_once(' ').map_or(r.name, |(_, n)| n.trim());
        let finds = first_sentence(section(r.doc, "What it finds")).unwrap_or(r.summary);
        let fix = match r.fix {
            Some(Applicability::Safe) => "safe",
            Some(Applicability::Unsafe) => "unsafe",
            None => "",
        };
        let _ = writeln!(
            out,
            "| [{code}](../rules/{code}.md) | `{name}` | {} | {} | {fix} |",
            finds.replace('|', "\\|").replace('\n', " "),
            if r.default_on { "on" } else { "off" },
            code = r.code,
        );
    }
    out
}

/// The text under `## heading` in a rule doc, up to the next heading.
fn section<'d>(doc: &'d str, heading: &str) -> &'d str {
    let marker = format!("## {heading}\n");
    let Some(start) = doc.find(&marker) else {
        return "";
    };
    let body = &doc[start + marker.len()..];
    body.find("\n## ").map_or(body, |end| &body[..end]).trim()
}

/// The first sentence of a paragraph, joined onto one line.
fn first_sentence(text: &str) -> Option<&str> {
    let para = text.split("\n\n").next()?.trim();
    if para.is_empty() {
        return None;
    }
    // A sentence ends at ". " or "." at a line end, outside backticks.
    let mut in_code = false;
    let bytes = para.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'`' => in_code = !in_code,
            b'.' if !in_code => {
                let next = bytes.get(i + 1).copied();
                if matches!(next, None | Some(b' ') | Some(b'\n')) {
                    return Some(&para[..=i]);
                }
            }
            _ => {}
        }
    }
    Some(para)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_unique_sorted_and_documented() {
        let codes: Vec<&str> = RULES.iter().map(|r| r.code).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted);
        for r in RULES {
            assert!(
                r.doc.starts_with(&format!("# {} ", r.code)),
                "{} doc header",
                r.code
            );
            for section in [
                "## What it finds",
                "## Why it breaks parallel runs",
                "## Example",
                "## Use instead",
            ] {
                assert!(r.doc.contains(section), "{} lacks {section}", r.code);
            }
        }
    }

    #[test]
    fn selection_by_prefix() {
        let rule = get("ISO101").unwrap();
        let s = Selection {
            select: Some(vec!["ISO1".into()]),
            ignore: vec!["ISO10".into()],
            ..Default::default()
        };
        assert!(!s.enabled(rule));
        let s = Selection {
            select: Some(vec!["ISO101".into()]),
            ignore: vec!["ISO1".into()],
            ..Default::default()
        };
        assert!(s.enabled(rule));
        let s = Selection {
            select: Some(vec!["ISO2".into()]),
            extend_select: vec!["ISO101".into()],
            ..Default::default()
        };
        assert!(s.enabled(rule));
        assert!(!s.enabled(get("ISO102").unwrap()));
    }

    #[test]
    fn selectors_are_checked_against_the_registry() {
        for ok in ["ALL", "ISO", "ISO1", "ISO10", "ISO101", "ISO7", "ISO705"] {
            assert_eq!(check_selector(ok), Ok(()), "{ok}");
        }
        // Typos get the nearest known selector.
        let help = check_selector("ISO1011").unwrap_err();
        assert!(help.starts_with("did you mean `ISO101`?"), "{help}");
        let help = check_selector("ISO999").unwrap_err();
        assert!(help.starts_with("did you mean `ISO"), "{help}");
        let help = check_selector("iso101").unwrap_err();
        assert!(help.starts_with("did you mean `ISO101`?"), "{help}");
        // A family that does not exist lists those that do.
        let help = check_selector("ISO9").unwrap_err();
        assert!(
            help.contains("ISO0, ISO1, ISO2, ISO3, ISO4, ISO5, ISO6, ISO7, ISO8"),
            "{help}"
        );
        // Other linters' codes get a hint about isoaudit's.
        for foreign in ["E501", "F401", "PT004", "B", "PLR0913"] {
            let help = check_selector(foreign).unwrap_err();
            assert!(help.contains("another linter's code"), "{foreign}: {help}");
            assert!(help.contains("ISOnnn"), "{foreign}: {help}");
        }
        // Garbage is still an error, never a silent match of nothing.
        assert!(check_selector("").is_err());
        assert!(check_selector("ISO 1").is_err());
    }

    /// `docs/rules.md` is generated; `ISOAUDIT_UPDATE_DOCS=1` (what
    /// `scripts/update-docs` sets) writes it instead of comparing.
    #[test]
    fn the_rules_index_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md");
        let want = index_markdown();
        if std::env::var_os("ISOAUDIT_UPDATE_DOCS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/rules.md is out of date with rules/*.md: run `scripts/update-docs`"
        );
        for r in RULES {
            assert!(
                want.contains(&format!("[{0}](../rules/{0}.md) | `{1}`", r.code, r.name)),
                "{}",
                r.code
            );
        }
    }
}
