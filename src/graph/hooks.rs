//! Markers that conftest and plugin hooks add at collection
//! (`item.add_marker(...)` in `pytest_collection_modifyitems`): part of the
//! suite model, so every reader sees the markers pytest would apply.

use crate::pytest::imports::Imports;
use crate::pytest::{Marker, MarkerSite, ModuleModel};
use crate::python::ir::{Call, Expr, ExprKind, Span, Stmt};

/// A marker a conftest (or plugin) hook adds at collection time, and the
/// tests it reaches.
#[derive(Debug, Clone)]
pub struct HookMarking {
    pub module: usize,
    pub span: Span,
    pub marker: String,
    /// Strings the enclosing `if` tests against (`"integration" in item.nodeid`).
    pub patterns: Vec<String>,
    /// Nodeids of the tests below the hook's conftest that it marks.
    pub tests: Vec<String>,
}

impl HookMarking {
    /// The marker as the audit sees it on each test it reaches.
    pub fn as_marker(&self) -> Marker {
        Marker {
            name: self.marker.clone(),
            level: crate::pytest::MarkerLevel::Module,
            reason: None,
            call: None,
            span: self.span,
            site: MarkerSite::Hook {
                module: self.module,
                span: self.span,
            },
            str_args: Vec::new(),
            args: Vec::new(),
            keywords: Vec::new(),
            module: None,
        }
    }
}

/// `item.add_marker(pytest.mark.NAME)` inside `pytest_collection_modifyitems`
/// or `pytest_itemcollected` of a conftest or plugin module, with the tests
/// it applies to: those below the hook's conftest (every test for a plugin)
/// whose nodeid contains one of the strings its `if` tests (all of them
/// when there is none).
pub fn hook_markings(modules: &[ModuleModel]) -> Vec<HookMarking> {
    let mut out = Vec::new();
    for (mi, m) in modules.iter().enumerate() {
        if !(m.is_conftest || m.plugin) {
            continue;
        }
        for h in &m.hooks {
            if h.name != "pytest_collection_modifyitems" && h.name != "pytest_itemcollected" {
                continue;
            }
            let mut found = Vec::new();
            walk_hook(&h.func.body, &mut Vec::new(), &mut found, &m.imports, mi);
            for mut am in found {
                let scope = if m.dir.is_empty() || m.plugin {
                    String::new()
                } else {
                    format!("{}/", m.dir)
                };
                am.tests = modules
                    .iter()
                    .flat_map(|m| m.tests.iter())
                    .filter(|t| modules[t.collector].rel.starts_with(&scope))
                    .filter(|t| {
                        am.patterns.is_empty()
                            || am.patterns.iter().any(|p| t.nodeid.contains(p.as_str()))
                    })
                    .map(|t| t.nodeid.clone())
                    .collect();
                out.push(am);
            }
        }
    }
    out
}

fn walk_hook(
    body: &[Stmt],
    conds: &mut Vec<String>,
    out: &mut Vec<HookMarking>,
    imports: &Imports,
    mi: usize,
) {
    use crate::python::ir::StmtKind;
    for s in body {
        match &s.kind {
            StmtKind::If { test, body, orelse } => {
                let before = conds.len();
                collect_strings(test, conds);
                walk_hook(body, conds, out, imports, mi);
                conds.truncate(before);
                walk_hook(orelse, conds, out, imports, mi);
            }
            _ => {
                for e in s.exprs() {
                    find_add_marker(e, conds, out, imports, mi);
                }
                for b in s.blocks() {
                    walk_hook(b, conds, out, imports, mi);
                }
            }
        }
    }
}

fn collect_strings(e: &Expr, out: &mut Vec<String>) {
    if let ExprKind::Str(s) = &e.kind {
        out.push(s.to_string());
    }
    for c in e.children() {
        collect_strings(c, out);
    }
}

fn find_add_marker(
    e: &Expr,
    conds: &[String],
    out: &mut Vec<HookMarking>,
    imports: &Imports,
    mi: usize,
) {
    if let ExprKind::Call(c) = &e.kind {
        if matches!(&c.func.kind, ExprKind::Attribute { attr, .. } if attr == "add_marker") {
            if let Some(name) = marker_name(c, imports) {
                out.push(HookMarking {
                    module: mi,
                    span: e.span,
                    marker: name,
                    patterns: conds.to_vec(),
                    tests: Vec::new(),
                });
            }
        }
    }
    for ch in e.children() {
        find_add_marker(ch, conds, out, imports, mi);
    }
}

fn marker_name(c: &Call, imports: &Imports) -> Option<String> {
    let arg = c.args.first()?;
    if let Some(s) = arg.as_str() {
        return Some(s.to_string());
    }
    let callee = match &arg.kind {
        ExprKind::Call(inner) => &inner.func,
        _ => arg,
    };
    let q = imports.qualify(callee)?;
    q.strip_prefix("pytest.mark.").map(str::to_string)
}
