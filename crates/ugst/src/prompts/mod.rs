//! Prompt templates (files under `prompts/`, compiled into the binary) and their rendering.

pub mod schemas;

use minijinja::Environment;
use serde::Serialize;
use std::sync::OnceLock;

pub use crate::model::STOP;

const TEMPLATES: &[(&str, &str)] = &[
    ("decompose", include_str!("../../prompts/decompose.j2")),
    (
        "decompose_clauses",
        include_str!("../../prompts/decompose_clauses.j2"),
    ),
    ("judge_intro", include_str!("../../prompts/judge_intro.j2")),
    (
        "track_component",
        include_str!("../../prompts/track_component.j2"),
    ),
    (
        "track_batched",
        include_str!("../../prompts/track_batched.j2"),
    ),
    ("track_delta", include_str!("../../prompts/track_delta.j2")),
    ("track_check", include_str!("../../prompts/track_check.j2")),
    ("track_close", include_str!("../../prompts/track_close.j2")),
    (
        "simulator_system",
        include_str!("../../prompts/simulator_system.j2"),
    ),
    (
        "simulator_opening",
        include_str!("../../prompts/simulator_opening.j2"),
    ),
    ("steer_goal", include_str!("../../prompts/steer_goal.j2")),
    ("steer_state", include_str!("../../prompts/steer_state.j2")),
    (
        "steer_reasoning",
        include_str!("../../prompts/steer_reasoning.j2"),
    ),
    (
        "reasoning_feedback",
        include_str!("../../prompts/reasoning_feedback.j2"),
    ),
    (
        "trained_layout",
        include_str!("../../prompts/trained_layout.j2"),
    ),
    (
        "agent_system",
        include_str!("../../prompts/agent_system.j2"),
    ),
    ("agent_desk", include_str!("../../prompts/agent_desk.j2")),
    ("verify_turn", include_str!("../../prompts/verify_turn.j2")),
    ("judge_role", include_str!("../../prompts/judge_role.j2")),
    (
        "judge_quality",
        include_str!("../../prompts/judge_quality.j2"),
    ),
    (
        "judge_failures",
        include_str!("../../prompts/judge_failures.j2"),
    ),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        for (name, src) in TEMPLATES {
            env.add_template(name, src)
                .expect("built-in template parses");
        }
        env
    })
}

/// Renders the named built-in template. Templates are fixed at build time and covered by tests,
/// so a failure here is a bug, not bad input.
pub fn render<S: Serialize>(name: &str, ctx: S) -> String {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| panic!("built-in template {name} failed to render: {e}"))
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn every_template_renders() {
        assert!(render("decompose", context! { goal => "Book a room" }).contains("Book a room"));
        let s = render(
            "simulator_system",
            context! { goal => "g", max_turns => 10, stop => STOP },
        );
        assert!(s.contains("END_CONVERSATION") && s.contains("10 messages"));
        for name in [
            "simulator_opening",
            "steer_goal",
            "steer_state",
            "steer_reasoning",
            "agent_system",
            "agent_desk",
            "track_component",
            "track_batched",
            "track_delta",
            "track_check",
            "track_close",
        ] {
            let _ = render(name, context! { components => Vec::<u8>::new() });
        }
    }

    #[test]
    fn lists_render_one_item_per_line() {
        // trim_blocks eats the newline after a block tag that ends a line: a list item must not
        // end with `{% endif %}`, or the items run together into one line.
        let comps = serde_json::json!([
            {"category_label": "user profile", "text": "You are Ana.", "status": "ALIGNED", "reason": ""},
            {"category_label": "task objective", "text": "Book a room.", "status": "COMPLETE", "reason": "booked"},
            {"category_label": "requirement", "text": "Two nights.", "status": "INCOMPLETE", "reason": ""},
        ]);
        for name in ["steer_state", "steer_reasoning"] {
            let s = render(
                name,
                context! { components => comps, turns_left => 3, stop => STOP },
            );
            assert!(
                s.contains("\n- user profile: You are Ana. -> ALIGNED\n"),
                "{name}: {s}"
            );
            assert!(
                s.contains("\n- task objective: Book a room. -> COMPLETE (booked)\n"),
                "{name}: {s}"
            );
            assert!(
                s.contains("\n- requirement: Two nights. -> INCOMPLETE\n"),
                "{name}: {s}"
            );
        }
        let comps = serde_json::json!([
            {"id": "req-1.1", "category": "requirement", "status": "INCOMPLETE", "text": "Two nights.",
             "objective": "Book a room."},
            {"id": "pol-1", "category": "user policy", "status": "ALIGNED", "text": "No email."},
        ]);
        let s = render(
            "track_batched",
            context! { components => comps, turn => 2, transcript => "t" },
        );
        assert!(
            s.contains("Two nights.\n  It belongs to the task objective: Book a room.\n- [pol-1]"),
            "{s}"
        );
        assert!(s.contains("No email.\nFor every id"), "{s}");
    }
}
