//! What every answer of the HTTP API must be, whatever it was sent.

use orderflow_local::router::Reply;
use serde_json::Value;

use crate::capture;
use crate::engine::Failure;

/// An error message may quote a value, shortened; never a whole long input.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// No `5xx`; JSON; a `4xx` in the contract's error shape with a bounded message.
pub fn reply(route: &str, reply: &Reply) -> Result<(), Failure> {
    let body = || format!("{} {}\n  logs: {}", reply.status, shorten(&reply.body), capture::logs(1500));
    if reply.status >= 500 {
        let cause = capture::logs(4000).lines().find(|l| l.contains("ERROR")).map(short_log).unwrap_or_default();
        return Err(Failure::new(format!("{route} answers {} {cause}", reply.status), body()));
    }
    let Ok(value) = serde_json::from_str::<Value>(&reply.body) else {
        return Err(Failure::new(format!("{route} answers {} with a body that is not JSON", reply.status), body()));
    };
    if reply.status < 400 {
        return Ok(());
    }
    if !error_shaped(&value) {
        return Err(Failure::new(format!("{route}: the {} answer is not in the error shape", reply.status), body()));
    }
    let error = &value["error"];
    let message = error["message"].as_str().unwrap_or_default().chars().count();
    let field = error["field"].as_str().unwrap_or_default().chars().count();
    if message > MAX_MESSAGE_CHARS || field > MAX_MESSAGE_CHARS {
        let code = error["code"].as_str().unwrap_or_default();
        let what = if message > MAX_MESSAGE_CHARS { "message" } else { "field" };
        return Err(Failure::new(
            format!("{route}: {} {code} echoes a long input in its {what}", reply.status),
            format!("{message}-char message, {field}-char field: {}", body()),
        ));
    }
    Ok(())
}

/// `{"error": {"code": string, "message": string, "field"?: string}}` and nothing else.
fn error_shaped(value: &Value) -> bool {
    let Some(top) = value.as_object() else { return false };
    let Some(error) = top.get("error").and_then(Value::as_object) else { return false };
    let known = error.keys().all(|k| ["code", "message", "field"].contains(&k.as_str()));
    let field_ok = error.get("field").is_none_or(Value::is_string);
    top.len() == 1
        && known
        && field_ok
        && error["code"].is_string()
        && error.get("message").is_some_and(Value::is_string)
}

/// The start of an error log line, each word with a digit in it (an id, a size)
/// blanked: inputs that meet the same bug give the same line.
fn short_log(line: &str) -> String {
    let text = line.split_once("ERROR").map_or(line, |(_, rest)| rest).trim();
    let words = text.split_inclusive(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'));
    let blanked: String = words
        .map(|w| {
            let (word, tail) =
                w.split_at(w.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')).len());
            if word.chars().any(|c| c.is_ascii_digit()) {
                format!("#{tail}")
            } else {
                w.to_string()
            }
        })
        .collect();
    format!("({})", blanked.chars().take(120).collect::<String>())
}

pub fn shorten(text: &str) -> String {
    crate::json::show(text.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_lines_of_one_bug_give_one_signature() {
        let line = "ERROR orderflow_shared::edge::http: request failed error=store: item REFUND#rf-45861ae1-bfb0/REFUND would be 904994 bytes";
        assert_eq!(
            super::short_log(line),
            "(orderflow_shared::edge::http: request failed error=store: item REFUND##/REFUND would be # bytes)"
        );
    }
}
