//! `contactgraph sync status|backfill|reconcile|plan`: drives the sync engine of a running
//! gateway through its GraphQL API with an `admin` key, so the one process that owns the
//! sync loops does the work, and shows it: a progress bar on long runs (the backfill's
//! records read of the upstreams' totals, and its cursors, from `syncStatus` while it
//! runs), a summary at the end.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// What `contactgraph sync` does.
#[derive(Debug, Subcommand)]
pub enum SyncAction {
    /// Where each change source stands: cursor, last success, last error.
    Status,
    /// Read every GHL contact and Club OS user not yet backfilled into the read model.
    Backfill,
    /// Compare everything with the upstreams, repair drift and print the reports.
    Reconcile,
    /// What propagation would write, person by person (writes nothing).
    Plan,
}

/// A running gateway's GraphQL endpoint and an admin key.
pub struct Remote {
    url: String,
    key: String,
    http: reqwest::Client,
}

const STATUS: &str = "{ syncStatus { source scheduled propagates cursor lastSuccessAt \
    lastError recordsStored recordsTotal } }";

impl Remote {
    pub fn new(url: &str, key: String) -> Self {
        Self {
            url: format!("{}/graphql", url.trim_end_matches('/')),
            key,
            http: reqwest::Client::new(),
        }
    }

    /// Runs a document; a GraphQL error becomes this command's error, with its code.
    async fn run(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body: Value = self
            .http
            .post(&self.url)
            .bearer_auth(&self.key)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.url))?
            .json()
            .await
            .context("the gateway's answer is not JSON")?;
        if let Some(e) = body["errors"].as_array().and_then(|e| e.first()) {
            bail!(
                "{} ({})",
                e["message"].as_str().unwrap_or("the gateway refused"),
                e["extensions"]["code"].as_str().unwrap_or("UNKNOWN")
            );
        }
        Ok(body["data"].clone())
    }

    /// Runs `action` and prints what it did.
    pub async fn sync(&self, action: SyncAction) -> anyhow::Result<()> {
        match action {
            SyncAction::Status => self.status().await,
            SyncAction::Backfill => self.backfill().await,
            SyncAction::Reconcile => self.reconcile().await,
            SyncAction::Plan => self.plan().await,
        }
    }

    async fn status(&self) -> anyhow::Result<()> {
        let data = self.run(STATUS, json!({})).await?;
        for s in data["syncStatus"].as_array().into_iter().flatten() {
            let text = |k: &str| s[k].as_str().unwrap_or("-").to_owned();
            println!(
                "{:<22} {:<9} cursor {:<28} last success {:<26} last error {}",
                text("source"),
                if s["scheduled"] == true {
                    "scheduled"
                } else {
                    "on demand"
                },
                text("cursor"),
                text("lastSuccessAt"),
                text("lastError"),
            );
        }
        Ok(())
    }

    async fn backfill(&self) -> anyhow::Result<()> {
        let bar = spinner("backfilling");
        let run = self.run(
            "mutation { backfill { ghlContacts clubOsUsers changed pages } }",
            json!({}),
        );
        tokio::pin!(run);
        let data = loop {
            tokio::select! {
                done = &mut run => break done?,
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    if let Ok(status) = self.run(STATUS, json!({})).await {
                        if let Some((read, total)) = backfill_counts(&status) {
                            if bar.length().is_none() {
                                bar.set_style(counted());
                            }
                            bar.set_length(total);
                            bar.set_position(read.min(total));
                        }
                        bar.set_message(backfill_positions(&status));
                    }
                }
            }
        };
        bar.finish_and_clear();
        let b = &data["backfill"];
        println!(
            "backfill: {} GHL contacts and {} Club OS users read in {} pages; {} records new or changed",
            b["ghlContacts"], b["clubOsUsers"], b["pages"], b["changed"]
        );
        Ok(())
    }

    async fn reconcile(&self) -> anyhow::Result<()> {
        let bar = spinner("reconciling");
        let data = self
            .run(
                "mutation { reconcile { kind compared missing extra differing \
                 missingIds extraIds differingIds } }",
                json!({}),
            )
            .await;
        bar.finish_and_clear();
        for d in data?["reconcile"].as_array().into_iter().flatten() {
            println!(
                "{}: {} compared, {} missing, {} extra, {} differing (all repaired)",
                d["kind"].as_str().unwrap_or("-"),
                d["compared"],
                d["missing"],
                d["extra"],
                d["differing"]
            );
            for (label, key) in [
                ("missing", "missingIds"),
                ("extra", "extraIds"),
                ("differing", "differingIds"),
            ] {
                let ids: Vec<&str> = d[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if !ids.is_empty() {
                    println!("  {label}: {}", ids.join(", "));
                }
            }
        }
        Ok(())
    }

    async fn plan(&self) -> anyhow::Result<()> {
        const PLAN: &str = "query($after: String) { syncPlan(first: 100, after: $after) { \
            compared writes { ghlContactId clubOsUserId changes { field from to } } \
            pageInfo { hasNextPage endCursor } } }";
        let bar = spinner("planning");
        let (mut after, mut compared, mut people) = (Value::Null, 0, 0);
        loop {
            let data = self.run(PLAN, json!({"after": after})).await?;
            let page = &data["syncPlan"];
            compared += page["compared"].as_u64().unwrap_or(0);
            for w in page["writes"].as_array().into_iter().flatten() {
                people += 1;
                bar.suspend(|| {
                    println!(
                        "GHL {} / Club OS {}",
                        w["ghlContactId"].as_str().unwrap_or("-"),
                        w["clubOsUserId"].as_str().unwrap_or("-")
                    );
                    for c in w["changes"].as_array().into_iter().flatten() {
                        println!(
                            "  {}: {} -> {}",
                            c["field"].as_str().unwrap_or("-"),
                            c["from"].as_str().unwrap_or("(none)"),
                            c["to"].as_str().unwrap_or("(none)")
                        );
                    }
                });
            }
            bar.set_message(format!("{compared} linked people compared"));
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        bar.finish_and_clear();
        println!(
            "plan: {people} of {compared} linked people would be written; nothing was written"
        );
        Ok(())
    }
}

/// A spinner on stderr (hidden when stderr is not a terminal).
fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The bar's look once the upstreams' totals are known.
fn counted() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} {elapsed} [{bar:30}] {pos}/{len} records, {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The backfill's sources in a `syncStatus` answer.
fn backfill_sources(status: &Value) -> impl Iterator<Item = &Value> {
    status["syncStatus"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| {
            s["source"]
                .as_str()
                .is_some_and(|n| n.starts_with("backfill:"))
        })
}

/// Records stored and held upstream over the backfill's sources, once every one of them has a
/// total (Club OS's arrives only after GHL's contacts are read: a bar over GHL's alone
/// would run to its end and then fall back).
fn backfill_counts(status: &Value) -> Option<(u64, u64)> {
    backfill_sources(status)
        .map(|s| Some((s["recordsStored"].as_u64()?, s["recordsTotal"].as_u64()?)))
        .try_fold((0, 0), |(r, t), counted| {
            counted.map(|(stored, total)| (r + stored.min(total), t + total))
        })
        .filter(|&(_, total)| total > 0)
}

/// The backfill's cursors from a `syncStatus` answer, for the progress line.
fn backfill_positions(status: &Value) -> String {
    backfill_sources(status)
        .map(|s| {
            let at = match s["cursor"].as_str() {
                Some("done") => "done".to_owned(),
                Some(c) if c.parse::<u64>().is_ok() => format!("page {c}"),
                Some(_) => "under way".to_owned(),
                None => "not started".to_owned(),
            };
            format!("{}: {at}", s["source"].as_str().unwrap_or("-"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_counts_the_backfill_sources_whose_totals_are_known() {
        let status = json!({"syncStatus": [
            {"source": "clubos_users", "recordsStored": null, "recordsTotal": null},
            {"source": "backfill:ghl_contact", "recordsStored": 500, "recordsTotal": 2000},
            {"source": "backfill:clubos_user", "recordsStored": 200, "recordsTotal": 2100},
        ]});
        assert_eq!(backfill_counts(&status), Some((700, 4100)));
        let half = json!({"syncStatus": [
            {"source": "backfill:ghl_contact", "recordsStored": 500, "recordsTotal": 2000},
            {"source": "backfill:clubos_user", "recordsStored": null, "recordsTotal": null},
        ]});
        assert_eq!(
            backfill_counts(&half),
            None,
            "no bar until every total is known"
        );
        let over = json!({"syncStatus": [
            {"source": "backfill:ghl_contact", "recordsStored": 2010, "recordsTotal": 2000},
        ]});
        assert_eq!(
            backfill_counts(&over),
            Some((2000, 2000)),
            "records deleted upstream and still held do not run the bar past its end"
        );
    }
}
