//! A webhook receiver: a real HTTP server that records every request and answers 200,
//! or what a test injects (`fail`), and can be started on a fixed port.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::http::{FakeServer, Fault, Recorded, text_response};

pub struct Receiver {
    server: FakeServer,
}

impl Receiver {
    pub fn start() -> Receiver {
        Self::start_at("127.0.0.1:0")
    }

    pub fn start_at(addr: &str) -> Receiver {
        let server = FakeServer::start_at(
            addr,
            Box::new(|_req: &Recorded| text_response(200, "ok")),
            |code| text_response(code, "injected failure"),
            None,
        );
        Receiver { server }
    }

    /// A loopback address nothing listens on (yet): a receiver that is down.
    pub fn free_addr() -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }

    pub fn fail(&self, route: &str, fault: Fault) {
        self.server.fail(route, fault);
    }

    /// Waits (up to `secs`) until at least `n` requests arrived; returns them.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<Recorded> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() > until {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
