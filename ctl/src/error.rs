//! How mydockerctl fails: an error with an exit code of its own, and any
//! error as the one line it prints.

/// An error that ends the program with a given exit code. Everything else
/// is reported as exit code 1 (or 125 for `run`).
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    /// Printed as `Error: <message>` when not empty.
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// An error as one line: its context chain joined by ": ", leaving out a
/// cause whose text the line already holds (our error types print their
/// source themselves).
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

pub fn exit_with(code: i32, message: impl Into<String>) -> anyhow::Error {
    Exit {
        code,
        message: message.into(),
    }
    .into()
}
