//! Building blocks for structure-aware inputs: words the parsers care about,
//! nasty strings, JSON values, and mutations of real documents (JSON trees,
//! text lines, bytes).
//!
//! Random bytes alone rarely get past a JSON or TOML parser; a real payload
//! with one field changed reaches the code behind it. Every generator draws
//! its choices from the [`Unstructured`] it is given, so a case stays a pure
//! function of its bytes.

use arbitrary::{Arbitrary, Result, Unstructured};
use serde_json::{Map, Number, Value};

/// Strings that break naive parsers: empty, whitespace, control and
/// non-ASCII characters, quotes, separators the parsers split on, numbers at
/// and past the edges of the integer types, and long runs.
pub const NASTY: &[&str] = &[
    "",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\0",
    "\u{7f}",
    "é",
    "\u{202e}",
    "🙂",
    "\u{fffd}",
    "\"",
    "'",
    "`",
    "\\",
    "{{",
    "}}",
    "{{ x",
    "{{}}",
    "%",
    "%zz",
    "%e9",
    "%2",
    "+",
    "|",
    "/",
    "..",
    "...",
    "/...",
    ":",
    ";",
    "=",
    "&",
    "#",
    "*",
    ".",
    "-",
    "_",
    "sha256=",
    "0",
    "-1",
    "1.5",
    "1e400",
    "-0",
    "NaN",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999",
    "+34 600 000 000",
    "16505551234",
];

/// A word from `dict`, an arbitrary string, a nasty one, or a mix: most
/// cases get words the code knows, so that they get past its first checks.
pub fn text(u: &mut Unstructured<'_>, dict: &[&str]) -> Result<String> {
    Ok(match u.int_in_range(0..=15)? {
        0..=8 if !dict.is_empty() => u.choose(dict)?.to_string(),
        9 => String::arbitrary(u)?,
        10 => u.choose(NASTY)?.to_string(),
        11 if !dict.is_empty() => {
            // A known word with something glued to or cut out of it.
            let mut word = u.choose(dict)?.to_string();
            let cut = u.int_in_range(0..=word.len())?;
            let at = (0..=cut).rev().find(|i| word.is_char_boundary(*i)).unwrap_or(0);
            if u.arbitrary()? {
                word.insert_str(at, u.choose(NASTY)?);
            } else {
                word.truncate(at);
            }
            word
        }
        12 => long(u)?,
        13 => {
            let digits = u.int_in_range(1..=40)?;
            (0..digits).map(|i| char::from(b'0' + ((i * 7 + digits) % 10) as u8)).collect()
        }
        _ => u.choose(NASTY)?.to_string(),
    })
}

/// Mostly a good word, sometimes a bad one or [`text`]: for inputs with
/// many fields, each of which would otherwise spoil the whole.
pub fn word(u: &mut Unstructured<'_>, good: &[&str], bad: &[&str]) -> Result<String> {
    match u.int_in_range(0..=19)? {
        0..=16 => Ok(u.choose(good)?.to_string()),
        17 | 18 if !bad.is_empty() => Ok(u.choose(bad)?.to_string()),
        _ => text(u, good),
    }
}

/// A long run of one character or word: past length limits, through
/// quadratic paths.
pub fn long(u: &mut Unstructured<'_>) -> Result<String> {
    let unit = *u.choose(&["a", "9", "é", " ", "{{", "/", ".", "\\", "%41"])?;
    let len = *u.choose(&[64, 65, 255, 256, 257, 1024, 1025, 4096, 4097, 20_000])?;
    Ok(unit.repeat(len / unit.len().max(1)))
}

/// A JSON number: small, at the edges of i64 and u64, or a float.
pub fn number(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=5)? {
        0 => Value::from(u.int_in_range(-3i64..=1000)?),
        1 => Value::from(*u.choose(&[i64::MIN, i64::MAX, -1, 0, 1, 2, 255, 256, 65_536, i64::from(u32::MAX)])?),
        2 => Value::from(*u.choose(&[u64::MAX, 1 << 63, (1 << 53) + 1, 1_749_416_383, 253_402_300_800])?),
        3 => Value::from(i64::arbitrary(u)?),
        4 => Number::from_f64(f64::arbitrary(u)?).map(Value::Number).unwrap_or(Value::Null),
        _ => Number::from_f64(*u.choose(&[0.5, -0.0, 1e308, 5e-324, 39.92, 12.345, 0.125, 1e21])?)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    })
}

/// Any JSON value, nested at most `depth` deep, its keys and strings mostly
/// from `dict`.
pub fn json(u: &mut Unstructured<'_>, depth: u32, dict: &[&str]) -> Result<Value> {
    let top = if depth == 0 { 4 } else { 6 };
    Ok(match u.int_in_range(0..=top)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => number(u)?,
        3 | 4 => Value::String(text(u, dict)?),
        5 => {
            let len = u.int_in_range(0..=4)?;
            Value::Array((0..len).map(|_| json(u, depth - 1, dict)).collect::<Result<_>>()?)
        }
        _ => {
            let len = u.int_in_range(0..=4)?;
            let mut map = Map::new();
            for _ in 0..len {
                map.insert(text(u, dict)?, json(u, depth - 1, dict)?);
            }
            Value::Object(map)
        }
    })
}

/// Changes a few nodes of `value`: each walks down from the root to a
/// random node and replaces, removes, adds, retypes or wraps something there.
pub fn mutate_json(u: &mut Unstructured<'_>, value: &mut Value, dict: &[&str]) -> Result<()> {
    for _ in 0..u.int_in_range(1..=3)? {
        mutate_node(u, value, dict)?;
    }
    Ok(())
}

fn mutate_node(u: &mut Unstructured<'_>, value: &mut Value, dict: &[&str]) -> Result<()> {
    // Documents worth mutating are deep (a webhook's message text is eight
    // levels down): go on down nine times in ten.
    let descend = u.ratio(9, 10)?;
    let children: Vec<&mut Value> = match value {
        Value::Object(map) if descend => map.values_mut().collect(),
        Value::Array(items) if descend => items.iter_mut().collect(),
        _ => Vec::new(),
    };
    if !children.is_empty() {
        // Documents keep their substance under a few nested containers and
        // their envelope in top-level scalars: going down into a container
        // three times in four reaches the substance instead of breaking the
        // envelope over and over.
        let nested = children.iter().filter(|c| c.is_object() || c.is_array()).count();
        let into_nested = nested > 0 && u.ratio(3, 4)?;
        let mut candidates: Vec<&mut Value> =
            children.into_iter().filter(|c| !into_nested || c.is_object() || c.is_array()).collect();
        let i = u.choose_index(candidates.len())?;
        return mutate_node(u, candidates.swap_remove(i), dict);
    }
    match u.int_in_range(0..=8)? {
        0 => *value = json(u, 2, dict)?,
        1 => *value = Value::String(text(u, dict)?),
        2 => match value {
            Value::Object(map) if !map.is_empty() => {
                let i = u.choose_index(map.len())?;
                if let Some(key) = map.keys().nth(i).cloned() {
                    map.remove(&key);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                let i = u.choose_index(items.len())?;
                items.remove(i);
            }
            _ => *value = Value::Null,
        },
        3 => match value {
            Value::Object(map) => {
                map.insert(text(u, dict)?, json(u, 2, dict)?);
            }
            Value::Array(items) => {
                let copy = match items.first() {
                    Some(first) if u.arbitrary()? => first.clone(),
                    _ => json(u, 2, dict)?,
                };
                items.push(copy);
            }
            _ => *value = number(u)?,
        },
        // The same datum with another JSON type: "1" for 1 and back.
        4 => {
            *value = match value.take() {
                Value::String(s) => {
                    serde_json::from_str::<Number>(s.trim()).map(Value::Number).unwrap_or(Value::Bool(true))
                }
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::String(b.to_string()),
                Value::Null => Value::String(String::new()),
                other => Value::String(other.to_string()),
            }
        }
        5 => *value = Value::Array(vec![value.take()]),
        6 => {
            let key = text(u, dict)?;
            *value = Value::Object(Map::from_iter([(key, value.take())]));
        }
        7 => *value = number(u)?,
        _ => {
            if let Value::String(s) = value {
                s.push_str(&text(u, dict)?);
            } else {
                *value = Value::Null;
            }
        }
    }
    Ok(())
}

/// Changes a few lines of a text document: deletes, duplicates, swaps,
/// inserts lines from `lines`, or edits one inside.
pub fn mutate_lines(u: &mut Unstructured<'_>, text_in: &str, lines: &[&str], words: &[&str]) -> Result<String> {
    let mut doc: Vec<String> = text_in.lines().map(str::to_string).collect();
    // Few edits: one wrong line is what a person writes, and leaves the rest
    // of the document for the code behind the parser.
    for _ in 0..u.int_in_range(1..=3)? {
        if doc.is_empty() {
            doc.push(u.choose(lines)?.to_string());
            continue;
        }
        let i = u.choose_index(doc.len())?;
        match u.int_in_range(0..=7)? {
            0 => {
                doc.remove(i);
            }
            1 => {
                let line = doc[i].clone();
                doc.insert(i, line);
            }
            2 => {
                let j = u.choose_index(doc.len())?;
                doc.swap(i, j);
            }
            3 | 4 => doc.insert(i, u.choose(lines)?.to_string()),
            5 => {
                // Replace a value: what follows `=`.
                if let Some(eq) = doc[i].find('=') {
                    let value = u.choose(words)?;
                    doc[i] = format!("{} {value}", &doc[i][..=eq]);
                }
            }
            6 => {
                let line = std::mem::take(&mut doc[i]).into_bytes();
                let mut bytes = line;
                mutate_bytes(u, &mut bytes, &[])?;
                doc[i] = String::from_utf8_lossy(&bytes).into_owned();
            }
            _ => {
                let start = u.choose_index(doc.len())?;
                let end = u.int_in_range(start..=doc.len().min(start + 8))?;
                let block: Vec<String> = doc[start..end].to_vec();
                let at = u.int_in_range(0..=doc.len())?;
                doc.splice(at..at, block);
            }
        }
    }
    Ok(doc.join("\n"))
}

/// Bytes that mean something to JSON, TOML and HTTP parsers.
const SPECIAL_BYTES: &[u8] = b"\"'{}[],:=\\\n\r\t\0 #.-+0e\x7f\x80\xc3\xff";

/// Flips, sets, inserts, removes and copies bytes, and splices in `tokens`.
pub fn mutate_bytes(u: &mut Unstructured<'_>, bytes: &mut Vec<u8>, tokens: &[&str]) -> Result<()> {
    for _ in 0..u.int_in_range(1..=8)? {
        let len = bytes.len();
        let at = u.int_in_range(0..=len)?;
        match u.int_in_range(0..=6)? {
            0 if at < len => bytes[at] ^= 1 << u.int_in_range(0..=7)?,
            1 if at < len => bytes[at] = *u.choose(SPECIAL_BYTES)?,
            2 => bytes.insert(at, *u.choose(SPECIAL_BYTES)?),
            3 if at < len => {
                let end = u.int_in_range(at..=len.min(at + 16))?;
                bytes.drain(at..end);
            }
            4 if at < len => {
                let end = u.int_in_range(at..=len.min(at + 32))?;
                let copy = bytes[at..end].to_vec();
                let to = u.int_in_range(0..=len)?;
                bytes.splice(to..to, copy);
            }
            5 if !tokens.is_empty() => {
                let token = u.choose(tokens)?.as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            _ => bytes.truncate(at),
        }
    }
    Ok(())
}
