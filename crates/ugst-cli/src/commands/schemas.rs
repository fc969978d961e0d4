//! `ugst schemas`: every schema the project sends, checked against OpenAI's strict-mode rules.

use anyhow::Result;
use serde_json::json;
use ugst::prompts::schemas::examples;
use ugst_llm::{strict_schema, strict_violations};

pub fn run(show: bool, as_json: bool) -> Result<()> {
    let rows: Vec<_> = examples()
        .into_iter()
        .map(|(name, schema)| {
            let sent = strict_schema(&schema);
            (
                name,
                strict_violations(&schema),
                strict_violations(&sent),
                sent,
            )
        })
        .collect();
    let broken = rows.iter().filter(|r| !r.2.is_empty()).count();
    if as_json {
        let v: Vec<_> = rows
            .iter()
            .map(|(name, raw, sent, schema)| {
                json!({"schema": name, "as_written": raw, "as_sent_strict": sent,
                       "sent": if show { schema.clone() } else { json!(null) }})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{:<22} {:>20} {:>22}",
            "schema", "strict problems as", "as sent with"
        );
        println!("{:<22} {:>20} {:>22}", "", "written", "structured=strict");
        for (name, raw, sent, schema) in &rows {
            println!("{name:<22} {:>20} {:>22}", raw.len(), sent.len());
            for p in sent {
                println!("    {p}");
            }
            if show {
                println!("    {schema}");
            }
        }
        println!(
            "{} schema(s); {} break strict mode as sent (the limits dropped for strict mode are \
             enforced after parsing)",
            rows.len(),
            broken
        );
    }
    if broken > 0 {
        anyhow::bail!("{broken} schema(s) would be refused in strict mode");
    }
    Ok(())
}
