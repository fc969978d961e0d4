//! The `ugst` binary: parse the arguments, run the command, map errors to exit codes (bad input
//! → 2, anything else → 1).

use clap::Parser;
use std::process::ExitCode;
use ugst::error::InputError;
use ugst_cli::args::{Cli, Cmd};
use ugst_cli::commands as c;
use ugst_cli::fs as crate_fs;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            // llama.cpp's own log (a vocabulary warning on every model load) is noise to a
            // user; UGST_LOG=llama-cpp-2=warn brings it back. The servers log a line per
            // request (target ugst::serve).
            tracing_subscriber::EnvFilter::try_from_env("UGST_LOG")
                .unwrap_or_else(|_| "warn,llama-cpp-2=error,ugst::serve=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => with_command_tip(e).exit(),
    };
    if cli.no_cache {
        // Read by Config::cache before any thread starts.
        std::env::set_var("UGST_NO_CACHE", "1");
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(dispatch(cli.cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.chain().any(|c| c.is::<InputError>()) {
                true => ExitCode::from(2),
                false => ExitCode::FAILURE,
            }
        }
    }
}

/// A mistyped subcommand gets the closest one as a tip when clap found none.
fn with_command_tip(mut e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::InvalidSubcommand || e.get(ContextKind::SuggestedSubcommand).is_some()
    {
        return e;
    }
    let Some(ContextValue::String(typed)) = e.get(ContextKind::InvalidSubcommand).cloned() else {
        return e;
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let before: Vec<String> = args.iter().take_while(|a| **a != typed).cloned().collect();
    if let Some(best) = ugst_cli::args::closest_command(&before, &typed) {
        e.insert(ContextKind::SuggestedSubcommand, ContextValue::String(best));
    }
    e
}

async fn dispatch(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "ugst", &mut script);
            // A closed pipe (`| head`) is the reader's choice, not an error.
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Cmd::Decompose {
            config,
            goals,
            out,
            concurrency,
            force,
        } => c::decompose::run(&config, &goals, &out, concurrency, force).await,
        Cmd::Run(args) => c::run::run(args).await,
        Cmd::Replay {
            env,
            data,
            split,
            fixtures,
            json,
        } => c::replay::run(&env, &data, &split, fixtures.as_deref(), json),
        Cmd::Track {
            run,
            config,
            tracking,
            out,
            concurrency,
            quiet,
        } => c::track::run(&run, config.as_deref(), tracking, &out, concurrency, quiet).await,
        Cmd::Eval {
            runs,
            json,
            markdown,
            csv,
            common,
        } => c::eval::run(runs, json, markdown, csv, common).await,
        Cmd::Report {
            runs,
            out,
            common,
            max_conversations,
            force,
        } => c::report::run(runs, &out, common, max_conversations, force).await,
        Cmd::Ab(args) => c::ab::run(args).await,
        Cmd::Agree {
            gold,
            pred,
            threshold,
            json,
            items,
        } => c::agree::run(&gold, &pred, threshold, json, items),
        Cmd::Import {
            file,
            format,
            env,
            only,
            decompositions,
            out,
        } => c::import::run(&file, &format, &env, &only, decompositions.as_deref(), &out).await,
        Cmd::Export {
            run,
            format,
            out,
            max_prompt_tokens,
            tokenizer,
            require_reasoning,
            force,
            model_name,
            organization,
            email,
        } => {
            crate_fs::may_write(&[&out], force)?;
            if format == "tau2-submission" {
                c::export::tau2_submission(&run, &out, model_name, organization, email)
            } else {
                c::export::run(
                    &run,
                    &format,
                    &out,
                    max_prompt_tokens,
                    tokenizer,
                    require_reasoning,
                )
            }
        }
        Cmd::Goals { cmd } => c::goals::run(cmd).await,
        Cmd::Bench { cmd } => c::bench::run(cmd).await,
        Cmd::Setup { models, no_encoder } => c::setup::run(models, no_encoder),
        Cmd::Demo {
            model,
            goals,
            max_turns,
            mode,
            tracking,
            out,
            force,
        } => {
            c::demo::run(c::demo::DemoArgs {
                model,
                goals,
                max_turns,
                mode,
                tracking,
                out,
                force,
            })
            .await
        }
        Cmd::Serve { cmd } => c::serve::run(cmd).await,
        Cmd::Schemas { show, json } => c::schemas::run(show, json),
    }
}
