//! The metrics endpoint: `GET /metrics` over HTTP, on threads of its own, so a scrape never
//! waits for the watch driver and the driver never waits for a scrape.
//!
//! tiny_http parses the requests (a small, synchronous server with no async runtime to
//! bring along; it answers malformed requests with 400 by itself and `HEAD` without a body).
//! It reads each connection on a thread of its own, so a client that sends a request slowly,
//! or never finishes one, holds only its own thread. It sets no limit on a request's size nor
//! a read timeout, so the endpoint is for loopback or a trusted network, which is how
//! `deploy/` binds it.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};
use tiny_http::{Header, Method, Request, Response, Server};

use super::exposition::Format;
use super::registry::Metrics;

/// How long the serving thread waits for a request before it looks at the stop flag: the
/// bound on how long dropping the handle can take (plus one render in progress).
const POLL: Duration = Duration::from_millis(100);

/// A response write that makes no progress for this long fails: a scraper that stops
/// reading cannot hold a responder thread for ever. Set on the listening socket, whose
/// accepted connections inherit it (Linux copies SO_SNDTIMEO on accept).
const WRITE_TIMEOUT_S: i64 = 10;

const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>synprobe</title></head>\n\
<body><h1>synprobe watch</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

/// The endpoint could not start. Its text names the flag and the address, as the
/// operator typed them: `--metrics-listen 127.0.0.1:9100: address in use`.
#[derive(Debug, thiserror::Error)]
#[error("--metrics-listen {addr}: {}", plain(.source))]
pub struct ServeError {
    pub addr: SocketAddr,
    #[source]
    pub source: io::Error,
}

fn plain(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => "address in use".into(),
        io::ErrorKind::AddrNotAvailable => "no interface of this machine has that address".into(),
        io::ErrorKind::PermissionDenied => {
            "permission denied (a port below 1024 needs CAP_NET_BIND_SERVICE)".into()
        }
        _ => e.to_string(),
    }
}

/// The running endpoint. Dropping it stops the serving thread and closes the listening
/// socket; a response still being written finishes (or times out) on its own thread.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The bound address (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            // A panic in the serving thread has already been reported; nothing to add.
            let _ = t.join();
        }
    }
}

/// Binds `addr` and serves `metrics` on it until the handle is dropped.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, ServeError> {
    let err = |source: io::Error| ServeError { addr, source };
    let listener = TcpListener::bind(addr).map_err(err)?;
    setsockopt(
        &listener,
        sockopt::SendTimeout,
        &TimeVal::seconds(WRITE_TIMEOUT_S),
    )
    .map_err(|e| err(e.into()))?;
    let local = listener.local_addr().map_err(err)?;
    let server =
        Server::from_listener(listener, None).map_err(|e| err(io::Error::other(e.to_string())))?;
    let server = Arc::new(server);
    let stop = Arc::new(AtomicBool::new(false));

    let thread = {
        let (server, stop) = (server.clone(), stop.clone());
        thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || run(&server, &stop, &metrics, local))
            .map_err(err)?
    };
    Ok(MetricsServer {
        addr: local,
        stop,
        server,
        thread: Some(thread),
    })
}

fn run(server: &Server, stop: &AtomicBool, metrics: &Arc<Metrics>, local: SocketAddr) {
    while !stop.load(Ordering::Relaxed) {
        match server.recv_timeout(POLL) {
            Ok(Some(request)) => dispatch(request, metrics),
            Ok(None) => {}
            Err(e) => {
                // tiny_http's accept thread has ended (e.g. out of file descriptors): no
                // request can come any more. The watch goes on; say so once.
                eprintln!("synprobe: metrics endpoint {local} stopped: {e}");
                return;
            }
        }
    }
}

/// Answers on a thread of its own, so a scraper that reads slowly delays no other.
fn dispatch(request: Request, metrics: &Arc<Metrics>) {
    let m = metrics.clone();
    let spawned = thread::Builder::new()
        .name("metrics-reply".into())
        .spawn(move || respond(request, &m));
    if let Err(e) = spawned {
        // No thread to be had: the request is gone with the closure; the scraper retries.
        eprintln!("synprobe: metrics endpoint: cannot answer a request: {e}");
    }
}

fn respond(request: Request, metrics: &Metrics) {
    let reply = answer(
        request.method(),
        request.url(),
        header(&request, "Accept"),
        metrics,
    );
    let mut response = Response::from_string(reply.body).with_status_code(reply.status);
    response.add_header(content_type(reply.content_type));
    if reply.status == 405 {
        response.add_header(Header::from_bytes("Allow", "GET, HEAD").expect("valid header"));
    }
    // The scraper may have gone away or stopped reading: nothing to do about it here.
    let _ = request.respond(response);
}

/// What a request gets, decided apart from the socket so it is tested without one.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

pub fn answer(method: &Method, url: &str, accept: Option<&str>, metrics: &Metrics) -> Reply {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if !matches!(method, Method::Get | Method::Head) {
        return Reply {
            status: 405,
            content_type: PLAIN,
            body: "only GET and HEAD\n".into(),
        };
    }
    let path = url.split(['?', '#']).next().unwrap_or("");
    match path {
        "/metrics" => {
            let format = Format::from_accept(accept);
            Reply {
                status: 200,
                content_type: format.content_type(),
                body: metrics.render_as(format),
            }
        }
        "/" => Reply {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: INDEX.into(),
        },
        _ => Reply {
            status: 404,
            content_type: PLAIN,
            body: "not found: the metrics are at /metrics\n".into(),
        },
    }
}

fn header<'r>(request: &'r Request, name: &'static str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn content_type(value: &'static str) -> Header {
    // Our own constants: always valid header bytes.
    Header::from_bytes("Content-Type", value).expect("valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_by_method_and_path() {
        let m = Metrics::new();
        let get = |url: &str| answer(&Method::Get, url, None, &m);
        assert_eq!(get("/metrics").status, 200);
        assert_eq!(get("/metrics?debug=1").status, 200);
        assert_eq!(get("/").status, 200);
        assert_eq!(get("/nothing").status, 404);
        assert_eq!(get("").status, 404);
        assert_eq!(get("http://example.test/metrics").status, 404);
        assert_eq!(answer(&Method::Head, "/metrics", None, &m).status, 200);
        assert_eq!(answer(&Method::Post, "/metrics", None, &m).status, 405);
        let om = answer(
            &Method::Get,
            "/metrics",
            Some("application/openmetrics-text"),
            &m,
        );
        assert_eq!(om.content_type, Format::OpenMetrics.content_type());
    }

    #[test]
    fn bind_errors_in_plain_words() {
        let addr: SocketAddr = "127.0.0.1:9100".parse().unwrap();
        let e = |kind| ServeError {
            addr,
            source: io::Error::from(kind),
        };
        assert_eq!(
            e(io::ErrorKind::AddrInUse).to_string(),
            "--metrics-listen 127.0.0.1:9100: address in use"
        );
        assert_eq!(
            e(io::ErrorKind::AddrNotAvailable).to_string(),
            "--metrics-listen 127.0.0.1:9100: no interface of this machine has that address"
        );
    }
}
