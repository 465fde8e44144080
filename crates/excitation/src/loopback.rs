//! A minimal HTTP/1.1 server on 127.0.0.1 for testing download code without a network
//! (compiled with the `testing` feature, and for this crate's own tests).
//!
//! Every request is read up to its blank line, recorded, and answered with the matching
//! [`Route`] (or 404) and `Connection: close`. The server thread runs until the process ends.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// What the server answers at one path.
#[derive(Debug, Clone)]
pub struct Route {
    /// The request path, e.g. `/m/file.gz`.
    pub path: String,
    /// The body sent.
    pub body: Vec<u8>,
    /// The `Content-Length` announced, when it should differ from the body's length (a
    /// transfer cut short).
    pub announced_len: Option<usize>,
}

impl Route {
    /// `body` at `path`.
    pub fn new(path: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            path: path.into(),
            body,
            announced_len: None,
        }
    }
}

/// A running loopback server.
#[derive(Debug, Clone)]
pub struct LoopbackServer {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl LoopbackServer {
    /// Binds a free port and serves `routes` in a background thread.
    ///
    /// # Panics
    /// If no loopback port can be bound (a test-environment failure).
    pub fn start(routes: Vec<Route>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Ok(read_half) = stream.try_clone() else {
                    continue;
                };
                let mut reader = BufReader::new(read_half);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let route = routes.iter().find(|r| r.path == path);
                let (status, announced, body): (&str, usize, &[u8]) = match route {
                    Some(r) => ("200 OK", r.announced_len.unwrap_or(r.body.len()), &r.body),
                    None => ("404 Not Found", 9, b"not found"),
                };
                log.lock().expect("request log").push(path);
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
                let _ = stream.flush();
            }
        });
        Self { base, requests }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("request log").clone()
    }
}
