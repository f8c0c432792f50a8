//! Command dispatch: glue between the CLI structs and the library. Maps every
//! outcome to an exit code: 0 clean, 1 findings, 2 usage/config/internal error.

use std::io::{IsTerminal, Write};

use crate::cli::{CheckArgs, Cli, Command, Common, OutputFormat, RuleArgs};
use crate::config::{self, Project};
use crate::diagnostic::Summary;
use crate::output::{self, OutputOptions, RuleInfo};
use crate::rules::{self, fix, registry, Selection};
use crate::{analyze, Analysis, AnalyzeOptions};

pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// Runs one command; returns the process exit code.
pub fn main(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Check(args) => check(&args),
        Command::Rule(args) => rule(&args),
        Command::Report(args) => crate::report::command(&args),
        Command::Plan(args) => plan(&args),
        Command::Run(args) => run(&args),
        Command::Graph(args) => crate::report::graph_command(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "isoaudit: error: {e:#}");
            EXIT_ERROR
        }
    }
}

pub fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Loads the configuration, printing a config error (with its TOML span) on failure.
pub fn load_project(common: &Common) -> Result<Project, u8> {
    match config::load(&common.paths, common.config.as_deref()) {
        Ok(p) => Ok(p),
        Err(e) => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let _ = output::print_error(&mut std::io::stderr(), &e, color);
            Err(EXIT_ERROR)
        }
    }
}

/// Loads and analyses the suite for an analysing command.
pub fn analyse(common: &Common, opts: &AnalyzeOptions) -> Result<Analysis, u8> {
    let project = load_project(common)?;
    Ok(analyze(project, &common.paths, opts))
}

fn rule_info(code: &str) -> Option<RuleInfo> {
    registry::get(code).map(|r| RuleInfo {
        name: r.name.to_string(),
        summary: r.summary.to_string(),
        url: None,
    })
}

pub fn selection(project: &Project, args: &CheckArgs) -> Selection {
    let s = &project.settings;
    Selection {
        select: args.select.clone().or_else(|| s.select.clone()),
        extend_select: s
            .extend_select
            .iter()
            .chain(args.extend_select.iter())
            .cloned()
            .collect(),
        ignore: s.ignore.iter().chain(args.ignore.iter()).cloned().collect(),
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<u8> {
    let analysis = match analyse(&args.common, &AnalyzeOptions::default()) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let sel = selection(&analysis.project, args);
    let mut findings = rules::findings(&analysis, &sel);
    let mut stdout = std::io::stdout().lock();

    if args.diff {
        let fixes = fix::plan_fixes(&findings, &analysis.sources(), true);
        for f in &fixes {
            write!(stdout, "{}", fix::diff(f))?;
        }
        let n: usize = fixes.iter().map(|f| f.applied).sum();
        let rejected: usize = fixes.iter().map(|f| f.rejected).sum();
        let mut err = std::io::stderr();
        if n == 0 {
            writeln!(err, "No fixes available.")?;
        } else {
            writeln!(
                err,
                "Would fix {n} finding{}.",
                if n == 1 { "" } else { "s" }
            )?;
        }
        if rejected > 0 {
            writeln!(
                err,
                "{rejected} fix(es) dropped: the result would not parse."
            )?;
        }
        return Ok(if n > 0 && !args.exit_zero {
            EXIT_FINDINGS
        } else {
            EXIT_CLEAN
        });
    }

    let mut fixed = 0;
    let mut analysis = analysis;
    if args.fix {
        let fixes = fix::plan_fixes(&findings, &analysis.sources(), args.unsafe_fixes);
        for f in &fixes {
            if let Err(e) = fix::write_fix(&analysis.project.root, f) {
                eprintln!("{}: not fixed: {e}", f.path);
                continue;
            }
            fixed += f.applied;
            if f.rejected > 0 {
                eprintln!(
                    "{}: {} fix(es) dropped: the result would not parse",
                    f.path, f.rejected
                );
            }
        }
        if fixed > 0 {
            // Report what is left, from the files as they are now.
            analysis = match analyse(&args.common, &AnalyzeOptions::default()) {
                Ok(a) => a,
                Err(code) => return Ok(code),
            };
            findings = rules::findings(&analysis, &sel);
        }
    }

    let summary = Summary {
        files: analysis.files,
        tests: analysis.test_count(),
        findings: findings.len(),
        parse_errors: findings.iter().filter(|f| f.code == "ISO001").count(),
    };
    let color = stdout_color() && args.output_format == OutputFormat::Full;
    let opts = OutputOptions {
        format: args.output_format,
        color,
        statistics: args.statistics,
        show_fixes: false,
        tool_version: env!("CARGO_PKG_VERSION"),
        tool_uri: None,
        rules: &rule_info,
    };
    output::print_findings(&mut stdout, &findings, &analysis.sources(), &summary, &opts)?;
    if fixed > 0 {
        writeln!(
            std::io::stderr(),
            "Fixed {fixed} finding{}.",
            if fixed == 1 { "" } else { "s" }
        )?;
    }
    Ok(if findings.is_empty() || args.exit_zero {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

fn rule(args: &RuleArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    if args.all {
        for (i, r) in registry::RULES.iter().enumerate() {
            if i > 0 {
                writeln!(out, "\n---\n")?;
            }
            write!(out, "{}", r.doc)?;
        }
        return Ok(EXIT_CLEAN);
    }
    match &args.code {
        Some(code) => match registry::get(code) {
            Some(r) => {
                write!(out, "{}", r.doc)?;
                let fix = match r.fix {
                    Some(crate::diagnostic::Applicability::Safe) => "safe fix available",
                    Some(crate::diagnostic::Applicability::Unsafe) => {
                        "unsafe fix available (--fix --unsafe-fixes)"
                    }
                    None => "no automatic fix",
                };
                writeln!(
                    out,
                    "\n{} {} · {} · {}",
                    r.code,
                    r.name,
                    if r.default_on {
                        "on by default"
                    } else {
                        "off by default"
                    },
                    fix
                )?;
                Ok(EXIT_CLEAN)
            }
            None => {
                eprintln!("isoaudit: unknown rule `{code}`; `isoaudit rule` lists them");
                Ok(EXIT_ERROR)
            }
        },
        None => {
            for r in registry::RULES {
                writeln!(out, "{:<7} {:<36} {}", r.code, r.name, r.summary)?;
            }
            Ok(EXIT_CLEAN)
        }
    }
}

/// The schedule for the analysed suite, as `plan` and `run` use it.
pub fn build_plan(
    analysis: &Analysis,
    sched: &crate::cli::ScheduleArgs,
) -> anyhow::Result<crate::plan::Plan> {
    Ok(plan_with_options(analysis, sched)?.0)
}

/// The plan and the options it was built with.
pub fn plan_with_options(
    analysis: &Analysis,
    sched: &crate::cli::ScheduleArgs,
) -> anyhow::Result<(crate::plan::Plan, crate::plan::PlanOptions)> {
    use crate::plan::{self, Classified, PlanOptions};
    let settings = &analysis.project.settings.scheduler;
    let workers = match &sched.workers {
        Some(w) => plan::parse_workers(w)?,
        None => match settings.workers {
            Some(n) => n,
            None => plan::parse_workers("auto")?,
        },
    };
    let durations_file = sched
        .durations
        .clone()
        .or_else(|| settings.durations.clone());
    let durations = plan::durations::Durations::load_default(
        &analysis.project.root,
        durations_file.as_deref(),
    )?;
    let tests: Vec<Classified> = analysis.verdicts.iter().map(|v| v.classified()).collect();
    let opts = PlanOptions {
        workers,
        heavy_workers: sched.heavy_workers.or(settings.heavy_workers),
        shards: match (sched.shards, sched.shard) {
            (Some(k), Some(i)) => Some((k, i)),
            _ => None,
        },
    };
    Ok((plan::build(tests, &durations, &opts)?, opts))
}

fn plan(args: &crate::cli::PlanArgs) -> anyhow::Result<u8> {
    let opts = AnalyzeOptions {
        honor_markers: args.schedule.honor_markers,
    };
    let analysis = match analyse(&args.common, &opts) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let plan = build_plan(&analysis, &args.schedule)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        crate::cli::PlanFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &plan)?;
            writeln!(out)?;
        }
        crate::cli::PlanFormat::Text => write!(out, "{}", crate::plan::render_text(&plan))?,
    }
    Ok(EXIT_CLEAN)
}

fn run(args: &crate::cli::RunArgs) -> anyhow::Result<u8> {
    // pytest would say "file or directory not found" and exit 4 after the
    // analysis; a path that is not there is a usage error.
    if let Some(missing) = args.common.paths.iter().find(|p| !p.exists()) {
        anyhow::bail!(
            "`{}` does not exist; give `isoaudit run` test files or directories",
            missing.display()
        );
    }
    let opts = AnalyzeOptions {
        honor_markers: args.schedule.honor_markers,
    };
    let analysis = match analyse(&args.common, &opts) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    if analysis.test_count() == 0 {
        let under = if args.common.paths.is_empty() {
            "the project's testpaths".to_string()
        } else {
            args.common
                .paths
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "isoaudit: no test files under {under} (pytest's python_files decide which \
             files are tests); running pytest to confirm"
        );
    }
    let (plan, plan_opts) = plan_with_options(&analysis, &args.schedule)?;
    let run_opts = crate::run::RunOptions::from_args(&analysis.project, args, &plan_opts);
    let code = crate::run::execute(&analysis.project.root, &plan, &run_opts)?;
    Ok(u8::try_from(code).unwrap_or(EXIT_ERROR))
}
