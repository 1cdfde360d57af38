//! The metrics endpoint over a real TCP connection on loopback: what a scraper reads,
//! the other paths, and hostile clients that must not break or hang it. No root needed.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use synprobe::health::{Check, Event, Health, Observer, Transition};
use synprobe::metrics::{Metrics, serve};
use synprobe::probe::Reason;

/// Guards against a broken server: a read that would block for ever fails instead.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn loopback() -> SocketAddr {
    addr("127.0.0.1:0")
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn sample(&self, series: &str) -> Option<f64> {
        self.body.lines().find_map(|l| {
            let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
            rest.split(' ').next()?.parse().ok()
        })
    }
}

fn connect(server: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(server).unwrap();
    s.set_read_timeout(Some(HANG_GUARD)).unwrap();
    s.set_write_timeout(Some(HANG_GUARD)).unwrap();
    s
}

/// Sends `request` as is and reads the whole reply (the server closes after it).
fn exchange(server: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = connect(server);
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn get(server: SocketAddr, method: &str, path: &str, accept: Option<&str>) -> Reply {
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{accept}Connection: close\r\n\r\n");
    parse(&exchange(server, request.as_bytes()))
}

fn event(target: SocketAddr, from: Health, to: Health, reason: Reason) -> Event {
    Event {
        target,
        transition: Transition {
            from,
            to,
            reason,
            consecutive: 2,
            rtt: None,
            at_ms: 0,
        },
    }
}

/// Three targets in three known states, as the watch driver would report them.
fn known_fleet() -> Arc<Metrics> {
    let m = Arc::new(Metrics::new());
    let (up, down, new) = (
        addr("198.18.0.1:80"),
        addr("198.18.0.1:81"),
        addr("[2001:db8::2]:443"),
    );
    for t in [up, down, new] {
        m.health(t, Health::Initial);
    }
    m.probes_sent(3);
    m.checked(up, &Check::pass(Duration::from_micros(400)));
    m.checked(down, &Check::fail(Reason::Rst));
    m.checked(new, &Check::fail(Reason::NoResponse));
    m.transition(&event(up, Health::Initial, Health::Healthy, Reason::SynAck));
    m.health(up, Health::Healthy);
    m.transition(&event(
        down,
        Health::Initial,
        Health::Unhealthy,
        Reason::Rst,
    ));
    m.health(down, Health::Unhealthy);
    m
}

#[test]
fn a_scrape_reports_target_up_for_the_known_states() {
    let metrics = known_fleet();
    let server = serve(loopback(), metrics.clone()).unwrap();
    let r = get(server.local_addr(), "GET", "/metrics", None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(
        r.sample(r#"synprobe_target_up{target="198.18.0.1:80"}"#),
        Some(1.0)
    );
    assert_eq!(
        r.sample(r#"synprobe_target_up{target="198.18.0.1:81"}"#),
        Some(0.0)
    );
    assert_eq!(
        r.sample(r#"synprobe_target_up{target="[2001:db8::2]:443"}"#),
        Some(0.0)
    );
    assert_eq!(
        r.sample(r#"synprobe_target_state{target="[2001:db8::2]:443",state="initial"}"#),
        Some(1.0)
    );
    assert_eq!(r.sample("synprobe_probes_sent_total"), Some(3.0));
    assert_eq!(
        r.sample(r#"synprobe_replies_total{kind="no-response"}"#),
        Some(1.0)
    );

    // The endpoint reads the live figures: a reload that drops a target is seen at once.
    metrics.removed(addr("198.18.0.1:81"));
    let r = get(server.local_addr(), "GET", "/metrics", None);
    assert!(!r.body.contains("198.18.0.1:81"), "{}", r.body);
    assert_eq!(
        r.sample(r#"synprobe_targets{state="unhealthy"}"#),
        Some(0.0)
    );
}

#[test]
fn prometheus_asking_for_openmetrics_gets_it() {
    let server = serve(loopback(), known_fleet()).unwrap();
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let r = get(server.local_addr(), "GET", "/metrics", Some(accept));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(r.body.ends_with("# EOF\n"));
    assert_eq!(
        r.sample(r#"synprobe_target_up{target="198.18.0.1:80"}"#),
        Some(1.0)
    );
}

#[test]
fn the_other_paths_and_methods() {
    let server = serve(loopback(), known_fleet()).unwrap();
    let at = server.local_addr();

    let index = get(at, "GET", "/", None);
    assert_eq!(index.status, 200);
    assert!(
        index
            .header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(index.body.contains(r#"<a href="/metrics">"#));

    assert_eq!(get(at, "GET", "/metrics?x=1", None).status, 200);
    assert_eq!(get(at, "GET", "/metric", None).status, 404);
    assert_eq!(get(at, "GET", "/metrics/../etc/passwd", None).status, 404);

    let head = get(at, "HEAD", "/metrics", None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("Content-Type")
            .unwrap()
            .starts_with("text/plain")
    );

    let post = get(at, "POST", "/metrics", None);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow"), Some("GET, HEAD"));
}

#[test]
fn an_address_in_use_is_named_with_the_flag() {
    let taken = TcpListener::bind(loopback()).unwrap();
    let at = taken.local_addr().unwrap();
    let err = serve(at, Arc::new(Metrics::new()))
        .err()
        .expect("bind fails");
    assert_eq!(
        err.to_string(),
        format!("--metrics-listen {at}: address in use")
    );
}

#[test]
fn garbage_gets_an_error_and_the_next_scrape_still_works() {
    let server = serve(loopback(), known_fleet()).unwrap();
    let at = server.local_addr();
    for garbage in [
        &b"\x00\xff\xfe garbage \x01\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"\r\n\r\n\r\n",
        b"",
    ] {
        // Whatever it answers (400, 505, a lenient 200, or nothing), it answers and closes.
        let raw = exchange_closing(at, garbage);
        if !raw.is_empty() {
            let status = parse(&raw).status;
            let shown = String::from_utf8_lossy(garbage);
            assert!((200..600).contains(&status), "{shown:?}: {status}");
        }
    }
    assert_eq!(get(at, "GET", "/metrics", None).status, 200);
}

/// Sends `bytes`, closes the sending side, and reads whatever comes back.
fn exchange_closing(server: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = connect(server);
    s.write_all(bytes).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    // A reset instead of a close is an answer too.
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn an_oversized_request_does_not_stop_the_server() {
    let server = serve(loopback(), known_fleet()).unwrap();
    let at = server.local_addr();
    // 4 MiB of request line with no end, then a header block of 4 MiB of one header.
    let endless = vec![b'A'; 4 << 20];
    let _ = exchange_closing(at, &endless);
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'b', 4 << 20));
    huge.extend(b"\r\nConnection: close\r\n\r\n");
    let _ = exchange_closing(at, &huge);
    assert_eq!(get(at, "GET", "/metrics", None).status, 200);
}

#[test]
fn slow_and_stuck_clients_hold_up_no_other_scrape() {
    let metrics = known_fleet();
    // Enough targets that a reply does not fit in the socket buffers of a client that
    // never reads it.
    for i in 0..60_000u32 {
        let [_, _, a, b] = i.to_be_bytes();
        metrics.health(SocketAddr::from(([198, 19, a, b], 80)), Health::Initial);
    }
    let server = serve(loopback(), metrics).unwrap();
    let at = server.local_addr();

    // Half a request, never finished.
    let mut half = connect(at);
    half.write_all(b"GET /metr").unwrap();
    // A full request whose reply is never read.
    let mut stuck = connect(at);
    stuck
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // An idle connection that says nothing at all.
    let idle = connect(at);

    let r = get(at, "GET", "/metrics", None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.sample(r#"synprobe_targets{state="initial"}"#),
        Some(60_001.0)
    );

    // Dropping the handle returns while those clients still hold their connections.
    drop(server);
    drop((half, stuck, idle));
}

#[test]
fn dropping_the_handle_closes_the_port() {
    let server = serve(loopback(), Arc::new(Metrics::new())).unwrap();
    let at = server.local_addr();
    assert_eq!(get(at, "GET", "/", None).status, 200);
    drop(server);
    // tiny_http's accept thread closes the socket just after the handle is gone: allow it
    // a bounded number of looks.
    let refused = (0..100).any(|_| {
        let gone = TcpStream::connect(at).is_err();
        if !gone {
            thread::sleep(Duration::from_millis(20));
        }
        gone
    });
    assert!(refused, "{at} still accepts connections");
}
