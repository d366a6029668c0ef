//! The HTTP client of the tests: requests with an API key, answers read whole, and the
//! problem+json check.

use super::raw::parse_http_response;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP response, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub what: String,
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}); status {}, body: {}",
                self.what,
                self.status,
                self.text()
            )
        })
    }

    /// Assert a 2xx answer and return its JSON.
    pub fn ok(&self) -> Value {
        self.assert_success();
        self.json()
    }

    /// Assert a 2xx answer and return its bytes.
    pub fn ok_bytes(&self) -> Vec<u8> {
        self.assert_success();
        self.body.clone()
    }

    fn assert_success(&self) {
        assert!(
            (200..300).contains(&self.status),
            "{}: expected success, got {} {}",
            self.what,
            self.status,
            self.text()
        );
    }

    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{}: expected {status}, got {} {}",
            self.what,
            self.status,
            self.text()
        );
        self
    }

    /// Assert an RFC 9457 problem with the given status and `type` code; returns the body.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_problem(&self.what, self.status, &self.content_type, &self.body, status, code)
    }
}

pub fn assert_problem(what: &str, got_status: u16, content_type: &str, body: &[u8], status: u16, code: &str) -> Value {
    let text = String::from_utf8_lossy(body);
    assert_eq!(got_status, status, "{what}: expected {status} {code}, got {got_status} {text}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "{what}: expected content-type application/problem+json, got {content_type:?}; body {text}"
    );
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{what}: problem body is not JSON ({e}): {text}"));
    assert_eq!(
        v.get("type").and_then(Value::as_str),
        Some(format!("https://kycd.dev/problems/{code}").as_str()),
        "{what}: wrong problem type in {v}"
    );
    assert_eq!(
        v.get("status").and_then(Value::as_u64),
        Some(u64::from(status)),
        "{what}: problem status field in {v}"
    );
    assert!(
        v.get("title").and_then(Value::as_str).is_some_and(|t| !t.trim().is_empty()),
        "{what}: problem needs a non-empty title: {v}"
    );
    assert!(
        v.get("detail").and_then(Value::as_str).is_some_and(|t| !t.trim().is_empty()),
        "{what}: problem needs a non-empty detail: {v}"
    );
    v
}

/// A client bound to one API key (or none).
#[derive(Clone)]
pub struct Api {
    pub(super) http: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, self.url(path));
        if let Some(k) = &self.key {
            r = r.bearer_auth(k);
        }
        r
    }

    pub async fn try_send(&self, what: String, rb: reqwest::RequestBuilder) -> Result<Resp, reqwest::Error> {
        let r = rb.send().await?;
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = r.bytes().await?.to_vec();
        Ok(Resp {
            what,
            status,
            content_type,
            body,
        })
    }

    pub async fn send(&self, what: String, rb: reqwest::RequestBuilder) -> Resp {
        match self.try_send(what.clone(), rb).await {
            Ok(r) => r,
            Err(e) => panic!("{what}: request failed: {e:?}"),
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(format!("GET {path}"), self.req(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(format!("DELETE {path}"), self.req(reqwest::Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(format!("POST {path}"), self.req(reqwest::Method::POST, path).json(body))
            .await
    }

    /// POST with no body at all.
    pub async fn post_empty(&self, path: &str) -> Resp {
        self.send(format!("POST {path}"), self.req(reqwest::Method::POST, path)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(format!("PUT {path}"), self.req(reqwest::Method::PUT, path).json(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(format!("PATCH {path}"), self.req(reqwest::Method::PATCH, path).json(body))
            .await
    }

    /// POST a body as is, with the given Content-Type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        self.send(
            format!("POST {path} ({content_type}, raw)"),
            self.raw_request(path, content_type, body),
        )
        .await
    }

    pub fn raw_request(&self, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.req(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
    }

    /// POST a multipart form with one file field.
    pub async fn post_multipart(&self, path: &str, field: &str, file_name: &str, mime: &str, bytes: Vec<u8>) -> Resp {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .expect("mime");
        let form = reqwest::multipart::Form::new().part(field.to_owned(), part);
        self.send(
            format!("POST {path} (multipart {field})"),
            self.req(reqwest::Method::POST, path).multipart(form),
        )
        .await
    }

    /// POST a raw body over a plain TCP connection: the head declares `total` bytes, the
    /// body starts with `prefix` and goes on with zeros, written while the answer is read,
    /// so a server that refuses early is heard. Returns (status, content-type, body) when
    /// an answer came, or the error text.
    pub async fn post_huge_raw(
        &self,
        path: &str,
        content_type: &str,
        prefix: &[u8],
        total: usize,
    ) -> Result<(u16, String, Vec<u8>), String> {
        let host = self.base.strip_prefix("http://").ok_or("base is not http")?.to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await.map_err(|e| e.to_string())?;
        let (mut rd, mut wr) = stream.into_split();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {total}\r\nConnection: close\r\n"
        );
        if let Some(k) = &self.key {
            head.push_str(&format!("Authorization: Bearer {k}\r\n"));
        }
        head.push_str("\r\n");
        let prefix = prefix.to_vec();
        let writer = tokio::spawn(async move {
            wr.write_all(head.as_bytes()).await?;
            wr.write_all(&prefix).await?;
            let chunk = vec![0u8; 1 << 20];
            let mut left = total.saturating_sub(prefix.len());
            while left > 0 {
                let n = left.min(chunk.len());
                wr.write_all(&chunk[..n]).await?;
                left -= n;
            }
            wr.flush().await?;
            Ok::<_, std::io::Error>(wr)
        });
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(60), async {
            let mut tmp = [0u8; 16384];
            loop {
                let parsed = || parse_http_response(&buf).map(|(r, _)| (r.status, r.content_type(), r.body));
                if let Some(done) = parsed() {
                    return Ok(done);
                }
                match rd.read(&mut tmp).await {
                    Ok(0) => return parsed().ok_or("connection closed".into()),
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    Err(e) => return parsed().ok_or(format!("read error: {e}")),
                }
            }
        })
        .await;
        writer.abort();
        match read {
            Ok(r) => r,
            Err(_) => Err("no answer within 60 s".into()),
        }
    }
}
