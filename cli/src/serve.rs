//! `doorstep serve`: the sync server in this process, over plain HTTP or
//! HTTPS, with the connection caps an operator can tune (behind a reverse
//! proxy, the per-address cap must go: every connection comes from the
//! proxy).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use doorstep_protocol::CaFingerprint;
use doorstep_server::enrol::{self, EnrolSettings};
use doorstep_server::{ConnectionLimits, ServeOptions};

use crate::output;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The server's database file (created if missing).
    #[arg(long, default_value = "doorstep-server.db")]
    db: PathBuf,
    /// A PostgreSQL database instead of the file (`postgres://user@host/name`;
    /// migrated on start). Several servers may share one.
    #[arg(
        long,
        env = "DOORSTEP_DATABASE_URL",
        value_name = "URL",
        conflicts_with = "db"
    )]
    database_url: Option<String>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8686")]
    listen: SocketAddr,
    /// Serve HTTPS with this certificate chain (PEM: the server's
    /// certificate first, then the intermediates). Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1). Needs
    /// --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Connections held at once, from everybody; more are closed at once.
    /// [default: three quarters of the open-files limit, at most 10000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// Connections held at once from one address (an IPv6 /64); more are
    /// closed at once. 0 turns the cap off: behind a reverse proxy every
    /// connection comes from the proxy.
    #[arg(long, value_name = "N", default_value_t = 128)]
    max_connections_per_address: u32,
    /// The address of a reverse proxy in front of this server (repeat for
    /// several): its requests are limited by the client address it puts in
    /// X-Forwarded-For, not by its own (without this, one client's bad
    /// enrolment attempts would throttle everyone behind the proxy).
    #[arg(long, value_name = "ADDRESS")]
    trusted_proxy: Vec<std::net::IpAddr>,
    /// Serve Prometheus metrics (GET /metrics) on this address, a listener
    /// of their own: plain HTTP and no token, so keep it private (loopback
    /// or an internal network). Its URL is the second line on stdout.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// The address devices reach this server at, for enrolment QR codes
    /// (a public name, or a reverse proxy's https:// address). [default:
    /// the address printed on stdout]
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// The county CA's certificate (PEM), when the server's certificate is
    /// from the county's own CA: its SHA-256 goes into enrolment QR codes
    /// and devices pin it. With --tls-cert it is also sent in the TLS
    /// handshake (devices must see it there); a reverse proxy must send it.
    #[arg(long, value_name = "FILE")]
    public_ca: Option<PathBuf>,
    /// Where files attached to answers (photos, audio notes) are kept:
    /// whole files in DIR/<ab>/<sha256>, uploads under way in
    /// DIR/partial/. Created if missing. Or s3://BUCKET/PREFIX: whole files
    /// in an S3-compatible bucket (objects PREFIX/<sha256>; credentials,
    /// region and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, AWS_ENDPOINT_URL), uploads under way in a directory
    /// `files` beside the --db file. [default: a directory `files` beside
    /// the --db file]
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    files: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let public_ca = args
        .public_ca
        .as_deref()
        .map(enrol::read_ca)
        .transpose()
        .map_err(|error| output::invalid(error.to_string()))?;
    let enrol = EnrolSettings::new(
        args.public_url.as_deref(),
        public_ca.as_ref().map(|ca| CaFingerprint::of_der(ca)),
    )
    .map_err(|error| output::invalid(error.to_string()))?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            doorstep_server::net::tls::server_config_with_ca(cert, key, public_ca.as_ref())
                .map_err(|error| output::invalid(error.to_string()))?,
        ),
        _ => None,
    };
    let mut limits = ConnectionLimits {
        max_per_address: args.max_connections_per_address as usize,
        ..ConnectionLimits::default()
    };
    if let Some(max) = args.max_connections {
        limits.max_connections = max as usize;
    }
    let https = tls.is_some();
    let bucket = args
        .files
        .as_deref()
        .and_then(|files| files.to_str())
        .filter(|files| doorstep_server::files::is_object_store(files))
        .map(str::to_owned);
    let files = match (&bucket, &args.files) {
        (None, Some(directory)) => directory.clone(),
        _ => doorstep_server::files::default_directory(
            args.database_url.is_none().then_some(args.db.as_path()),
        ),
    };
    let mut options = ServeOptions {
        tls,
        limits,
        trusted_proxies: args.trusted_proxy.clone(),
        enrol: enrol.clone(),
        files: Some(files.clone()),
        ..ServeOptions::default()
    };
    let metrics = Arc::clone(&options.metrics);
    let store = Arc::new(crate::database::open(
        &args.db,
        args.database_url.as_deref(),
    )?);
    let location = store.location();
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(async move {
        // The bucket must answer before the server listens.
        if let Some(bucket) = &bucket {
            options.file_store = Some(
                doorstep_server::files::connect_store(bucket)
                    .await
                    .map_err(output::file_store_error)?,
            );
        }
        let listen = args.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("could not listen on {listen}"))?;
        let address = listener.local_addr()?;
        let url = format!("{}://{address}", if https { "https" } else { "http" });
        // The metrics listener, if any: its URL is data too, the second
        // line on stdout (written with the first, in one write).
        let metrics_listener = match args.metrics {
            Some(at) => Some(
                tokio::net::TcpListener::bind(at)
                    .await
                    .with_context(|| format!("could not listen on {at} for the metrics"))?,
            ),
            None => None,
        };
        let metrics_url = match &metrics_listener {
            Some(listener) => Some(format!("http://{}/metrics", listener.local_addr()?)),
            None => None,
        };
        // The address is data (a script started us on port 0): stdout.
        match &metrics_url {
            Some(metrics_url) => println!("{url}\n{metrics_url}"),
            None => println!("{url}"),
        }
        eprintln!(
            "doorstep server listening on {url} (database {location}); at most {} connections, {} per address; Ctrl-C stops it",
            limits.max_connections,
            if limits.max_per_address == 0 {
                "no cap".to_string()
            } else {
                limits.max_per_address.to_string()
            },
        );
        let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics_task = metrics_listener.map(|listener| {
            eprintln!(
                "Prometheus metrics on {} (no token: keep this address private)",
                metrics_url.as_deref().unwrap_or_default()
            );
            tokio::spawn(doorstep_server::serve_metrics(listener, metrics, async {
                let _ = metrics_stopped.await;
            }))
        });
        match &enrol.public_url {
            Some(public) => eprintln!("enrolment QR codes send devices to {public}"),
            None if address.ip().is_unspecified() => eprintln!(
                "warning: enrolment QR codes would send devices to {url}, which no device can reach; give --public-url"
            ),
            None => {}
        }
        match &bucket {
            Some(bucket) => eprintln!(
                "attached files are kept in {bucket}, uploads under way in {}",
                files.display()
            ),
            None => eprintln!("attached files are kept in {}", files.display()),
        }
        if !https && !address.ip().is_loopback() {
            eprintln!(
                "warning: serving plain http:// on {address}: devices refuse plain http:// except on loopback; use --tls-cert/--tls-key or a reverse proxy"
            );
        }
        let served = doorstep_server::serve_with(listener, store, options, async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("stopping: finishing requests in flight");
        })
        .await
        .context("the server failed");
        let _ = stop_metrics.send(());
        if let Some(task) = metrics_task {
            task.await
                .context("the metrics listener failed")?
                .context("the metrics listener failed")?;
        }
        served
    })
}
