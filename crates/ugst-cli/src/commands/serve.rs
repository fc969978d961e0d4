//! `ugst serve`: the mock model, the UGST reward and the simulator on HTTP.

use crate::args::ServeCmd;
use crate::backends;
use anyhow::Result;
use ugst::goals::read_goals;
use ugst::serve::{listen, reward, simulator};

pub async fn run(cmd: ServeCmd) -> Result<()> {
    match cmd {
        ServeCmd::Mock { host, port, faults } => {
            let faults = ugst_mock::Faults::from(faults);
            faults.validate().map_err(|e| ugst::input_err!("{e}"))?;
            let listener = listen(&host, port).await?;
            eprintln!(
                "mock model listening on http://{}/v1 (faults: {faults:?}; counts at /stats)",
                listener.local_addr()?
            );
            ugst_mock::serve::serve(listener, faults).await?;
        }
        ServeCmd::Reward {
            config,
            host,
            port,
            tracking,
            weights,
            concurrency,
            max_queue,
        } => {
            let reward = ugst::reward::RewardConfig::parse(&weights)
                .map_err(|e| ugst::input_err!("--weights: {e}"))?;
            let cfg = ugst::config::Config::load(&config)?;
            let models = backends::connect(&cfg).await?;
            let listener = listen(&host, port).await?;
            eprintln!(
                "UGST reward on http://{}/v1/ugst/score ({tracking} tracking, weights {reward:?})",
                listener.local_addr()?,
            );
            let opts = reward::Options {
                reward,
                tracking,
                tracker: cfg.tracking,
                concurrency,
                max_queue,
            };
            reward::serve(listener, models, opts).await?;
        }
        ServeCmd::Simulator {
            config,
            goals,
            mode,
            tracking,
            max_turns,
            host,
            port,
        } => {
            let goals = match goals {
                Some(g) => read_goals(&g)?,
                None => Vec::new(),
            };
            let cfg = ugst::config::Config::load(&config)?;
            let models = backends::connect(&cfg).await?;
            let listener = listen(&host, port).await?;
            eprintln!(
                "simulator ({mode} mode, {} goal(s) by id, any goal in a harness's user prompt) on http://{}/v1/chat/completions",
                goals.len(),
                listener.local_addr()?
            );
            let opts = simulator::Options {
                mode,
                tracking,
                tracker: cfg.tracking,
                max_turns,
            };
            simulator::serve(listener, models, goals, opts).await?;
        }
    }
    Ok(())
}
