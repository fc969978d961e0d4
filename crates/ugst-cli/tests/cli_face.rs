//! What a newcomer meets first: `ugst --help` with one short line per command, a mistyped command
//! answered with the closest one, and shell completions from clap.

mod common;

use clap::CommandFactory;
use common::*;

#[test]
fn the_help_has_one_short_line_per_command() {
    let out = ugst().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let cmd = ugst_cli::args::Cli::command();
    for sub in cmd.get_subcommands() {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        assert!(
            !about.is_empty() && about.len() <= 64,
            "{}: {about:?}",
            sub.get_name()
        );
        assert!(help.contains(&about), "{help}");
        for inner in sub.get_subcommands() {
            let about = inner.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert!(
                about.len() <= 72,
                "{} {}: {about:?}",
                sub.get_name(),
                inner.get_name()
            );
        }
    }
    assert!(help.lines().all(|l| l.chars().count() <= 100), "{help}");
}

#[test]
fn a_mistyped_command_gets_the_closest_one() {
    for (typed, tip) in [
        (&["rn"][..], "'run'"),
        (&["evl"], "'eval'"),
        (&["serve", "tols"], "'tools'"),
    ] {
        let out = ugst().args(typed).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("tip: ") && err.contains(tip),
            "{typed:?}: {err}"
        );
    }
    let out = ugst().arg("zzzzzz").output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("tip: a similar"));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = ugst().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(
            script.contains("agent-url") && script.contains("tools"),
            "{shell}"
        );
    }
    let out = ugst().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
