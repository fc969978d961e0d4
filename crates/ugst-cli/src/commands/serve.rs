//! `ugst serve`: the mock model, the UGST reward and the simulator on HTTP.

use crate::args::{ExposeArgs, ServeCmd};
use crate::backends;
use anyhow::Result;
use ugst::goals::read_goals;
use ugst::serve::{listen, reward, simulator};

pub async fn run(cmd: ServeCmd) -> Result<()> {
    match cmd {
        ServeCmd::Tools {
            env,
            data,
            task,
            split,
            stdio,
            host,
            port,
            max_sessions,
            expose,
        } => {
            let ids: Vec<String> = task.into_iter().collect();
            let (environment, mut goals) = ugst::simulate::env::goals_for(
                Some(&env),
                Some(&data),
                None,
                &split,
                &ids,
                Some(1),
            )?;
            if environment.tools().is_empty() {
                return Err(ugst::input_err!("--env {env} has no tools to serve"));
            }
            let goal = goals.remove(0);
            let hub = ugst::simulate::env::hub::ToolHub::open_to_all(
                environment.clone(),
                goal.clone(),
                max_sessions,
            );
            if stdio {
                eprintln!(
                    "{} tools of {env} (task {}) over MCP on stdio",
                    hub.tools().len(),
                    goal.id
                );
                return ugst::serve::tools::serve_stdio(hub).await;
            }
            // The tools spend no model budget: an open host is only warned about.
            let exposure = exposure(&host, expose, true)?;
            let listener = listen(&host, port).await?;
            let app = ugst::serve::tools::router(hub.clone(), &host, listener.local_addr()?);
            eprintln!(
                "{} tools of {env} (task {}) over MCP on {}/<session> (report: /sessions/<session>)",
                hub.tools().len(),
                goal.id,
                hub.base().unwrap_or_default()
            );
            ugst::serve::http::serve(
                listener,
                app,
                &exposure,
                ugst::serve::http::shutdown_signal(),
            )
            .await?;
        }
        ServeCmd::Mock {
            host,
            port,
            faults,
            expose,
        } => {
            let faults = ugst_mock::Faults::from(faults);
            faults.validate().map_err(|e| ugst::input_err!("{e}"))?;
            // The mock spends no model budget: an open host is only warned about.
            let exposure = exposure(&host, expose, true)?;
            let listener = listen(&host, port).await?;
            eprintln!(
                "mock model listening on http://{}/v1 (faults: {faults:?}; counts at /stats)",
                listener.local_addr()?
            );
            ugst_mock::serve::serve_exposed(listener, faults, &exposure).await?;
        }
        ServeCmd::Reward {
            config,
            host,
            port,
            tracking,
            weights,
            concurrency,
            max_queue,
            limits,
            expose,
        } => {
            let exposure = exposure(&host, expose, false)?;
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
                limits: limits.into(),
            };
            reward::serve(listener, models, opts, &exposure).await?;
        }
        ServeCmd::Simulator {
            config,
            goals,
            mode,
            tracking,
            max_turns,
            host,
            port,
            omit_state,
            limits,
            expose,
        } => {
            let exposure = exposure(&host, expose, false)?;
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
                omit_state,
                limits: limits.into(),
            };
            simulator::serve(listener, models, goals, opts, &exposure).await?;
        }
    }
    Ok(())
}

/// The server's exposure from its flags: the key read from the named variable (a missing or
/// empty one is bad input), and a non-loopback host without a key refused unless
/// `--allow-no-key` (or only warned about, for the mock, which spends no model budget).
fn exposure(host: &str, a: ExposeArgs, mock: bool) -> Result<ugst::serve::Exposure> {
    let api_key = match &a.api_key_env {
        Some(var) => match std::env::var(var) {
            Ok(k) if !k.trim().is_empty() => Some(k.trim().to_string()),
            _ => {
                return Err(ugst::input_err!(
                "--api-key-env {var}: the variable is not set or empty; export {var}=<key> first"
            ))
            }
        },
        None => None,
    };
    if api_key.is_none() && !ugst::serve::http::is_loopback(host) {
        if mock || a.allow_no_key {
            eprintln!(
                "WARNING: listening on {host} without an API key: anyone who can reach this port can use the server (--api-key-env VAR to require one)"
            );
        } else {
            return Err(ugst::input_err!(
                "--host {host} is reachable from other machines and no key is set: anyone who can reach the port would spend your model budget. Set --api-key-env VAR (clients send Authorization: Bearer <key>), or pass --allow-no-key on a trusted network"
            ));
        }
    }
    Ok(ugst::serve::Exposure {
        header_timeout: std::time::Duration::from_secs(a.header_timeout_s.max(1)),
        body_timeout: std::time::Duration::from_secs(a.body_timeout_s.max(1)),
        max_connections: a.max_connections.max(1),
        drain: std::time::Duration::from_secs(a.drain_s),
        api_key,
    })
}
