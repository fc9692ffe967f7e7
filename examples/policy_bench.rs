//! What the per-tool policy check adds to a gateway request (see `bench/README.md`, section
//! "Policy check").
//!
//! A policy of 20 rules (15 with a CEL condition, 14 of them evaluated for the call), and the
//! call that is decided by the last rule, so every rule is looked at: the check as the gateway
//! runs it per request, that is the strict JSON-RPC read of the body, the conditions (of the
//! shapes evaluated without CEL) on the subject, and the decision. Its median over many samples
//! is the figure; in the same run, a plain `serde_json` parse of the same body (what any
//! JSON-aware proxy pays) is the reference, and the ratio is printed.
//!
//! `cargo run --release --example policy_bench -- [--samples N]` (default 20,000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark: a failed assumption should stop it loudly; the lint fence is for src/"
)]

use std::{hint::black_box, time::Instant};

use mcp_auth_bridge::{
    domain::{ClaimValue, MappedClaims},
    policy::{Call, Decision, Evaluation, Policy, PolicyDocument, Subject, jsonrpc},
};

const BODY: &[u8] = br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"write_issue","arguments":{"project":"OPS","title":"Disk full on db-3","body":"Alert fired at 03:12"}}}"#;

fn policy() -> Policy {
    let mut toml = String::from("default = \"deny\"\n");
    for i in 0..19 {
        // Every fourth rule has no condition but does not match the call's target; the others
        // match it and are decided by their condition.
        let (targets, when) = if i % 4 == 0 {
            (format!("[\"tool_{i}\"]"), String::new())
        } else {
            (
                format!("[\"tool_{i}\", \"write_*\"]"),
                format!("when = \"'team-{i}' in user.groups && token.client_id != ''\"\n"),
            )
        };
        toml.push_str(&format!(
            "[[rules]]\nname = \"rule-{i}\"\neffect = \"allow\"\nmethods = [\"tools/call\"]\n\
             targets = {targets}\n{when}"
        ));
    }
    toml.push_str(
        "[[rules]]\nname = \"writers\"\neffect = \"allow\"\nmethods = [\"tools/call\"]\n\
         targets = [\"write_*\"]\nwhen = \"'writers' in user.groups && user.claims.hd == 'example.com'\"\n",
    );
    let document: PolicyDocument = toml::from_str(&toml).unwrap();
    assert_eq!(document.rules.len(), 20);
    Policy::compile(&document).unwrap()
}

fn median(mut samples: Vec<u128>) -> f64 {
    samples.sort_unstable();
    samples[samples.len() / 2] as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut samples = 20_000usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--samples" => samples = args.next().unwrap().parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    let policy = policy();
    let claims = MappedClaims::from([
        (
            "groups".to_owned(),
            ClaimValue::List(
                (0..10)
                    .map(|i| format!("group-{i}"))
                    .chain(["writers".into()])
                    .collect(),
            ),
        ),
        ("roles".to_owned(), ClaimValue::List(vec!["user".into()])),
        ("hd".to_owned(), ClaimValue::Text("example.com".into())),
    ]);
    let subject = Subject {
        subject: "248289761001",
        email: Some("jane@example.com"),
        name: Some("Jane Doe"),
        claims: &claims,
        scopes: "mcp mcp:tools",
        client_id: "client-1",
        tenant: "acme",
    };
    let check = || {
        let body = jsonrpc::read(black_box(BODY)).unwrap();
        let message = &body.messages()[0];
        let call = Call {
            method: message.method.as_deref().unwrap(),
            target: message.target.as_deref(),
        };
        let decision = Evaluation::new(&policy, &subject).decide(&call);
        assert_eq!(decision, Decision::Allow { rule: "writers" });
    };
    let reference = || {
        let value: serde_json::Value = serde_json::from_slice(black_box(BODY)).unwrap();
        black_box(value);
    };
    // Warm-up, then alternate so that both see the same machine state.
    for _ in 0..1000 {
        check();
        reference();
    }
    let (mut checked, mut parsed) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    for _ in 0..samples {
        let started = Instant::now();
        check();
        checked.push(started.elapsed().as_nanos());
        let started = Instant::now();
        reference();
        parsed.push(started.elapsed().as_nanos());
    }
    let (check_ns, parse_ns) = (median(checked), median(parsed));
    println!(
        "policy check, 20 rules, decided by the last: median {:.2} µs",
        check_ns / 1000.0
    );
    println!(
        "reference (serde_json parse of the same body): median {:.2} µs",
        parse_ns / 1000.0
    );
    println!(
        "ratio: {:.1}x the reference; goal: under 10 µs",
        check_ns / parse_ns
    );
}
