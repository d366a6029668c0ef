//! What serving a stored image costs without kycd around it: the floor under
//! `bench/serve-vs-nginx`'s image row (docs/BENCHMARKS.md, issue 23 §4).
//!
//! One HTTP/1 server (hyper, as kycd's `http_server.rs` runs it) on a multi-threaded tokio
//! runtime, with two routes over the same file:
//! - `/mem`: the plaintext from memory, one `Bytes` clone per request: only the socket
//!   copy and the kernel's TCP path, what any user-space server pays that cannot `sendfile`.
//! - `/blob`: the file sealed once into a local blob folder by kycd-store (`put_blob`, the
//!   chunked format) and read back per request with `Store::get_blob_stream`: the read,
//!   the AES-GCM opening and the socket copy, without API key, routing, audit entry or
//!   database reads.
//!
//! Usage: `serve_floor FILE` prints `listening on http://ADDR` and serves until killed.

use axum::body::Bytes;
use kycd_core::{FileId, TenantId};
use kycd_store::{Database, MasterKey};
use std::convert::Infallible;
use std::sync::Arc;

type Answer = hyper::Response<axum::body::Body>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: serve_floor FILE"))?;
    let plain = Bytes::from(std::fs::read(&path)?);
    let dir = tempfile::tempdir()?;
    let db = Database::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("kycd.db").display())).await?;
    db.migrate().await?;
    std::fs::create_dir_all(dir.path().join("blobs"))?;
    let blobs = object_store::local::LocalFileSystem::new_with_prefix(dir.path().join("blobs"))?;
    let store = Arc::new(db.unlock(MasterKey::generate().0, Arc::new(blobs)).await?);
    let (tenant, file) = (TenantId::generate(), FileId::generate());
    let (blob_key, wrapped) = store.put_blob(&tenant, &file, &plain).await?;
    let blob = Arc::new((tenant, file, blob_key, wrapped));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        // As kycd's `http_server.rs` sets it.
        stream.set_nodelay(true)?;
        let (plain, store, blob) = (plain.clone(), store.clone(), blob.clone());
        let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let (plain, store, blob) = (plain.clone(), store.clone(), blob.clone());
            async move { Ok::<_, Infallible>(answer(req.uri().path(), plain, &store, &blob).await) }
        });
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

async fn answer(path: &str, plain: Bytes, store: &kycd_store::Store, blob: &(TenantId, FileId, String, String)) -> Answer {
    let len = plain.len();
    let body = match path {
        "/mem" => axum::body::Body::from(plain),
        "/blob" => match store.get_blob_stream(&blob.0, &blob.1, &blob.2, &blob.3).await {
            Ok(stream) => axum::body::Body::from_stream(stream),
            Err(e) => return status(500, &e.to_string()),
        },
        _ => return status(404, "the routes are /mem and /blob"),
    };
    let mut resp = hyper::Response::new(body);
    resp.headers_mut().insert(hyper::header::CONTENT_LENGTH, len.into());
    resp.headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("image/jpeg"));
    resp
}

fn status(code: u16, why: &str) -> Answer {
    let mut resp = hyper::Response::new(axum::body::Body::from(why.to_owned()));
    *resp.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp
}
