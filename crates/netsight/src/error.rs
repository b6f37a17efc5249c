//! How failures reach the user: one line on stderr and an exit status
//! (2 for bad arguments, 1 for everything else), never a backtrace.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// A bad argument or input that clap could not catch (exit status 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a [`UsageError`].
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Prints an error as one line and picks the exit status.
pub fn report(e: &anyhow::Error) -> ExitCode {
    // `netsight stat | head`: the reader left; stop quietly, as Unix tools do.
    let pipe = Some(std::io::ErrorKind::BrokenPipe);
    let broken_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().map(|io| io.kind()) == pipe
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                == pipe
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let code = if e.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    };
    // Join the cause chain on one line: "loading probes: permission denied".
    let msg = e
        .chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    let _ = writeln!(std::io::stderr(), "netsight: {}", msg.replace('\n', " "));
    ExitCode::from(code)
}

/// Help and version go to stdout with status 0; a parse error becomes one
/// line naming the argument, status 2.
pub fn clap_exit(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let _ = writeln!(std::io::stderr(), "netsight: {first}");
            ExitCode::from(2)
        }
    }
}
