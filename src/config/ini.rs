//! A small INI reader with pytest's (iniconfig's) rules, for `pytest.ini`,
//! `tox.ini` and `setup.cfg`. It keeps byte spans so errors can point into the
//! file. It owns no knowledge of which sections or keys matter.
//!
//! The rules that differ from Python's `configparser` and matter in practice:
//! inline comments are kept in values, continuation lines are any indented
//! lines (blank and comment lines between them are skipped), `key:value` is
//! accepted when the key holds no `=`, and a key with an empty first line
//! starts its value at the first continuation line.

use std::ops::Range;

/// One `key = value` entry; `value` joins the stripped lines with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniEntry {
    pub key: String,
    pub value: String,
    pub key_span: Range<usize>,
    /// From the first value character to the end of the last value line
    /// (the key's span when the value is empty).
    pub value_span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniSection {
    pub name: String,
    pub span: Range<usize>,
    pub entries: Vec<IniEntry>,
}

impl IniSection {
    pub fn get(&self, key: &str) -> Option<&IniEntry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IniFile {
    pub sections: Vec<IniSection>,
}

impl IniFile {
    pub fn section(&self, name: &str) -> Option<&IniSection> {
        self.sections.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniError {
    pub message: String,
    /// The offending line, without its line break.
    pub span: Range<usize>,
}

fn is_comment_line(line: &str) -> bool {
    matches!(line.trim_start().chars().next(), Some('#' | ';'))
}

/// Parses `text` the way pytest's iniconfig does (inline comments kept).
pub fn parse(text: &str) -> Result<IniFile, IniError> {
    let mut file = IniFile::default();
    // The value lines of the entry being built; `None` right after a section
    // header, where a continuation line is an error.
    let mut open_entry = false;
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut offset = start;
    for raw in text[start..].split_inclusive('\n') {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let line_span = line_start..line_start + line.len();
        if is_comment_line(line) {
            continue;
        }
        let trimmed_end = line.trim_end();
        if trimmed_end.is_empty() {
            continue;
        }
        let first = trimmed_end.chars().next().unwrap_or(' ');
        if first == '[' {
            let header = trimmed_end
                .split(['#', ';'])
                .next()
                .unwrap_or("")
                .trim_end();
            if let Some(inner) = header.strip_suffix(']') {
                let name = &inner[1..];
                if name.is_empty() {
                    return Err(IniError {
                        message: "empty section name".into(),
                        span: line_span,
                    });
                }
                if file.section(name).is_some() {
                    return Err(IniError {
                        message: format!("duplicate section `{name}`"),
                        span: line_span,
                    });
                }
                file.sections.push(IniSection {
                    name: name.to_string(),
                    span: line_start..line_start + header.len(),
                    entries: Vec::new(),
                });
                open_entry = false;
                continue;
            }
            // iniconfig reads a `[` line that does not close as a
            // continuation of the previous value.
            continue_value(&mut file, open_entry, trimmed_end.trim(), line_start, line).map_err(
                |message| IniError {
                    message,
                    span: line_span.clone(),
                },
            )?;
            continue;
        }
        if first.is_whitespace() {
            continue_value(&mut file, open_entry, trimmed_end.trim(), line_start, line).map_err(
                |message| IniError {
                    message,
                    span: line_span.clone(),
                },
            )?;
            continue;
        }
        let (name, value, value_offset) = split_key_value(trimmed_end).ok_or_else(|| IniError {
            message: format!("unexpected line: {trimmed_end:?}"),
            span: line_span.clone(),
        })?;
        let Some(section) = file.sections.last_mut() else {
            return Err(IniError {
                message: "no section header defined".into(),
                span: line_span,
            });
        };
        let key = name.trim();
        if section.get(key).is_some() {
            return Err(IniError {
                message: format!("duplicate name `{key}`"),
                span: line_span,
            });
        }
        let key_offset = line_start + (name.len() - name.trim_start().len());
        let key_span = key_offset..key_offset + key.len();
        let value_trimmed = value.trim();
        let value_span = if value_trimmed.is_empty() {
            key_span.clone()
        } else {
            let lead = value.len() - value.trim_start().len();
            let s = line_start + value_offset + lead;
            s..s + value_trimmed.len()
        };
        section.entries.push(IniEntry {
            key: key.to_string(),
            value: value_trimmed.to_string(),
            key_span,
            value_span,
        });
        open_entry = true;
    }
    Ok(file)
}

/// `(name, value, byte offset of value in line)`; `=` wins unless the name
/// part holds a `:`.
fn split_key_value(line: &str) -> Option<(&str, &str, usize)> {
    if let Some(eq) = line.find('=') {
        let name = &line[..eq];
        if !name.contains(':') {
            return Some((name, &line[eq + 1..], eq + 1));
        }
    }
    let colon = line.find(':')?;
    Some((&line[..colon], &line[colon + 1..], colon + 1))
}

fn continue_value(
    file: &mut IniFile,
    open_entry: bool,
    content: &str,
    line_start: usize,
    line: &str,
) -> Result<(), String> {
    let entry = match file.sections.last_mut().and_then(|s| s.entries.last_mut()) {
        Some(entry) if open_entry => entry,
        _ => return Err("unexpected value continuation".into()),
    };
    let lead = line.len() - line.trim_start().len();
    let start = line_start + lead;
    let end = start + content.len();
    if entry.value.is_empty() {
        entry.value = content.to_string();
        entry.value_span = start..end;
    } else {
        entry.value.push('\n');
        entry.value.push_str(content);
        entry.value_span.end = end;
    }
    Ok(())
}

/// Splits like Python's `shlex.split` (POSIX mode, no comments), which is how
/// pytest reads `args`-typed ini values.
pub fn shlex_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => return Err("no escaped character".into()),
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some(&n) if matches!(n, '\\' | '"' | '$' | '`' | '\n') => {
                                cur.push(n);
                                chars.next();
                            }
                            _ => cur.push('\\'),
                        },
                        Some(n) => cur.push(n),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// pytest's `linelist` type: one item per non-blank line, stripped.
pub fn lines(s: &str) -> Vec<String> {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_and_continuations() {
        let text = "[pytest]\nmarkers =\n    slow: takes long\n\n    # a comment\n    isolation(reason): runs alone\naddopts = -ra  # kept\ntestpaths: tests\n";
        let ini = parse(text).unwrap();
        let s = ini.section("pytest").unwrap();
        let markers = s.get("markers").unwrap();
        assert_eq!(
            markers.value,
            "slow: takes long\nisolation(reason): runs alone"
        );
        assert_eq!(
            &text[markers.value_span.clone()],
            "slow: takes long\n\n    # a comment\n    isolation(reason): runs alone"
        );
        assert_eq!(&text[markers.key_span.clone()], "markers");
        // pytest's iniconfig keeps inline comments in values.
        assert_eq!(s.get("addopts").unwrap().value, "-ra  # kept");
        assert_eq!(s.get("testpaths").unwrap().value, "tests");
    }

    #[test]
    fn colon_in_name_part_means_colon_separator() {
        let ini = parse("[s]\nurl: http://x=y\n").unwrap();
        let e = ini.section("s").unwrap().get("url").unwrap();
        assert_eq!(e.value, "http://x=y");
    }

    #[test]
    fn errors_point_at_their_line() {
        let text = "[pytest]\nnot a pair\n";
        let err = parse(text).unwrap_err();
        assert_eq!(&text[err.span.clone()], "not a pair");
        let text = "key = 1\n";
        let err = parse(text).unwrap_err();
        assert!(err.message.contains("no section"), "{}", err.message);
        let text = "[a]\n  orphan\n";
        let err = parse(text).unwrap_err();
        assert_eq!(&text[err.span.clone()], "  orphan");
        let err = parse("[a]\n[a]\n").unwrap_err();
        assert!(err.message.contains("duplicate section"));
        let err = parse("[a]\nx=1\nx=2\n").unwrap_err();
        assert!(err.message.contains("duplicate name"));
    }

    #[test]
    fn bom_and_crlf() {
        let text = "\u{feff}[pytest]\r\npython_files = check_*.py\r\n";
        let ini = parse(text).unwrap();
        let e = ini.section("pytest").unwrap().get("python_files").unwrap();
        assert_eq!(e.value, "check_*.py");
        assert_eq!(&text[e.value_span.clone()], "check_*.py");
    }

    #[test]
    fn shlex_like_python() {
        assert_eq!(
            shlex_split(r#"-ra  "a b" 'c d' e\ f "x\"y" 'q\n'"#).unwrap(),
            vec!["-ra", "a b", "c d", "e f", "x\"y", "q\\n"]
        );
        assert_eq!(shlex_split("a\n  b\n").unwrap(), vec!["a", "b"]);
        assert!(shlex_split("'open").is_err());
        assert_eq!(shlex_split("''").unwrap(), vec![""]);
    }
}
