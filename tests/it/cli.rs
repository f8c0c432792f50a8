//! The binary's surface: exit codes, formats, config errors.

use std::process::Command;

pub fn isoaudit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_isoaudit"))
}

#[test]
fn rule_explains_and_unknown_rule_is_usage_error() {
    let out = isoaudit().args(["rule", "ISO101"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# ISO101 "));
    let out = isoaudit().args(["rule", "ISO999"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
