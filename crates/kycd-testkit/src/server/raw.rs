//! A plain HTTP/1.1 connection, for what a pooled client hides (keep-alive behaviour,
//! answers before the whole body is read).

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 response read off a raw connection.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or("").to_owned()
    }
}

/// A complete HTTP/1.1 response at the start of `buf`, if there is one yet, with the
/// number of bytes it takes.
pub(super) fn parse_http_response(buf: &[u8]) -> Option<(RawResponse, usize)> {
    let end = memchr::memmem::find(buf, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
            match k.as_str() {
                "content-length" => length = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
            headers.push((k, v));
        }
    }
    let rest = &buf[end + 4..];
    if chunked {
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            let line_end = memchr::memmem::find(&rest[pos..], b"\r\n")? + pos;
            let size_txt = String::from_utf8_lossy(&rest[pos..line_end]);
            let size = usize::from_str_radix(size_txt.split(';').next()?.trim(), 16).ok()?;
            pos = line_end + 2;
            if size == 0 {
                // No trailers are expected: the final CRLF follows.
                if rest.len() < pos + 2 {
                    return None;
                }
                let r = RawResponse { status, headers, body };
                return Some((r, end + 4 + pos + 2));
            }
            if rest.len() < pos + size + 2 {
                return None;
            }
            body.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
    }
    let length = length.unwrap_or(0);
    if rest.len() < length {
        return None;
    }
    let r = RawResponse {
        status,
        headers,
        body: rest[..length].to_vec(),
    };
    Some((r, end + 4 + length))
}

/// A plain HTTP/1.1 connection, for what a pooled client hides (keep-alive behaviour).
pub struct RawConn {
    stream: tokio::net::TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl RawConn {
    pub async fn open(base: &str) -> RawConn {
        let host = base.strip_prefix("http://").expect("http base").to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await.expect("connect");
        RawConn {
            stream,
            host,
            buf: Vec::new(),
        }
    }

    /// Send a request and read its answer at the same time, so a server that answers
    /// before reading the whole body is heard. Returns how the write ended and the answer.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (Result<(), String>, Result<RawResponse, String>) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let (mut rd, mut wr) = self.stream.split();
        let buf = &mut self.buf;
        let write = async {
            let w = async {
                wr.write_all(head.as_bytes()).await?;
                wr.write_all(body).await?;
                wr.flush().await
            };
            match tokio::time::timeout(Duration::from_secs(10), w).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("write error: {e}")),
                Err(_) => Err("the server stopped reading the body".to_owned()),
            }
        };
        let read = async {
            let r = tokio::time::timeout(Duration::from_secs(20), async {
                let mut tmp = [0u8; 16384];
                loop {
                    if let Some((resp, used)) = parse_http_response(buf) {
                        buf.drain(..used);
                        return Ok(resp);
                    }
                    match rd.read(&mut tmp).await {
                        Ok(0) => return Err("connection closed by the server".to_owned()),
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        Err(e) => return Err(format!("read error: {e}")),
                    }
                }
            })
            .await;
            r.unwrap_or_else(|_| Err("no answer within 20 s".into()))
        };
        tokio::join!(write, read)
    }
}
