//! A small HTTP/1.1 server on std's TCP: one request per connection (`Connection: close`),
//! bounded headers and bodies, a thread per connection up to a limit. Owning the socket lets a
//! fault close a connection without any answer, as a lost reply looks on the wire.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
const MAX_CONNECTIONS: usize = 64;

pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
}

pub enum Reply {
    Json(u16, Vec<u8>),
    /// Close the connection without a byte of answer.
    Drop,
}

pub fn serve(listener: TcpListener, handler: Arc<dyn Fn(Request) -> Reply + Send + Sync>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            let _ = respond(&stream, 503, b"{\"error\":\"too many connections\"}");
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (active, handler) = (active.clone(), handler.clone());
        std::thread::spawn(move || {
            handle(stream, handler.as_ref());
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn handle(stream: TcpStream, handler: &(dyn Fn(Request) -> Reply + Send + Sync)) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    let request = match read_request(&stream) {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err((status, message)) => {
            let body = serde_json::json!({ "error": message }).to_string();
            let _ = respond(&stream, status, body.as_bytes());
            return;
        }
    };
    match handler(request) {
        Reply::Json(status, body) => {
            let _ = respond(&stream, status, &body);
        }
        Reply::Drop => {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn read_request(stream: &TcpStream) -> Result<Option<Request>, (u16, String)> {
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let read = (&mut reader)
            .take((MAX_HEAD_BYTES + 1 - head.len()) as u64)
            .read_until(b'\n', &mut head)
            .map_err(|e| (400, format!("reading the request: {e}")))?;
        if read == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err((400, "the request ended inside its headers".into()));
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err((431, "request headers too large".into()));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let head = String::from_utf8(head).map_err(|_| (400, "headers are not UTF-8".to_string()))?;
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err((400, "malformed request line".into()));
    };
    if !version.starts_with("HTTP/1.") {
        return Err((505, "HTTP/1.x only".into()));
    }
    let mut length = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if name == "content-length" {
            length = value
                .parse()
                .map_err(|_| (400, "bad Content-Length".to_string()))?;
        } else if name == "transfer-encoding" && !value.eq_ignore_ascii_case("identity") {
            return Err((411, "a Content-Length is required".into()));
        }
    }
    if length > MAX_BODY_BYTES {
        return Err((413, "request body too large".into()));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).map_err(|_| {
        (
            400,
            "the request body is shorter than its Content-Length".to_string(),
        )
    })?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    Ok(Some(Request {
        method: method.to_string(),
        path,
        query,
        body,
    }))
}

fn respond(mut stream: &TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// A query string's value for `name` (percent-decoded).
pub fn query_value(query: &str, name: &str) -> Option<String> {
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == name {
            return Some(percent_decode(value));
        }
    }
    None
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
