//! Applying fixes: collects the edits of selected findings per file, drops
//! overlapping ones and any whose result no longer parses, and writes each
//! file atomically (temp file beside it, then rename), keeping its bytes
//! otherwise as they were (line endings, BOM).

use std::collections::BTreeMap;
use std::path::Path;

use crate::diagnostic::{Applicability, Edit, Finding};

/// Result of fixing one file.
#[derive(Debug, Clone)]
pub struct FileFix {
    pub path: String,
    pub original: String,
    pub fixed: String,
    pub applied: usize,
    /// Fixes dropped because the result would not parse.
    pub rejected: usize,
}

fn apply_edits(text: &str, edits: &[&Edit]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for e in edits {
        out.push_str(&text[pos..e.start]);
        out.push_str(&e.content);
        pos = e.end;
    }
    out.push_str(&text[pos..]);
    out
}

fn parses_as_well(before: &str, after: &str) -> bool {
    let count = |s: &str| {
        crate::python::parse(s.to_string())
            .problems
            .iter()
            .filter(|p| matches!(p, crate::python::SourceProblem::Syntax { .. }))
            .count()
    };
    count(after) <= count(before)
}

/// Computes the fixed text of every file with applicable fixes.
pub fn plan_fixes(
    findings: &[Finding],
    sources: &crate::diagnostic::SourceMap,
    unsafe_fixes: bool,
) -> Vec<FileFix> {
    let mut by_file: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        if let Some(fix) = &f.fix {
            if fix.applicability == Applicability::Safe || unsafe_fixes {
                by_file.entry(f.path.as_str()).or_default().push(f);
            }
        }
    }
    let mut out = Vec::new();
    for (path, fs) in by_file {
        let Some(text) = sources.get(path) else {
            continue;
        };
        let text: &str = text;
        let mut accepted: Vec<&Edit> = Vec::new();
        let mut applied = 0;
        let mut rejected = 0;
        let mut fixes: Vec<&crate::diagnostic::Fix> =
            fs.iter().filter_map(|f| f.fix.as_ref()).collect();
        fixes.sort_by_key(|f| f.edits.first().map(|e| e.start));
        for fix in fixes {
            let overlaps = fix.edits.iter().any(|e| {
                accepted
                    .iter()
                    .any(|a| e.start < a.end.max(a.start + 1) && a.start < e.end.max(e.start + 1))
            });
            if overlaps {
                continue;
            }
            let mut trial = accepted.clone();
            trial.extend(fix.edits.iter());
            trial.sort_by_key(|e| (e.start, e.end));
            if parses_as_well(text, &apply_edits(text, &trial)) {
                accepted = trial;
                applied += 1;
            } else {
                rejected += 1;
            }
        }
        if applied == 0 && rejected == 0 {
            continue;
        }
        out.push(FileFix {
            path: path.to_string(),
            original: text.to_string(),
            fixed: apply_edits(text, &accepted),
            applied,
            rejected,
        });
    }
    out
}

/// Unified diff of a planned fix, naming the file `shown` (the path as the
/// user sees it, relative to the directory isoaudit ran in).
pub fn diff(fix: &FileFix, shown: &str) -> String {
    similar::TextDiff::from_lines(&fix.original, &fix.fixed)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{shown}"), &format!("b/{shown}"))
        .to_string()
}

/// Writes the fixed text over the file atomically, keeping a UTF-8 BOM and
/// the file's permissions.
pub fn write_fix(root: &Path, fix: &FileFix) -> std::io::Result<()> {
    use std::io::Write;
    let path = root.join(&fix.path);
    let original = std::fs::read(&path)?;
    let bom = original.starts_with(b"\xEF\xBB\xBF");
    let body = if bom { &original[3..] } else { &original[..] };
    if std::str::from_utf8(body).is_err() {
        // Declared in another encoding (PEP 263): rewriting it as UTF-8 would
        // change more than the fix.
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 (declared in another encoding); fix it by hand",
        ));
    }
    let dir = path.parent().unwrap_or(root);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    if bom {
        tmp.write_all(b"\xEF\xBB\xBF")?;
    }
    tmp.write_all(fix.fixed.as_bytes())?;
    tmp.flush()?;
    if let Ok(meta) = std::fs::metadata(&path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Edit, Finding, Fix, Location, SourceMap};
    use std::sync::Arc;

    fn finding(start: usize, end: usize, content: &str, applicability: Applicability) -> Finding {
        let mut f = Finding::new("ISO501", "t.py", Location::default(), "m");
        f.fix = Some(Fix {
            message: "x".into(),
            applicability,
            edits: vec![Edit {
                start,
                end,
                line: 1,
                column: 1,
                end_line: 1,
                end_column: 1,
                content: content.into(),
            }],
        });
        f
    }

    fn sources(text: &str) -> SourceMap {
        let mut m = SourceMap::new();
        m.insert("t.py".into(), Arc::from(text));
        m
    }

    #[test]
    fn unsafe_fixes_need_opt_in_and_overlaps_are_dropped() {
        let text = "@pytest.mark.isolation\r\ndef test_a():\r\n    pass\r\n";
        let remove = finding(0, 24, "", Applicability::Unsafe);
        let overlapping = finding(0, 5, "", Applicability::Unsafe);
        assert!(plan_fixes(std::slice::from_ref(&remove), &sources(text), false).is_empty());
        let fixed = plan_fixes(&[remove, overlapping], &sources(text), true);
        assert_eq!(fixed[0].applied, 1);
        // CRLF line endings survive.
        assert_eq!(fixed[0].fixed, "def test_a():\r\n    pass\r\n");
    }

    #[test]
    fn fixes_that_break_parsing_are_rejected() {
        let text = "def test_a():\n    pass\n";
        let breaking = finding(0, 4, "", Applicability::Safe);
        let fixed = plan_fixes(&[breaking], &sources(text), true);
        assert_eq!((fixed[0].applied, fixed[0].rejected), (0, 1));
        assert_eq!(fixed[0].fixed, text);
    }

    #[test]
    fn write_keeps_bom_and_refuses_other_encodings() {
        let dir = tempfile::tempdir().unwrap();
        let plan = FileFix {
            path: "t.py".into(),
            original: "x = 1\n".into(),
            fixed: "x = 2\n".into(),
            applied: 1,
            rejected: 0,
        };
        std::fs::write(dir.path().join("t.py"), b"\xEF\xBB\xBFx = 1\n").unwrap();
        write_fix(dir.path(), &plan).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("t.py")).unwrap(),
            b"\xEF\xBB\xBFx = 2\n"
        );
        std::fs::write(dir.path().join("t.py"), b"# coding: latin-1\ns = '\xe9'\n").unwrap();
        assert!(write_fix(dir.path(), &plan).is_err());
        assert_eq!(
            std::fs::read(dir.path().join("t.py")).unwrap(),
            b"# coding: latin-1\ns = '\xe9'\n"
        );
    }
}
