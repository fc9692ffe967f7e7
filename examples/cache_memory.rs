//! Memory per cached user in the gateway (see `bench/README.md`, section "Gateway cache memory").
//!
//! Fills the gateway's real caches (`Gateway::new` with the default `auth.*` settings) for N
//! users, one access token each, through the same calls a request makes: the per-token entry
//! (`token_cache.rs`) gets the verified claims, then the token state, then the
//! `X-Auth-Assertion`'s signature (really signed by `assertion::sign`; identity headers are built
//! per request and no longer kept), and the user context goes in by grant (loaded from a userinfo-shaped
//! `UserContext` with its raw claims, as `user_loader` returns it). A counting global allocator
//! reports the bytes live after each step, divided by N.
//!
//! In the same run, the same users go into a **reference** built in the layout before issue 13
//! item 4 (the whole `UserContext` kept twice-referenced in two moka caches, identity headers
//! as (name, value) pairs holding their own tenant/client/scope values), so the ratio is
//! measured on the same machine, the same allocator and the same data.
//!
//! `cargo run --release --example cache_memory -- [--users N]` (default 100,000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark: a failed assumption should stop it loudly; the lint fence is for src/"
)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{
        Arc,
        atomic::{AtomicIsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use chrono::Utc;
use http::{HeaderName, HeaderValue};
use mcp_auth_bridge::{
    config::Config,
    crypto::signing,
    domain::{GrantStatus, UserContext},
    gateway::{
        Gateway, assertion,
        token_claims::TokenClaims,
        token_states::TokenState,
        user_cache::{CachedUser, LoadError},
    },
    tokens::{AccessClaims, keys::Signer},
};
use moka::future::Cache;
use uuid::Uuid;

/// Counts the bytes currently allocated through the global allocator.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const TENANT: &str = "acme";
const ISSUER: &str = "https://bridge.example.com/t/acme";
const AUDIENCE: &str = "https://bridge.example.com/t/acme/mcp/github";
/// Distinct MCP clients the users are spread over.
const CLIENTS: usize = 10;

/// What one user brings: the token's claims as verification returns them (fresh strings per
/// token) and the userinfo answer as the loader returns it.
fn claims(i: usize, clients: &[String]) -> AccessClaims {
    let now = Utc::now().timestamp();
    AccessClaims {
        iss: ISSUER.to_owned(),
        sub: format!("{:021}", 100_000_000_000_000_000_000u128 + i as u128),
        aud: AUDIENCE.to_owned(),
        client_id: clients[i % CLIENTS].clone(),
        scope: "mcp read".to_owned(),
        jti: Uuid::new_v4(),
        iat: now,
        exp: now + 3600,
    }
}

fn user_context(i: usize, sub: &str) -> UserContext {
    let email = format!("user{i}@example.com");
    let name = format!("User Number {i}");
    UserContext {
        subject: sub.to_owned(),
        email: Some(email.clone()),
        name: Some(name.clone()),
        username: Some(format!("user{i}")),
        provider: "google".to_owned(),
        claims: serde_json::json!({
            "sub": sub,
            "email": email,
            "email_verified": true,
            "name": name,
            "given_name": "User",
            "family_name": format!("Number {i}"),
            "picture": format!("https://lh3.googleusercontent.com/a/ACg8ocL{i:012}=s96-c"),
            "locale": "en",
            "hd": "example.com",
        }),
        mapped: Default::default(),
    }
}

/// One user's inputs: token, its claims, the userinfo answer, grant id, and the assertion
/// (its kept signature, and the JWT the reference layout keeps whole).
type Input = (
    String,
    AccessClaims,
    UserContext,
    Uuid,
    (assertion::Signed, String),
);

struct Row {
    name: &'static str,
    bytes: isize,
}

fn print_rows(title: &str, rows: &[Row], users: usize) -> isize {
    println!("{title}");
    let mut total = 0;
    for row in rows {
        total += row.bytes;
        println!(
            "  {:<34} {:>12} B  {:>7.0} B/user",
            row.name,
            row.bytes,
            row.bytes as f64 / users as f64
        );
    }
    println!(
        "  {:<34} {:>12} B  {:>7.0} B/user",
        "total",
        total,
        total as f64 / users as f64
    );
    total
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut users = 100_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--users" => users = args.next().context("--users N")?.parse()?,
            other => anyhow::bail!("unknown argument {other}; usage: [--users N]"),
        }
    }
    let config = Config::load_str(
        "dev_mode = true\npublic_url = \"http://127.0.0.1:8080\"\n[database]\nurl = \"postgres://postgres@127.0.0.1:5432/postgres\"\n",
        &[],
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = signing::generate_es256();
    let signer = Signer {
        kid: key.kid.clone(),
        key: signing::Es256Key::from_pkcs8(key.private_pkcs8_der.expose())
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let clients: Vec<String> = (0..CLIENTS).map(|_| Uuid::new_v4().to_string()).collect();
    println!(
        "users: {users}; auth.cache_capacity {}, cache_ttl {:?}, stale_if_error {:?}",
        config.auth.cache_capacity,
        config.auth.cache_ttl.get(),
        config.auth.stale_if_error.get()
    );

    // Inputs made before measuring: they stand for what arrives with the requests.
    let started = Instant::now();
    let inputs: Vec<Input> = (0..users)
        .map(|i| {
            let c = claims(i, &clients);
            let u = user_context(i, &c.sub);
            let cached = CachedUser::from(u.clone());
            let kept = TokenClaims::from(c.clone());
            let signed = assertion::sign(&signer, &kept, &cached, Utc::now()).expect("sign");
            let jwt = signed.encode(&kept, &cached).expect("encode");
            (format!("token-{i}"), c, u, Uuid::new_v4(), (signed, jwt))
        })
        .collect();
    println!("inputs built in {:.1?}", started.elapsed());

    let gateway = Gateway::new(&config);
    let tokens = &gateway.tokens;
    let entry = |token: &str, c: &AccessClaims| {
        let key = mcp_auth_bridge::crypto::hash::sha256(token.as_bytes());
        let c = c.clone();
        async move {
            let got: Result<_, ()> = tokens.claims(key, || async move { Ok(c) }).await;
            (key, got.expect("claims"))
        }
    };
    let mut rows = Vec::new();
    let mark = live();
    for (token, c, _, _, _) in &inputs {
        entry(token, c).await;
    }
    tokens.run_pending_tasks().await;
    rows.push(Row {
        name: "per token: verified claims",
        bytes: live() - mark,
    });
    let mark = live();
    for (token, c, _, grant, _) in &inputs {
        let state = TokenState {
            grant_id: *grant,
            revoked: false,
            grant_status: GrantStatus::Active,
        };
        let (key, found) = entry(token, c).await;
        let got: Result<_, ()> = tokens.state(key, &found, || async move { Ok(state) }).await;
        got.expect("token state");
    }
    tokens.run_pending_tasks().await;
    rows.push(Row {
        name: "per token: + token state",
        bytes: live() - mark,
    });
    let mut loaded = Vec::with_capacity(users);
    let mark = live();
    for (_, _, u, grant, _) in &inputs {
        let u = u.clone();
        let got = gateway
            .users
            .get_or_load(*grant, || async move { Ok::<_, LoadError>(u) })
            .await;
        loaded.push(got.map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    gateway.users.run_pending_tasks().await;
    rows.push(Row {
        name: "user contexts (by grant)",
        bytes: live() - mark,
    });
    let mark = live();
    for ((token, c, _, _, signed), user) in inputs.iter().zip(&loaded) {
        let (key, found) = entry(token, c).await;
        let sign = || async { Some(signed.0.clone()) };
        tokens.assertion(key, &found, user, sign).await;
    }
    tokens.run_pending_tasks().await;
    rows.push(Row {
        name: "per token: + assertion signature",
        bytes: live() - mark,
    });
    drop(loaded);
    let counts = (tokens.entry_count(), gateway.users.entry_count());
    anyhow::ensure!(
        counts == (users as u64, users as u64),
        "every cache holds every user: {counts:?}"
    );
    let now = print_rows("this layout:", &rows, users);
    drop(gateway);

    let reference = reference_layout(&inputs).await;
    let before = print_rows(
        "reference (layout before issue 13 item 4):",
        &reference,
        users,
    );
    println!(
        "bytes per user: {:.0} (reference {:.0}), ratio this / reference = {:.2}",
        now as f64 / users as f64,
        before as f64 / users as f64,
        now as f64 / before as f64
    );
    Ok(())
}

/// The caches as they were before: the whole `UserContext` per grant in two moka caches (the
/// entry and its stale-if-error copy), and per token identity headers as (name, value) pairs,
/// every value its own allocation, next to the `Arc<UserContext>` they were built from. The
/// verified claims and token states did not change; they are filled the same way.
async fn reference_layout(inputs: &[Input]) -> Vec<Row> {
    #[derive(Clone)]
    struct Entry {
        user: Arc<UserContext>,
        lives: Duration,
    }
    struct PerEntry;
    impl moka::Expiry<Uuid, Entry> for PerEntry {
        fn expire_after_create(&self, _: &Uuid, entry: &Entry, _: Instant) -> Option<Duration> {
            Some(entry.lives)
        }
    }
    #[derive(Clone)]
    struct LastGood {
        _user: Arc<UserContext>,
        _loaded: Instant,
    }
    struct OldIdentity {
        _user: Arc<UserContext>,
        _fixed: Arc<[(HeaderName, HeaderValue)]>,
    }
    fn encode(value: &str) -> HeaderValue {
        let encoded =
            percent_encoding::utf8_percent_encode(value, percent_encoding::CONTROLS).to_string();
        HeaderValue::from_maybe_shared(Bytes::from(encoded)).expect("header value")
    }

    let capacity = 100_000u64.max(inputs.len() as u64);
    let ttl = Duration::from_secs(300);
    let mut rows = Vec::new();
    let mark = live();
    let verified: Cache<[u8; 32], Arc<AccessClaims>> = Cache::builder()
        .time_to_live(Duration::from_secs(3600))
        .max_capacity(capacity)
        .build();
    for (token, c, _, _, _) in inputs {
        let key = mcp_auth_bridge::crypto::hash::sha256(token.as_bytes());
        verified.insert(key, Arc::new(c.clone())).await;
    }
    verified.run_pending_tasks().await;
    rows.push(Row {
        name: "verified claims (by token hash)",
        bytes: live() - mark,
    });
    let mark = live();
    // A state and when its read started, by `jti`, as `token_states.rs` kept them.
    let states: Cache<Uuid, (TokenState, u64)> = Cache::builder()
        .time_to_live(Duration::from_secs(300))
        .max_capacity(capacity)
        .build();
    for (i, (_, c, _, grant, _)) in inputs.iter().enumerate() {
        let state = TokenState {
            grant_id: *grant,
            revoked: false,
            grant_status: GrantStatus::Active,
        };
        states.insert(c.jti, (state, i as u64)).await;
    }
    states.run_pending_tasks().await;
    rows.push(Row {
        name: "token states (by jti)",
        bytes: live() - mark,
    });
    let mut loaded = Vec::with_capacity(inputs.len());
    let mark = live();
    let cache: Cache<Uuid, Entry> = Cache::builder()
        .expire_after(PerEntry)
        .max_capacity(capacity)
        .build();
    let last_good: Cache<Uuid, LastGood> = Cache::builder()
        .time_to_live(ttl * 2)
        .max_capacity(capacity)
        .build();
    for (_, _, u, grant, _) in inputs {
        let user = Arc::new(u.clone());
        last_good
            .insert(
                *grant,
                LastGood {
                    _user: user.clone(),
                    _loaded: Instant::now(),
                },
            )
            .await;
        cache
            .insert(
                *grant,
                Entry {
                    user: user.clone(),
                    lives: ttl,
                },
            )
            .await;
        loaded.push(cache.get(grant).await.expect("cached").user);
    }
    cache.run_pending_tasks().await;
    last_good.run_pending_tasks().await;
    rows.push(Row {
        name: "user contexts (by grant)",
        bytes: live() - mark,
    });
    let mark = live();
    let identities: Cache<Uuid, Arc<OldIdentity>> = Cache::builder()
        .time_to_live(Duration::from_secs(30))
        .max_capacity(capacity)
        .build();
    for ((_, c, _, _, signed), user) in inputs.iter().zip(&loaded) {
        let scopes: Vec<String> = c.scope.split(' ').map(str::to_owned).collect();
        let mut fixed = Vec::with_capacity(7);
        fixed.push((HeaderName::from_static("x-auth-subject"), encode(&c.sub)));
        fixed.push((HeaderName::from_static("x-auth-tenant"), encode(TENANT)));
        fixed.push((
            HeaderName::from_static("x-auth-client-id"),
            encode(&c.client_id),
        ));
        fixed.push((
            HeaderName::from_static("x-auth-scopes"),
            encode(&scopes.join(" ")),
        ));
        for (name, value) in [
            ("x-auth-email", user.email.as_deref()),
            ("x-auth-name", user.name.as_deref()),
            ("x-auth-assertion", Some(signed.1.as_str())),
        ] {
            if let Some(value) = value {
                fixed.push((HeaderName::from_static(name), encode(value)));
            }
        }
        let entry = OldIdentity {
            _user: user.clone(),
            _fixed: fixed.into(),
        };
        identities.insert(c.jti, Arc::new(entry)).await;
    }
    identities.run_pending_tasks().await;
    rows.push(Row {
        name: "identity headers (by jti)",
        bytes: live() - mark,
    });
    drop(loaded);
    rows
}
