//! What the comparison measures: each backend reached directly, through the gateway (with a
//! token from a login of its own, whose audience is that server) and through nginx when it
//! runs, each in an MCP session opened beforehand (`initialize`, then
//! `notifications/initialized`), as a client does.

use std::sync::Arc;

use anyhow::{Context, bail};

use crate::{
    load::{self, Target},
    nginx::Nginx,
    setup::{self, World},
};

/// Which MCP server answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    /// The demo MCP server: a JSON answer in one write.
    Fast,
    /// [`crate::sse_backend`]: three SSE events, each written on its own, in ~50 µs.
    Sse,
    /// [`crate::python_backend`]: the Python SDK's server, SSE, about a millisecond a request.
    Python,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Sse => "sse",
            Self::Python => "python",
        }
    }

    /// `--only fast|sse|python`.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        match name {
            "fast" => Ok(Self::Fast),
            "sse" => Ok(Self::Sse),
            "python" => Ok(Self::Python),
            other => bail!("--only fast|sse|python, not {other}"),
        }
    }

    /// The low and the high concurrency it is measured at. The Python server runs one event
    /// loop on one CPU: past a few requests in flight it only queues them, so 8 is its "high".
    pub fn concurrencies(self) -> [usize; 2] {
        match self {
            Self::Fast | Self::Sse => [1, crate::HIGH],
            Self::Python => [1, PYTHON_HIGH],
        }
    }
}

/// The Python server's high concurrency (see [`Backend::concurrencies`]).
pub const PYTHON_HIGH: usize = 8;

/// How the requests reach it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Direct,
    Gateway,
    Nginx,
}

impl Path {
    pub fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Gateway => "gateway",
            Self::Nginx => "nginx",
        }
    }
}

/// One measured path to one backend.
pub struct Case {
    pub backend: Backend,
    pub path: Path,
    pub target: Target,
}

/// A backend as the cases need it: its own URL and its name in the bridge's configuration
/// (nginx serves it at `/{backend.name()}`).
pub struct Upstream<'a> {
    pub backend: Backend,
    pub url: &'a str,
    pub server: &'a str,
}

/// Every path to every upstream: direct, gateway, and nginx when it runs. The nginx path
/// reuses the direct session (nginx passes the session header through to the same server).
pub async fn build(
    world: &World,
    client: &reqwest::Client,
    upstreams: &[Upstream<'_>],
    nginx: Option<&Nginx>,
) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    for up in upstreams {
        let token = setup::login(world, up.server).await?;
        let gateway_url = world.gateway_url(up.server);
        let direct = Target {
            url: up.url.to_owned(),
            session: setup::initialize(client, up.url, None)
                .await
                .with_context(|| format!("{} direct", up.backend.name()))?,
            tokens: Arc::new(Vec::new()),
            body: load::ECHO,
        };
        let gateway = Target {
            session: setup::initialize(client, &gateway_url, Some(&token))
                .await
                .with_context(|| format!("{} through the gateway", up.backend.name()))?,
            url: gateway_url,
            tokens: Arc::new(vec![token]),
            body: load::ECHO,
        };
        let case = |path, target| Case {
            backend: up.backend,
            path,
            target,
        };
        if let Some(n) = nginx {
            let target = Target {
                url: format!("{}/{}", n.base, up.backend.name()),
                ..direct.clone()
            };
            cases.push(case(Path::Direct, direct));
            cases.push(case(Path::Gateway, gateway));
            cases.push(case(Path::Nginx, target));
        } else {
            cases.push(case(Path::Direct, direct));
            cases.push(case(Path::Gateway, gateway));
        }
    }
    Ok(cases)
}

/// The case for `backend` through `path` (every built backend has a direct and a gateway one).
pub fn find(cases: &[Case], backend: Backend, path: Path) -> anyhow::Result<&Case> {
    cases
        .iter()
        .find(|c| c.backend == backend && c.path == path)
        .with_context(|| format!("no {} {} case", backend.name(), path.name()))
}
