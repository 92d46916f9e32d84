//! The HTTP server: tiny_http (rouille's engine) on a listening socket with TCP_NODELAY,
//! and a fixed set of worker threads that run the rouille handler.
//!
//! Why not `rouille::Server`: it binds its own socket and cannot set TCP_NODELAY.
//! tiny_http writes a response's head and body separately, so without it every
//! response over ~400 bytes on a keep-alive connection waited ~40 ms for the client's
//! delayed ACK (Nagle). Accepted sockets inherit TCP_NODELAY from the listener on Linux.

use std::io::Read;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rouille::{Request, Response};
use socket2::{Domain, Protocol, Socket, Type};

/// Request bodies are read up to this much (routes refuse more than 64 KiB anyway).
const BODY_LIMIT: u64 = 64 * 1024 + 1;

pub fn bind(addr: SocketAddr) -> std::io::Result<tiny_http::Server> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    let listener: std::net::TcpListener = socket.into();
    tiny_http::Server::from_listener(listener, None).map_err(std::io::Error::other)
}

/// Starts `workers` threads answering requests with `handler` until `stop` is raised;
/// each finishes the request it is on (graceful stop).
pub fn spawn_workers<F>(
    server: Arc<tiny_http::Server>,
    workers: usize,
    stop: Arc<AtomicBool>,
    handler: Arc<F>,
) -> std::io::Result<Vec<JoinHandle<()>>>
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    (0..workers)
        .map(|i| {
            let (server, stop, handler) =
                (Arc::clone(&server), Arc::clone(&stop), Arc::clone(&handler));
            std::thread::Builder::new()
                .name(format!("http-{i}"))
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if let Ok(Some(rq)) = server.recv_timeout(Duration::from_millis(100)) {
                            answer(rq, &*handler);
                        }
                    }
                })
        })
        .collect()
}

fn answer<F: Fn(&Request) -> Response>(mut rq: tiny_http::Request, handler: &F) {
    let mut body = Vec::new();
    // A body that cannot be read (client gone, bad chunking) is answered as empty;
    // routes that need a body refuse it.
    let _ = rq.as_reader().take(BODY_LIMIT).read_to_end(&mut body);
    let headers = rq
        .headers()
        .iter()
        .map(|h| (h.field.to_string(), h.value.to_string()))
        .collect();
    let from = rq
        .remote_addr()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let request = Request::fake_http_from(from, rq.method().as_str(), rq.url(), headers, body);
    // Handlers never panic on input, but a bug must cost one request, not the worker.
    let response = catch_unwind(AssertUnwindSafe(|| handler(&request))).unwrap_or_else(|_| {
        crate::log_error!("handler panicked on {} {}", request.method(), request.url());
        Response::text("internal error").with_status_code(500)
    });
    let (data, len) = response.data.into_reader_and_size();
    let mut out = tiny_http::Response::empty(response.status_code).with_data(data, len);
    for (k, v) in &response.headers {
        if k.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            out.add_header(h);
        }
    }
    // Nothing to do if the client went away meanwhile.
    let _ = rq.respond(out);
}
