//! The sync engine's part of `GET /metrics`: where each change source stands, what the
//! read model holds, how far the change log has come, and what GHL's budget went to today.
//! Everything is read at scrape time from the store and the limiter, so every replica on
//! one store reports the same sources.

use std::fmt::Write as _;

use crate::{
    store::{Store, StoreError},
    upstream::ratelimit::BudgetUsage,
};

/// The series in Prometheus' text format.
pub async fn prometheus(store: &Store, budget: &BudgetUsage) -> Result<String, StoreError> {
    let (cursors, counts, seq) = futures_util::try_join!(
        store.sync_cursors(),
        store.record_counts(),
        store.last_change_seq()
    )?;
    let mut out = String::new();
    let mut series = |name: &str, help: &str, kind: &str, rows: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    series(
        "contactgraph_sync_last_success_seconds",
        "When each change source last finished a run without an error (Unix time).",
        "gauge",
        cursors
            .iter()
            .filter_map(|(source, c)| {
                let ms = c.last_success_ms?;
                Some((
                    label("source", source),
                    format!("{:.3}", ms as f64 / 1000.0),
                ))
            })
            .collect(),
    );
    series(
        "contactgraph_sync_failing",
        "Whether each change source's last run failed (1) or not (0).",
        "gauge",
        cursors
            .iter()
            .map(|(source, c)| {
                let failing = u8::from(c.last_error.is_some());
                (label("source", source), failing.to_string())
            })
            .collect(),
    );
    series(
        "contactgraph_read_model_records",
        "Records the read model holds, by kind.",
        "gauge",
        counts
            .iter()
            .map(|(kind, n)| (label("kind", kind.as_str()), n.to_string()))
            .collect(),
    );
    series(
        "contactgraph_change_log_sequence",
        "The sequence number of the change log's latest entry.",
        "gauge",
        vec![(String::new(), seq.to_string())],
    );
    let background = budget.background_used.iter().map(|(source, n)| {
        (
            format!("{{class=\"background\",source=\"{}\"}}", escape(source)),
            n.to_string(),
        )
    });
    series(
        "contactgraph_ghl_requests_today",
        "GHL requests admitted in the current day, interactive and background by source.",
        "gauge",
        std::iter::once((
            "{class=\"interactive\"}".to_owned(),
            budget.interactive_used.to_string(),
        ))
        .chain(background)
        .collect(),
    );
    Ok(out)
}

fn label(name: &str, value: &str) -> String {
    format!("{{{name}=\"{}\"}}", escape(value))
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
