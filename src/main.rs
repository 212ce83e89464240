//! The `allium` binary: parses the command line and hands over to [`allium::cli`].

use std::time::Duration;

use clap::Parser;

/// How long the runtime waits at exit for blocking threads still running. Arti's
/// onion-service proof-of-work threads (`spawn_blocking` in `tor-hsservice`) never end
/// on their own, so dropping the runtime, which waits for them, would hang the exit.
/// By then the server has stopped and every task of ours has ended.
const BLOCKING_GRACE: Duration = Duration::from_secs(2);

fn main() -> std::process::ExitCode {
    let cli = allium::cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("allium: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = match rt.block_on(allium::cli::main(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("allium: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{msg}");
            std::process::ExitCode::FAILURE
        }
    };
    rt.shutdown_timeout(BLOCKING_GRACE);
    code
}
