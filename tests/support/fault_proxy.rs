//! A TCP fault proxy on loopback, placed between the bridge and a real dependency (Postgres, the
//! fake IdP) to produce the faults an operator meets: a stopped server (connections refused or
//! reset), a black-holed one (connections accepted, nothing ever answered), a slow one (every
//! chunk delayed), and a cut (every open connection reset at once).
//!
//! The proxy forwards bytes verbatim and knows nothing of the protocols it carries, so the
//! bridge's own clients (sqlx, reqwest, hyper) meet the fault exactly as they would in
//! production. Every fault applies to new connections and, where it means something, to the
//! connections already open (a black hole swallows what open connections send from then on).

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    Pass,
    /// A stopped server: open connections are reset and new ones are closed at once.
    Refuse,
    /// A black-holed server: connections are accepted and held, every byte both ways is
    /// swallowed, nothing ever answers.
    BlackHole,
    /// A slow server: each chunk, either way, is forwarded only after this delay.
    Delay(Duration),
}

/// A running fault proxy; dropping it stops it and closes every connection it holds.
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<Fault>,
    /// Bumped by `cut_all`: every connection open at that moment is reset.
    generation: watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a port of its own) and forwards to `target`.
    pub async fn start(target: SocketAddr) -> FaultProxy {
        assert!(
            target.ip().is_loopback(),
            "the fault proxy only targets loopback"
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (mode, _) = watch::channel(Fault::Pass);
        let (generation, _) = watch::channel(0u64);
        let accepted = Arc::new(AtomicUsize::new(0));
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tokio::spawn(accept_loop(
            listener,
            target,
            mode.clone(),
            generation.clone(),
            accepted.clone(),
            tasks.clone(),
        ));
        FaultProxy {
            addr,
            mode,
            generation,
            accepted,
            tasks,
            acceptor,
        }
    }

    /// Starts a proxy in front of the Postgres named by `DATABASE_URL` (see `.env`).
    pub async fn in_front_of_postgres() -> FaultProxy {
        FaultProxy::start(postgres_addr()).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`, for an HTTP dependency behind the proxy.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the fault. `Refuse` also resets every open connection.
    pub fn set(&self, fault: Fault) {
        self.mode.send_replace(fault);
        if fault == Fault::Refuse {
            self.cut_all();
        }
    }

    /// Resets every connection open now; new connections follow the current fault.
    pub fn cut_all(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Connections accepted since the start (whatever then happened to them).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        for task in self.tasks.lock().expect("tasks").drain(..) {
            task.abort();
        }
    }
}

/// Where `DATABASE_URL` (environment first, then `.env`) says Postgres listens.
pub fn postgres_addr() -> SocketAddr {
    let url = database_url();
    let parsed = url::Url::parse(&url).expect("DATABASE_URL is a URL");
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    let port = parsed.port().unwrap_or(5432);
    format!("{host}:{port}").parse().expect("loopback address")
}

/// `DATABASE_URL` from the environment, else from the repository's `.env`.
pub fn database_url() -> String {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return url;
    }
    let env = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env")).expect(".env");
    env.lines()
        .find_map(|l| l.strip_prefix("DATABASE_URL="))
        .expect("DATABASE_URL in .env")
        .trim()
        .to_owned()
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    mode: watch::Sender<Fault>,
    generation: watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    while let Ok((client, _)) = listener.accept().await {
        accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nodelay(true);
        if *mode.borrow() == Fault::Refuse {
            reset(client);
            continue;
        }
        let task = tokio::spawn(connection(
            client,
            target,
            mode.subscribe(),
            generation.subscribe(),
        ));
        let mut tasks = tasks.lock().expect("tasks");
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }
}

/// Closes with RST (linger 0), as a host whose server is gone answers.
fn reset(stream: TcpStream) {
    if let Ok(std) = stream.into_std() {
        drop(with_zero_linger(std));
    }
}

/// Sets SO_LINGER to 0 so that closing sends RST; without the option the close is a FIN, which
/// clients also see as a dropped connection.
fn with_zero_linger(std: std::net::TcpStream) -> std::net::TcpStream {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket fd and a correctly sized `linger` value.
        unsafe {
            libc::setsockopt(
                std.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
    std
}

async fn connection(
    client: TcpStream,
    target: SocketAddr,
    mode: watch::Receiver<Fault>,
    mut generation: watch::Receiver<u64>,
) {
    generation.borrow_and_update();
    let server = if *mode.borrow() == Fault::BlackHole {
        None
    } else {
        match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Some(s)
            }
            _ => {
                reset(client);
                return;
            }
        }
    };
    let Some(server) = server else {
        // Hold the connection, swallow what arrives, until cut or dropped.
        let (mut r, _w) = client.into_split();
        let mut buf = vec![0u8; 8192];
        tokio::select! {
            _ = async { while let Ok(n) = r.read(&mut buf).await { if n == 0 { break; } } } => {}
            _ = generation.changed() => {}
        }
        return;
    };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pump(cr, sw, mode.clone());
    let down = pump(sr, cw, mode);
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = generation.changed() => {
            // Dropping both halves closes the sockets; the client sees its connection die.
        }
    }
}

/// Copies one direction, applying the current fault to every chunk.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: watch::Receiver<Fault>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let fault = *mode.borrow();
        match fault {
            Fault::Pass => {}
            Fault::Delay(d) => tokio::time::sleep(d).await,
            Fault::BlackHole => continue,
            Fault::Refuse => break,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
