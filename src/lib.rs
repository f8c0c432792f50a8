//! isoaudit: static isolation analysis and parallel scheduling for pytest suites.
//!
//! Pipeline (this file): discover -> parse (parallel) -> model -> graph ->
//! facts -> classify. Rules, reports and the scheduler read the `Analysis`.

pub mod app;
pub mod baseline;
pub mod classify;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod facts;
pub mod graph;
pub mod observed;
pub mod output;
pub mod plan;
pub mod pytest;
pub mod python;
pub mod report;
pub mod rules;
pub mod run;
pub mod walk;

use std::path::PathBuf;
use std::sync::Arc;

use classify::{ClassifyOptions, Verdict};
use config::Project;
use diagnostic::{Finding, Location, SourceMap};
use facts::{Facts, FactsOptions};
use graph::{Closure, Suite};
use python::{SourceProblem, SourceText};

/// Everything the analysis knows about a suite.
pub struct Analysis {
    pub project: Project,
    pub suite: Suite,
    /// Source text per module, aligned with `suite.modules`.
    pub texts: Vec<Arc<SourceText>>,
    pub closures: Vec<Closure>,
    pub facts: Facts,
    /// Aligned with `suite.tests()`.
    pub verdicts: Vec<Verdict>,
    /// ISO0xx findings from discovery and parsing.
    pub file_findings: Vec<Finding>,
    /// Files discovered (including unreadable ones).
    pub files: usize,
    /// The whole suite was analysed (what pytest collects from the rootdir,
    /// whichever directory the walk started from), so "unused anywhere"
    /// conclusions hold.
    pub whole_suite: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    pub honor_markers: bool,
    /// Leave `.isoaudit/observed.json` out (static facts only).
    pub no_observed: bool,
}

/// Reads one file into a module model, or findings explaining why not.
struct FileResult {
    parsed: Option<(pytest::ModuleModel, SourceText)>,
    findings: Vec<Finding>,
}

fn problem_finding(rel: &str, text: Option<&SourceText>, p: &SourceProblem) -> Finding {
    let loc_of = |span: python::ir::Span| {
        text.map(|t| t.location(span)).unwrap_or(Location {
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 1,
        })
    };
    let (code, loc, msg, range) = match p {
        SourceProblem::Syntax { message, span } => (
            "ISO001",
            loc_of(*span),
            format!("syntax error: {message}; the rest of the file is still analysed"),
            (span.start as usize, span.end as usize),
        ),
        SourceProblem::Undecodable { message, .. } => (
            "ISO003",
            loc_of(Default::default()),
            format!("cannot decode the file: {message}; pytest could not import it either, so it was skipped"),
            (0, 0),
        ),
        SourceProblem::TooLarge { bytes } => (
            "ISO002",
            loc_of(Default::default()),
            format!(
                "file is {bytes} bytes, over the {} byte limit; skipped",
                python::MAX_FILE_BYTES
            ),
            (0, 0),
        ),
        SourceProblem::TooDeep { span } => (
            "ISO006",
            loc_of(*span),
            format!(
                "code nested more than {} levels deep; the deeper part is not analysed",
                python::MAX_DEPTH
            ),
            (span.start as usize, span.end as usize),
        ),
    };
    let mut f = Finding::new(code, rel, loc, msg);
    f.byte_range = range;
    f
}

/// Test hook: makes reading a file with this name panic, so the last line
/// of defence (`catch_unwind` -> ISO009) is exercised by the test suite.
const PANIC_HOOK_VAR: &str = "ISOAUDIT_TEST_PANIC_ON_FILE";

fn read_file(file: &walk::SourceFile, rules: &pytest::NameRules) -> FileResult {
    if let Some(name) = std::env::var_os(PANIC_HOOK_VAR) {
        if file.path.file_name() == Some(name.as_os_str()) {
            panic!("{PANIC_HOOK_VAR} asked for a panic on {}", file.rel);
        }
    }
    let mut out = FileResult {
        parsed: None,
        findings: Vec::new(),
    };
    let bytes = match std::fs::read(&file.path) {
        Ok(b) => b,
        Err(e) => {
            out.findings.push(Finding::new(
                "ISO002",
                &file.rel,
                Location {
                    line: 1,
                    column: 1,
                    end_line: 1,
                    end_column: 1,
                },
                format!("cannot read the file: {e}; skipped"),
            ));
            return out;
        }
    };
    let parsed = python::parse_bytes(&bytes);
    let decoded = !parsed.problems.iter().any(|p| {
        matches!(
            p,
            SourceProblem::Undecodable { .. } | SourceProblem::TooLarge { .. }
        )
    });
    for p in &parsed.problems {
        out.findings.push(problem_finding(
            &file.rel,
            decoded.then_some(&parsed.source),
            p,
        ));
    }
    if decoded {
        // Module indexes are assigned once every file is read.
        let model = pytest::extract(
            0,
            &file.rel,
            file.is_conftest,
            &parsed.module,
            &parsed.source,
            rules,
        );
        out.parsed = Some((model, parsed.source));
    }
    out
}

/// Parses files in parallel on threads with room for deep recursion in the
/// parser; a panic on one file becomes an ISO009 finding for that file.
fn read_all(files: &[walk::SourceFile], rules: &pytest::NameRules) -> Vec<FileResult> {
    use rayon::prelude::*;
    let work = || {
        files
            .par_iter()
            .map(|f| {
                std::panic::catch_unwind(|| read_file(f, rules)).unwrap_or_else(|_| FileResult {
                    parsed: None,
                    findings: vec![Finding::new(
                        "ISO009",
                        &f.rel,
                        Location {
                            line: 1,
                            column: 1,
                            end_line: 1,
                            end_column: 1,
                        },
                        "internal error while reading this file; it was skipped (please report it)",
                    )],
                })
            })
            .collect()
    };
    match rayon::ThreadPoolBuilder::new()
        .stack_size(256 * 1024 * 1024)
        .build()
    {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}

/// Runs the whole analysis for `paths` of an already loaded project.
pub fn analyze(project: Project, paths: &[PathBuf], opts: &AnalyzeOptions) -> Analysis {
    let timing = std::env::var_os("ISOAUDIT_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let lap = |what: &str| {
        if timing {
            eprintln!(
                "isoaudit timing: {what} at {:.3}s",
                t0.elapsed().as_secs_f64()
            );
        }
    };
    let discovery = walk::discover(&project, paths);
    lap("discover");
    let rules = pytest::NameRules::new(&project.pytest);
    let results = read_all(&discovery.files, &rules);
    lap("parse");
    let mut file_findings = discovery.problems;
    let mut modules = Vec::new();
    let mut texts = Vec::new();
    for r in results {
        file_findings.extend(r.findings);
        if let Some((mut model, text)) = r.parsed {
            model.set_index(modules.len());
            modules.push(model);
            texts.push(Arc::new(text));
        }
    }
    pytest::collect::drop_ignored(&project.root, &mut modules, &mut texts, &project.pytest);
    let (support, app_constants) = support_modules(&project.root, &modules, &rules);
    for (mut model, text) in support {
        model.set_index(modules.len());
        // Findings are placed at the call sites in test code, never inside
        // application modules: their text need not stay in memory.
        let text = if model.application {
            SourceText::new(String::new())
        } else {
            text
        };
        modules.push(model);
        texts.push(Arc::new(text));
    }
    collect(&project, &mut modules, &mut texts, &rules);
    lap("model");
    let suite = Suite::new(modules, project.pytest.usefixtures.clone());
    let closures = suite.closures();
    lap("closures");
    let facts_opts = FactsOptions {
        shared_paths: project.settings.shared_paths.clone(),
        app_constants,
    };
    // Summaries nest (method -> helper -> method): walk on threads with room
    // for it, like the parser's.
    let facts = match rayon::ThreadPoolBuilder::new()
        .stack_size(256 * 1024 * 1024)
        .build()
    {
        Ok(pool) => pool.install(|| facts::analyze(&suite, &facts_opts)),
        Err(_) => facts::analyze(&suite, &facts_opts),
    };
    lap("facts");
    let hook_markers = suite.hook_markers(&project.settings.isolation_markers);
    let observations = if opts.no_observed {
        observed::Observations::default()
    } else {
        let (memory, warning) = observed::load(&project.root);
        if let Some(w) = warning {
            eprintln!("isoaudit: warning: {w}");
        }
        observed::Observations::prepare(
            &project.root,
            &memory,
            project.settings.heavy_rss_mb,
            project.settings.heavy_cpu_s,
        )
    };
    let verdicts = classify::classify(
        &suite,
        &closures,
        &facts,
        &ClassifyOptions {
            isolation_markers: project.settings.isolation_markers.clone(),
            heavy_markers: project.settings.heavy_markers.clone(),
            honor_markers: opts.honor_markers,
            hook_markers,
            observations,
        },
    );
    lap("classify");
    Analysis {
        whole_suite: discovery.whole_suite,
        files: discovery.files.len(),
        project,
        suite,
        texts,
        closures,
        facts,
        verdicts,
        file_findings,
    }
}

/// Collection across modules (`pytest::collect`): reads the project modules
/// the suite's namespaces reach, then links fixtures, test classes, imported
/// tests and xunit functions into the modules that collect them.
fn collect(
    project: &Project,
    modules: &mut Vec<pytest::ModuleModel>,
    texts: &mut Vec<Arc<SourceText>>,
    rules: &pytest::NameRules,
) {
    pytest::collect::load_reachable(&project.root, modules, texts, rules, &project.pytest);
    pytest::collect::link(&project.root, modules, rules, &project.pytest);
}

/// The project's own non-test modules that tests and conftests import
/// (`tests/helpers.py`, `src/app/config.py`), parsed but never imported:
/// their constants give values to imported names and their functions are
/// followed from test bodies. Returns the models (no tests, hooks or markers
/// are collected from them) and their constants by the import path used.
type Constants = std::collections::HashMap<String, python::ir::Expr>;

fn support_modules(
    root: &std::path::Path,
    modules: &[pytest::ModuleModel],
    rules: &pytest::NameRules,
) -> (
    Vec<(pytest::ModuleModel, SourceText)>,
    std::collections::HashMap<String, Constants>,
) {
    use std::collections::{BTreeSet, HashMap, HashSet};
    let known: HashSet<&str> = modules.iter().map(|m| m.dotted.as_str()).collect();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    // Which imports can matter: constants (`from app.config import ROOT`),
    // config-like modules (`from app import settings`), and anything the
    // test tree itself holds (helpers); not every application module.
    // Every project module the tests import can hold what they reach: its
    // constants, helpers, and classes whose methods change shared state.
    // Imports are candidates; only those that resolve to files under the
    // root are read.
    for m in modules {
        for (_, q) in m.imports.iter() {
            wanted.insert(q.to_string());
            if let Some((module, _)) = q.rsplit_once('.') {
                wanted.insert(module.to_string());
            }
        }
        wanted.extend(m.imports.submodules().map(str::to_string));
        wanted.extend(m.imports.stars().map(str::to_string));
    }
    // Where imports resolve from: the root, `src/`, and each test directory
    // (pytest puts the first directory without `__init__.py` on sys.path).
    let mut bases: BTreeSet<std::path::PathBuf> = [root.to_path_buf(), root.join("src")].into();
    let dirs: BTreeSet<&str> = modules.iter().map(|m| m.dir.as_str()).collect();
    // pytest's rootdir-relative import: each test module's basedir (the
    // first directory upward without `__init__.py`) is on sys.path.
    for d in &dirs {
        let mut dir = root.join(d);
        while dir.join("__init__.py").is_file() && dir.starts_with(root) && dir != root {
            match dir.parent() {
                Some(p) => dir = p.to_path_buf(),
                None => break,
            }
        }
        bases.insert(dir);
    }
    // The test tree: directories that hold test modules (a conftest at a
    // package root does not make the whole package test code).
    let test_dirs: Vec<String> = modules
        .iter()
        .filter(|m| !m.is_conftest && !m.tests.is_empty())
        .map(|m| {
            if m.dir.is_empty() {
                String::new()
            } else {
                format!("{}/", m.dir)
            }
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let bases: Vec<std::path::PathBuf> = bases.into_iter().collect();
    // Top-level names each base can import, so most stdlib and third-party
    // imports are dismissed without a file-system probe per base.
    let tops: Vec<HashSet<String>> = bases
        .iter()
        .map(|b| {
            std::fs::read_dir(b)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .map(|e| {
                            e.file_name()
                                .to_string_lossy()
                                .trim_end_matches(".py")
                                .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    // Resolve import paths to files first (cheap), then parse each file once,
    // in parallel.
    let mut by_module: Vec<(String, std::path::PathBuf)> = Vec::new();
    for module in wanted {
        if known.contains(module.as_str()) || module.starts_with('.') {
            continue;
        }
        let rel = module.replace('.', "/");
        let top = module.split('.').next().unwrap_or("");
        let found = bases
            .iter()
            .zip(tops.iter())
            .filter(|(_, t)| t.contains(top))
            .flat_map(|(b, _)| {
                [
                    b.join(format!("{rel}.py")),
                    b.join(&rel).join("__init__.py"),
                ]
            })
            .find(|p| p.is_file());
        if let Some(path) = found {
            by_module.push((module, path));
        }
    }
    let paths: Vec<std::path::PathBuf> = by_module
        .iter()
        .map(|(_, p)| p.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let in_test_tree = |rel_path: &str| {
        test_dirs.iter().any(|d| {
            if d.is_empty() {
                !rel_path.contains('/')
            } else {
                rel_path.starts_with(d.as_str())
            }
        })
    };
    use rayon::prelude::*;
    let parsed: Vec<Option<(std::path::PathBuf, pytest::ModuleModel, SourceText)>> = paths
        .par_iter()
        .map(|path| {
            let rel_path = walk::relative(root, path);
            if known.contains(rel_path.trim_end_matches(".py").replace('/', ".").as_str()) {
                return None;
            }
            let bytes = std::fs::read(path).ok()?;
            // Constants worth following live in small config modules; large
            // application modules are skipped to keep the run fast.
            if bytes.len() > 256 * 1024 {
                return None;
            }
            let parsed = std::panic::catch_unwind(|| python::parse_bytes(&bytes)).ok()?;
            let mut model =
                pytest::extract(0, &rel_path, false, &parsed.module, &parsed.source, rules);
            model.support = true;
            model.tests.clear();
            model.hooks.clear();
            model.module_markers.clear();
            // Application code (outside the test tree) is summarised, not
            // inlined: its hazards only count where another test depends on
            // the same state.
            model.application = !in_test_tree(&rel_path);
            Some((path.clone(), model, parsed.source))
        })
        .collect();
    let mut index: HashMap<std::path::PathBuf, usize> = HashMap::new();
    let mut models: Vec<(pytest::ModuleModel, SourceText)> = Vec::new();
    for (path, model, text) in parsed.into_iter().flatten() {
        index.insert(path, models.len());
        models.push((model, text));
    }
    // A project module is known by the name tests import it as
    // (`inventory.ledger`, not `src.inventory.ledger`): keys of its state
    // must match what test code reads.
    for (module, path) in &by_module {
        if let Some(&i) = index.get(path) {
            let m = &mut models[i].0;
            if m.dotted.ends_with(module.as_str()) && module.len() < m.dotted.len() {
                m.dotted = module.clone();
            }
        }
    }
    let mut constants = HashMap::new();
    for (module, path) in by_module {
        if let Some(&i) = index.get(&path) {
            let consts = &models[i].0.constants;
            if !consts.is_empty() {
                constants.insert(module, consts.clone());
            }
        }
    }
    (models, constants)
}

impl Analysis {
    /// Source text per relative path of the files `findings` point into, for
    /// snippets and fixes (copying every file's text would double the memory
    /// a large suite needs).
    pub fn sources(&self, findings: &[Finding]) -> SourceMap {
        let wanted: std::collections::HashSet<&str> =
            findings.iter().map(|f| f.path.as_str()).collect();
        self.suite
            .modules
            .iter()
            .zip(self.texts.iter())
            .filter(|(m, _)| wanted.contains(m.rel.as_str()))
            .map(|(m, t)| (m.rel.clone(), Arc::from(t.text.as_str())))
            .collect()
    }

    pub fn test_count(&self) -> usize {
        self.verdicts.len()
    }
}
