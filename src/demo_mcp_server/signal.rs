//! SIGINT/SIGTERM as a future, for the `demo-mcp-server` subcommand.
//!
//! A twin of the private one in `startup`; kept here so this module stays self-contained.

/// Completes on Ctrl-C or (on Unix) SIGTERM, whichever comes first.
pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}
