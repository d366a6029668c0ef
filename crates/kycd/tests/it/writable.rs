//! The store stays writable, and `/readyz` says when it is not. Clients that hang up
//! mid-request (a load tool ending its run, a phone losing signal, a proxy timing out)
//! must not wedge the server: whatever await point a request is cancelled at, its
//! transaction commits or rolls back, and the next write works.

use crate::flow::{new_verification, session_to_review};
use crate::harness::{Server, on_postgres};
use serde_json::json;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Send `request` and reset the connection (SO_LINGER 0) after `wait`, without reading.
async fn send_and_reset(host: &str, request: &[u8], wait: Duration) {
    let Ok(mut c) = tokio::net::TcpStream::connect(host).await else {
        return;
    };
    if c.write_all(request).await.is_err() {
        return;
    }
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let _ = c.set_zero_linger();
    drop(c);
}

#[tokio::test]
async fn clients_resetting_connections_mid_request_leave_the_store_writable() {
    let s = Server::start().await;
    let api = s.admin();
    let (_, vid) = new_verification(&api, "Hang Up", "hang.up@example.org").await;
    let host = s.base.strip_prefix("http://").unwrap().to_owned();
    // The report writes an audit entry: each request opens a write transaction.
    let request = format!(
        "GET /v1/verifications/{vid}/report HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        s.admin_key
    );

    // 4 clients × 150 requests, each reset right after it is sent, or a moment later, so
    // that the cancellations land on every await point of the handler.
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..4u64 {
        let (host, request) = (host.clone(), request.clone());
        clients.spawn(async move {
            for i in 0..150u64 {
                let wait = Duration::from_micros((i * 7 + client * 13) % 4 * 250);
                send_and_reset(&host, request.as_bytes(), wait).await;
            }
        });
    }
    while let Some(r) = clients.join_next().await {
        r.unwrap();
    }

    // Writes still work (the reproduction answered 500 here, forever).
    for i in 0..3 {
        api.post(
            "/v1/applicants",
            &json!({"full_name": format!("After Hangups {i}"), "email": format!("after{i}@example.org")}),
        )
        .await
        .expect(201);
    }
    api.get(&format!("/v1/verifications/{vid}/report")).await.ok();
    s.anon().get("/readyz").await.expect(200);
    // The worker still runs: a submitted verification is processed to its decision.
    let body = json!({
        "applicant": {"full_name": "Worker Alive", "email": "worker.alive@example.org"},
        "declared_data": {"full_name": "Worker Alive"},
        "policy": {"selfie_required": true}
    });
    session_to_review(&api, &body, 77).await;
    assert!(
        !s.logs().contains("job queue unavailable"),
        "the worker lost the database after the hang-ups:\n{}",
        s.logs()
    );
}

/// An outside connection holding the database's write lock until dropped: SQLite's
/// RESERVED lock (`BEGIN IMMEDIATE`), or on PostgreSQL an exclusive lock on the table
/// the readiness probe writes.
async fn hold_write_lock(s: &Server) -> sqlx::AnyConnection {
    use sqlx::Executor;
    let mut c = s.inst.db_connection().await;
    if on_postgres() {
        c.execute("BEGIN").await.unwrap();
        c.execute("LOCK TABLE readiness_probe IN ACCESS EXCLUSIVE MODE").await.unwrap();
    } else {
        c.execute("BEGIN IMMEDIATE").await.unwrap();
    }
    c
}

#[tokio::test]
async fn readyz_fails_while_the_database_takes_no_writes() {
    let s = Server::start().await;
    let anon = s.anon();
    anon.get("/readyz").await.expect(200);

    let lock = hold_write_lock(&s).await;
    // A `SELECT 1` probe said "ready" here.
    let r = anon.get("/readyz").await;
    let p = r.problem(503, "not-ready");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("write"), "the answer says why: {p}");

    drop(lock);
    // Once the lock is gone the server is ready again (the probe that timed out may
    // still be waiting for the lock a moment).
    let mut last = anon.get("/readyz").await;
    for _ in 0..50 {
        if last.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        last = anon.get("/readyz").await;
    }
    last.expect(200);
    s.admin()
        .post(
            "/v1/applicants",
            &json!({"full_name": "After Lock", "email": "after.lock@example.org"}),
        )
        .await
        .expect(201);
}

/// `/readyz` checks each thing serving needs and names the ones that fail: the models,
/// the blob store, and the master key (the database's key check no longer matching).
#[tokio::test]
async fn readyz_names_each_failing_check() {
    let no_models = tempfile::tempdir().unwrap();
    let s = Server::start_with_env(&[("KYCD_MODEL_DIR", no_models.path().to_str().unwrap())]).await;
    let anon = s.anon();
    let p = anon.get("/readyz").await.problem(503, "not-ready");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("models: the OCR models are not loaded"), "{p}");
    assert!(
        !detail.contains("database") && !detail.contains("blob_store"),
        "only the models fail: {p}"
    );

    // The database's key check value changes (as a rotation by another instance would).
    s.instance()
        .execute_sql("UPDATE master_key SET check_value = 'another-key-check-value' WHERE id = 1")
        .await;
    let p = anon.get("/readyz").await.problem(503, "not-ready");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("master_key: the master key of this instance is no longer the database's"),
        "{p}"
    );

    // The blob folder is gone and a file stands in its place: nothing can be written there.
    if !crate::harness::on_s3() {
        let blobs = s.instance().blob_dir();
        let _ = std::fs::remove_dir_all(&blobs);
        std::fs::write(&blobs, b"not a folder").unwrap();
        let p = anon.get("/readyz").await.problem(503, "not-ready");
        assert!(p["detail"].as_str().unwrap().contains("blob_store: the blob store refuses"), "{p}");
        assert!(s.logs().contains("readiness check failed"), "the cause is logged:\n{}", s.logs());
    }
}
