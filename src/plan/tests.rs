use super::durations::{junit_key, parse_junit, Outcome};
use super::*;

fn classified(nodeid: &str, class: TestClass, unit: &str) -> Classified {
    Classified {
        nodeid: nodeid.into(),
        class,
        unit: unit.into(),
        resources: Vec::new(),
        codes: Vec::new(),
    }
}

fn par(nodeid: &str) -> Classified {
    classified(nodeid, TestClass::Parallel, &format!("test:{nodeid}"))
}

fn durations(pairs: &[(&str, f64)]) -> Durations {
    let mut d = Durations::new();
    for (k, v) in pairs {
        d.add_case(k, *v);
    }
    d
}

fn opts(workers: usize) -> PlanOptions {
    PlanOptions {
        workers,
        heavy_workers: None,
        shards: None,
    }
}

#[test]
fn function_nodeid_strips_only_the_parameter_suffix() {
    assert_eq!(
        function_nodeid("tests/a.py::TestX::test_y[1-2]"),
        "tests/a.py::TestX::test_y"
    );
    assert_eq!(
        function_nodeid("tests/a.py::test_y[a::b[c]]"),
        "tests/a.py::test_y"
    );
    assert_eq!(function_nodeid("tests/a.py::test_y"), "tests/a.py::test_y");
    // A `[` in a directory name is part of the path, not a parameter.
    assert_eq!(
        function_nodeid("tests/[x]/a.py::test_y[1]"),
        "tests/[x]/a.py::test_y"
    );
    assert_eq!(function_nodeid("tests/a.py"), "tests/a.py");
}

#[test]
fn lpt_hands_the_longest_unit_to_the_least_loaded_worker() {
    assert_eq!(lpt_makespan(&[2.0, 3.0, 7.0, 3.0, 5.0, 4.0], 2), 12.0);
    // LPT is a heuristic: 3,3 | 2,2,2 would be 6, LPT makes 7.
    assert_eq!(lpt_makespan(&[3.0, 3.0, 2.0, 2.0, 2.0], 2), 7.0);
    assert_eq!(lpt_makespan(&[1.0, 1.0], 8), 1.0);
    assert_eq!(lpt_makespan(&[], 4), 0.0);
    assert_eq!(lpt_makespan(&[4.0, 1.0], 0), 5.0, "0 workers behaves as 1");
}

#[test]
fn shards_are_split_longest_first_to_the_least_loaded_shard() {
    let costs = [1.0, 5.0, 3.0, 4.0, 3.0];
    let shard = split_shards(&costs, 2, |c| *c);
    // 5 -> 0, 4 -> 1, 3 (first) -> 1, 3 (second) -> 0, 1 -> 1
    assert_eq!(shard, vec![1, 0, 1, 1, 0]);
    assert_eq!(split_shards(&costs, 1, |c| *c), vec![0; 5]);
}

#[test]
fn build_puts_classes_in_phases_and_units() {
    let tests = vec![
        par("tests/test_a.py::test_fast"),
        par("tests/test_a.py::test_slow"),
        classified(
            "tests/test_db.py::test_one",
            TestClass::Grouped,
            "res:path:/tmp/db",
        ),
        classified(
            "tests/test_db.py::test_two",
            TestClass::Grouped,
            "res:path:/tmp/db",
        ),
        classified(
            "tests/test_env.py::test_set",
            TestClass::OrderRisk,
            "order:env:MODE",
        ),
        classified(
            "tests/test_ml.py::test_model",
            TestClass::Heavy,
            "heavy:tests/test_ml.py::test_model",
        ),
        classified(
            "tests/test_z.py::test_alone",
            TestClass::Serial,
            "serial:tests/test_z.py::test_alone",
        ),
    ];
    let d = durations(&[
        ("tests/test_a.py::test_fast", 1.0),
        ("tests/test_a.py::test_slow", 6.0),
        ("tests/test_db.py::test_one[1]", 2.0),
        ("tests/test_db.py::test_one[2]", 2.0),
        ("tests/test_db.py::test_two", 3.0),
        ("tests/test_ml.py::test_model", 10.0),
        ("tests/test_z.py::test_alone", 5.0),
    ]);
    let plan = build(tests, &d, &opts(2)).unwrap();
    assert_eq!(plan.version, 1);
    let nodeids: Vec<&str> = plan.tests.iter().map(|t| t.nodeid.as_str()).collect();
    let mut sorted = nodeids.clone();
    sorted.sort();
    assert_eq!(nodeids, sorted, "tests are sorted by nodeid");

    let one = plan
        .tests
        .iter()
        .find(|t| t.nodeid == "tests/test_db.py::test_one")
        .unwrap();
    assert_eq!(one.duration, 4.0, "parametrized cases are summed");
    let env = plan
        .tests
        .iter()
        .find(|t| t.nodeid == "tests/test_env.py::test_set")
        .unwrap();
    // known: 1, 6, 4, 3, 10, 5 -> median (4 + 5) / 2
    assert_eq!(env.duration, 4.5, "unknown tests count as the median");
    assert_eq!((plan.meta.known, plan.meta.estimated), (6, 1));

    let phases: Vec<u8> = plan.phases.iter().map(|p| p.phase).collect();
    assert_eq!(phases, vec![1, 2, 3]);
    let p1 = &plan.phases[0];
    assert_eq!((p1.workers, p1.units, p1.tests), (2, 4, 5));
    assert_eq!(p1.serial_seconds, 18.5);
    // LPT: 7 -> w0, 6 -> w1, 4.5 -> w1 (10.5), 1 -> w0 (8) => 10.5
    assert_eq!(p1.makespan_seconds, 10.5);
    assert_eq!(p1.lower_bound_seconds, 9.25);
    let p2 = &plan.phases[1];
    assert_eq!((p2.workers, p2.makespan_seconds), (2, 10.0));
    let p3 = &plan.phases[2];
    assert_eq!(
        (p3.workers, p3.makespan_seconds, p3.lower_bound_seconds),
        (1, 5.0, 5.0)
    );
    assert_eq!(plan.estimate.serial_seconds, 33.5);
    assert_eq!(plan.estimate.makespan_seconds, 25.5);
}

#[test]
fn lower_bound_is_the_longest_unit_when_it_dominates() {
    let tests = vec![par("t.py::a"), par("t.py::b"), par("t.py::c")];
    let d = durations(&[("t.py::a", 10.0), ("t.py::b", 1.0), ("t.py::c", 1.0)]);
    let plan = build(tests, &d, &opts(4)).unwrap();
    assert_eq!(plan.phases[0].lower_bound_seconds, 10.0);
    assert_eq!(plan.phases[0].makespan_seconds, 10.0);
}

#[test]
fn one_worker_makes_every_phase_serial() {
    let tests = vec![
        par("t.py::a"),
        par("t.py::b"),
        classified("t.py::h", TestClass::Heavy, "heavy:t.py::h"),
    ];
    let plan = build(tests, &Durations::new(), &opts(1)).unwrap();
    assert_eq!(plan.meta.default_seconds, 1.0, "nothing known: 1s each");
    assert!(plan.phases.iter().all(|p| p.workers == 1));
    assert_eq!(plan.phases[0].makespan_seconds, 2.0);
    assert_eq!(plan.estimate.makespan_seconds, plan.estimate.serial_seconds);
}

#[test]
fn heavy_workers_default_to_at_most_two() {
    let tests = vec![
        classified("t.py::a", TestClass::Heavy, "heavy:t.py::a"),
        classified("t.py::b", TestClass::Heavy, "heavy:t.py::b"),
        classified("t.py::c", TestClass::Heavy, "heavy:t.py::c"),
    ];
    let plan = build(tests.clone(), &Durations::new(), &opts(8)).unwrap();
    assert_eq!(plan.phases[0].workers, 2);
    assert_eq!(plan.phases[0].makespan_seconds, 2.0);
    let three = PlanOptions {
        heavy_workers: Some(3),
        ..opts(8)
    };
    let plan = build(tests, &Durations::new(), &three).unwrap();
    assert_eq!(plan.phases[0].makespan_seconds, 1.0);
}

#[test]
fn shards_keep_units_whole_and_cover_every_test_once() {
    let mut tests = Vec::new();
    let mut pairs = Vec::new();
    for i in 0..20 {
        let id = format!("t.py::p{i:02}");
        pairs.push((id.clone(), 0.5 + i as f64));
        tests.push(par(&id));
    }
    for i in 0..6 {
        let id = format!("g.py::g{i}");
        pairs.push((id.clone(), 2.0));
        tests.push(classified(
            &id,
            TestClass::Grouped,
            if i < 3 { "res:a" } else { "res:b" },
        ));
    }
    tests.push(classified("s.py::s", TestClass::Serial, "serial:s.py::s"));
    let refs: Vec<(&str, f64)> = pairs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let d = durations(&refs);

    let mut seen: Vec<String> = Vec::new();
    let mut loads = Vec::new();
    for index in 1..=3 {
        let o = PlanOptions {
            shards: Some((3, index)),
            ..opts(2)
        };
        let plan = build(tests.clone(), &d, &o).unwrap();
        let shard = plan.meta.shard.as_ref().unwrap();
        assert_eq!(shard.excluded.len() + plan.tests.len(), tests.len());
        for unit in ["res:a", "res:b"] {
            let n = plan.tests.iter().filter(|t| t.unit == unit).count();
            assert!(n == 0 || n == 3, "unit {unit} split across shards");
        }
        seen.extend(plan.tests.iter().map(|t| t.nodeid.clone()));
        loads.push(plan.estimate.makespan_seconds);
    }
    seen.sort();
    let mut all: Vec<String> = tests.iter().map(|t| t.nodeid.clone()).collect();
    all.sort();
    assert_eq!(seen, all, "every test in exactly one shard");
    let (min, max) = loads
        .iter()
        .fold((f64::MAX, 0.0_f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    assert!(max - min <= 20.0, "shards are balanced: {loads:?}");
}

#[test]
fn bad_options_and_duplicates_are_errors() {
    let t = vec![par("t.py::a")];
    let d = Durations::new();
    assert_eq!(
        build(t.clone(), &d, &opts(0)),
        Err(PlanError::BadWorkers("0".into()))
    );
    let o = PlanOptions {
        shards: Some((2, 3)),
        ..opts(2)
    };
    assert_eq!(
        build(t.clone(), &d, &o),
        Err(PlanError::BadShardIndex { count: 2, index: 3 })
    );
    let o = PlanOptions {
        shards: Some((0, 1)),
        ..opts(2)
    };
    assert_eq!(build(t.clone(), &d, &o), Err(PlanError::BadShardCount(0)));
    let o = PlanOptions {
        heavy_workers: Some(0),
        ..opts(2)
    };
    assert_eq!(build(t, &d, &o), Err(PlanError::BadHeavyWorkers));
    let dup = vec![par("t.py::a"), par("t.py::a")];
    assert_eq!(
        build(dup, &d, &opts(2)),
        Err(PlanError::DuplicateTest("t.py::a".into()))
    );
    assert_eq!(parse_workers(" 4 "), Ok(4));
    assert!(parse_workers("auto").unwrap() >= 1);
    assert!(parse_workers("0").is_err());
    assert!(parse_workers("many").is_err());
}

#[test]
fn plan_json_has_the_documented_fields_only() {
    let tests = vec![classified("t.py::a", TestClass::Grouped, "res:port:8080")];
    let plan = build(tests, &durations(&[("t.py::a", 0.8)]), &opts(2)).unwrap();
    let json = serde_json::to_value(&plan).unwrap();
    let mut keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["estimate", "phases", "tests", "version", "workers"]);
    let test = &json["tests"][0];
    assert_eq!(test["class"], "grouped");
    assert_eq!(test["phase"], 1);
    assert_eq!(test["duration"], 0.8);
    let back: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back.tests, plan.tests);
}

#[test]
fn durations_read_history_pytest_split_and_junit() {
    let d = Durations::parse(r#"{"t.py::a[1]": 1.5, "t.py::a[2]": 0.5, "t.py::b": 2}"#).unwrap();
    assert_eq!(d.get("t.py::a"), Some(2.0));
    assert_eq!(d.get("t.py::b"), Some(2.0));
    assert_eq!(d.get("t.py::c"), None);

    let d = Durations::parse(r#"[["t.py::a", 1.0], ["t.py::a", 2.0]]"#).unwrap();
    assert_eq!(d.get("t.py::a"), Some(3.0));

    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_a.TestX" name="test_y[1-2]" time="0.25"/>
<testcase classname="tests.test_a.TestX" name="test_y[3-4]" time="0.75"><failure message="boom">x</failure></testcase>
<testcase classname="tests.sub.test_b" name="test_z" time="1.5"><skipped message="no"/></testcase>
<testcase classname="" name="tests.test_broken" time="0"><error message="collection failure"/></testcase>
</testsuite></testsuites>"#;
    let d = Durations::parse(xml).unwrap();
    assert_eq!(d.get("tests/test_a.py::TestX::test_y"), Some(1.0));
    assert_eq!(d.get("tests/sub/test_b.py::test_z"), Some(1.5));
    let cases = parse_junit(xml).unwrap();
    let outcomes: Vec<Outcome> = cases.iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Passed,
            Outcome::Failed,
            Outcome::Skipped,
            Outcome::Error
        ]
    );
    assert_eq!(
        junit_key("tests/test_a.py::TestX::test_y[3-4]"),
        ("tests.test_a.TestX".to_string(), "test_y[3-4]".to_string())
    );
}

#[test]
fn bad_durations_are_errors_not_panics() {
    for bad in [
        "",
        "nonsense",
        "{",
        r#"{"t.py::a": "slow"}"#,
        r#"{"t.py::a": -1}"#,
        r#"[["t.py::a"]]"#,
        "42",
        "<testsuite><testcase name='a' time='1'></testsuite>",
    ] {
        assert!(Durations::parse(bad).is_err(), "accepted {bad:?}");
    }
    let err = Durations::load(std::path::Path::new("/nonexistent/durations.json")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/durations.json"));
}

#[test]
fn history_round_trips() {
    let d = durations(&[("t.py::b", 0.1 + 0.2), ("t.py::a[x]", 1.0)]);
    let text = d.to_json();
    assert_eq!(text, "{\n  \"t.py::a\": 1.0,\n  \"t.py::b\": 0.3\n}\n");
    assert_eq!(Durations::parse(&text).unwrap().get("t.py::b"), Some(0.3));
}

#[test]
fn text_output_is_stable() {
    let tests = vec![
        par("tests/test_a.py::test_fast"),
        par("tests/test_a.py::test_slow"),
        classified(
            "tests/test_db.py::test_one",
            TestClass::Grouped,
            "res:path:/tmp/db",
        ),
        classified(
            "tests/test_db.py::test_two",
            TestClass::Grouped,
            "res:path:/tmp/db",
        ),
        classified(
            "tests/test_z.py::test_alone",
            TestClass::Serial,
            "serial:tests/test_z.py::test_alone",
        ),
    ];
    let d = durations(&[
        ("tests/test_a.py::test_fast", 0.5),
        ("tests/test_a.py::test_slow", 3.0),
        ("tests/test_db.py::test_one", 2.0),
    ]);
    let plan = build(tests, &d, &opts(2)).unwrap();
    let text = render_text(&plan);
    assert_eq!(text, render_text(&plan.clone()));
    insta::assert_snapshot!(text);
}

#[test]
fn options_come_from_the_command_line_then_the_config() {
    use crate::cli::ScheduleArgs;
    use crate::config::SchedulerSettings;
    let settings = SchedulerSettings {
        workers: Some(4),
        heavy_workers: Some(3),
        durations: Some("timings.json".into()),
        rerun_failures_serially: true,
    };
    let from_config = PlanOptions::from_args(&ScheduleArgs::default(), &settings).unwrap();
    assert_eq!((from_config.workers, from_config.heavy()), (4, 3));
    assert_eq!(from_config.shards, None);

    let args = ScheduleArgs {
        workers: Some("6".into()),
        heavy_workers: Some(1),
        durations: Some("junit.xml".into()),
        shards: Some(3),
        shard: Some(2),
        honor_markers: false,
    };
    let from_args = PlanOptions::from_args(&args, &settings).unwrap();
    assert_eq!(
        (from_args.workers, from_args.heavy(), from_args.shards),
        (6, 1, Some((3, 2)))
    );
    assert_eq!(
        durations_file(&args, &settings),
        Some(std::path::Path::new("junit.xml"))
    );
    assert_eq!(
        durations_file(&ScheduleArgs::default(), &settings),
        Some(std::path::Path::new("timings.json"))
    );
    let bad = ScheduleArgs {
        workers: Some("zero".into()),
        ..ScheduleArgs::default()
    };
    assert_eq!(
        PlanOptions::from_args(&bad, &settings),
        Err(PlanError::BadWorkers("zero".into()))
    );
}

#[test]
fn test_durations_are_written_as_pytest_split_does_and_merged() {
    use super::durations::{merge_test_durations, read_test_durations};
    let old =
        read_test_durations(r#"[["tests/a.py::test_kept", 2.5], ["tests/a.py::test_p[1]", 9.0]]"#)
            .unwrap();
    let ran: std::collections::BTreeMap<String, f64> = [
        ("tests/a.py::test_p[1]".to_string(), 0.12345),
        ("tests/a.py::test_new".to_string(), 1.0),
    ]
    .into_iter()
    .collect();
    let text = merge_test_durations(&old, &ran);
    assert_eq!(
        text,
        "{\n    \"tests/a.py::test_kept\": 2.5,\n    \"tests/a.py::test_new\": 1.0,\n    \"tests/a.py::test_p[1]\": 0.123\n}\n"
    );
    // What isoaudit writes, it reads back, cases summed into functions.
    let d = Durations::parse(&text).unwrap();
    assert_eq!(d.get("tests/a.py::test_p"), Some(0.123));
    assert!(read_test_durations("{\"x\": -1}").is_err());
    assert!(read_test_durations("3").is_err());
}
