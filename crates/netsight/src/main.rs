//! `netsight`: the command line. Arguments are parsed into plain data here,
//! each subcommand lives in `cmd/`, and the library crates do the work.

mod cgroup;
mod cli;
mod cmd;
mod collect;
pub mod error;
mod features;
mod signals;
mod table;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return error::clap_exit(e),
    };
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => error::report(&e),
    }
}
