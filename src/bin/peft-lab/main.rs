//! `peft-lab`: train one method or compare several on a dataset, from the command line. The flags are in `args.rs`,
//! one function per subcommand in `commands.rs` (over the engine's session layer), the terminal in `terminal.rs`.

mod args;
mod checkpoints;
mod commands;
mod terminal;

use std::process::ExitCode;

use clap::Parser;
use peft_lab::model::decoder::PretrainedDecoder;
use peft_lab::model::generate::GenerationSettings;

use args::{Cli, Command, TaskArg};
use commands::{Saved, TrainOutputs};
use terminal::Terminal;

fn run(cli: Cli) -> Result<(), String> {
    let mut host = Terminal::new();
    match cli.command {
        Command::Bench { model, method, batch_size, seq_len, steps, backend } => {
            commands::bench(&model, &method, batch_size, seq_len, steps, backend, &mut host)
        }
        Command::Eval { model, adapter, link, texts, data, max_length, backend } => {
            let source = match (adapter, link) {
                (Some(dir), _) => Saved::Adapter(dir),
                (None, Some(link)) => Saved::Link(link),
                (None, None) => return Err("eval needs --adapter or --link".into()),
            };
            commands::eval(&model, &source, &texts, data.as_deref(), max_length, backend)
        }
        Command::Generate {
            model,
            adapter,
            link,
            prompt,
            chat,
            max_new_tokens,
            temperature,
            top_k,
            top_p,
            stop,
            seed,
            no_cache,
            backend,
        } => {
            let settings =
                GenerationSettings { max_new_tokens, temperature, top_k, top_p, stop, seed, use_cache: !no_cache };
            let saved = adapter.map(Saved::Adapter).or(link.map(Saved::Link));
            commands::generate(&model, saved.as_ref(), &prompt, chat, settings, backend)
        }
        Command::Merge { model, adapter, out } => commands::merge(&model, &adapter, &out),
        Command::Methods { keys } => {
            commands::methods(keys);
            Ok(())
        }
        Command::Summary { common } => commands::summary(&common),
        Command::Train { common, method, save_adapter, share, continue_in_python, python_model, task, text_layout } => {
            let outputs = TrainOutputs { save_adapter, share, continue_in_python, python_model };
            let decoder = match task {
                TaskArg::Auto => PretrainedDecoder::is_decoder_path(&common.model),
                TaskArg::Classification => false,
                TaskArg::CausalLm => true,
            };
            match decoder {
                true => commands::train_lm(&common, &method, text_layout.map(Into::into), outputs, &mut host),
                false => commands::train(&common, &method, outputs, &mut host),
            }
        }
        Command::Compare { common, methods, plan } => commands::compare(&common, &methods, &plan, &mut host),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(threads) = cli.threads
        && let Err(e) = rayon::ThreadPoolBuilder::new().num_threads(threads.into()).build_global()
    {
        eprintln!("error: cannot start {threads} CPU threads: {e}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nerror: {message}");
            ExitCode::FAILURE
        }
    }
}
