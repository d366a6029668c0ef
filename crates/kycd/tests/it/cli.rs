//! The operator CLI: tenants, keys, migrations and the audit chain; the settings as
//! `--help` lists them (every one with its variable and default), the value lists of
//! `--kind`, `--scope` and the like, `--listen`'s form, the invitation link's URL, and the
//! switches that turn face matching and HEIC off.

use crate::common::assert_refused_from_variable;
use crate::flow::{approve, session_to_review, verification_body};
use crate::harness::{Server, str_field};
use serde_json::Value;

fn is_key(k: &str, mode: &str) -> bool {
    k.strip_prefix(&format!("kycd_{mode}_"))
        .is_some_and(|rest| rest.len() >= 32 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[tokio::test]
async fn tenant_and_apikey_commands() {
    let s = Server::start().await;
    assert!(is_key(&s.admin_key, "test"), "first start is in test mode: {}", s.admin_key);

    s.cli(&["migrate"]).await.success();

    let out = s.cli(&["tenant", "create", "--name", "Test Co", "--json"]).await.success_json();
    let obj = out.as_object().unwrap_or_else(|| panic!("{out}"));
    for f in ["tenant_id", "api_key", "key_id"] {
        assert!(obj.get(f).is_some_and(Value::is_string), "tenant create --json has {f}: {out}");
    }
    let test_key = str_field(&out, "api_key");
    assert!(str_field(&out, "key_id").starts_with("key_"), "{out}");
    assert!(is_key(&test_key, "test"), "default tenant is test mode: {test_key}");
    let tid = str_field(&out, "tenant_id");

    let live = s
        .cli(&["tenant", "create", "--name", "Live Co", "--live", "--json"])
        .await
        .success_json();
    let live = crate::harness::TenantKeys {
        tenant_id: str_field(&live, "tenant_id"),
        api_key: str_field(&live, "api_key"),
        key_id: str_field(&live, "key_id"),
    };
    let live_key = live.api_key.clone();
    assert!(live.key_id.starts_with("key_"), "{live:?}");
    assert!(is_key(&live_key, "live"), "--live gives a live key: {live_key}");
    assert_ne!(live.tenant_id, tid);

    let list = s.cli(&["tenant", "list", "--json"]).await.success_json();
    let txt = list.to_string();
    assert!(txt.contains(&tid) && txt.contains(&live.tenant_id), "tenant list: {list}");
    assert!(!txt.contains(&test_key), "tenant list never shows keys: {list}");

    // Keys work, each in its own tenant.
    let t = s.client_for(&test_key);
    let v = crate::flow::create_verification(&t, &verification_body("Cli Person", "cli@example.org")).await;
    s.client_for(&live_key)
        .get(&format!("/v1/verifications/{}", str_field(&v, "id")))
        .await
        .problem(404, "not-found");

    for scope in ["integration", "reviewer", "admin"] {
        let k = s
            .cli(&["apikey", "create", "--tenant", &tid, "--scope", scope, "--json"])
            .await
            .success_json();
        assert!(str_field(&k, "key_id").len() > 4, "{k}");
        let key = str_field(&k, "api_key");
        assert!(is_key(&key, "test"), "{key}");
        s.client_for(&key).get("/v1/verifications").await.ok();
    }
    let bad = s
        .cli(&["apikey", "create", "--tenant", &tid, "--scope", "superuser", "--json"])
        .await;
    assert_ne!(bad.code, Some(0), "an unknown scope is refused: {bad:?}");
    let bad = s.cli(&["apikey", "revoke", "key_doesNotExist0000000000000"]).await;
    assert_ne!(bad.code, Some(0), "revoking an unknown key fails: {bad:?}");
}

#[tokio::test]
async fn audit_verify_detects_tampering() {
    let mut s = Server::start().await;
    let api = s.admin();
    let sess = session_to_review(&api, &verification_body("Audit Person", "audit@example.org"), 91).await;
    approve(&api, &sess.vid).await;
    api.get(&format!("/v1/verifications/{}/report", sess.vid)).await.ok();

    let ok = s.cli(&["audit", "verify"]).await;
    ok.success();
    let line = ok
        .stdout
        .lines()
        .find(|l| l.contains("audit chain ok: "))
        .unwrap_or_else(|| panic!("audit verify prints 'audit chain ok: N entries': {}", ok.all_output()));
    let n: u64 = line
        .split("audit chain ok: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("entry count in {line:?}"));
    assert!(n >= 10, "a full session writes many audit entries, got {n}");

    s.stop().await;
    let changed = s.inst.execute_sql("UPDATE audit_entries SET action = 'x' WHERE seq = 2").await;
    assert!(changed >= 1);
    let broken = s.cli(&["audit", "verify"]).await;
    assert!(
        broken.code.is_some_and(|c| c != 0),
        "audit verify must fail on a tampered chain: {broken:?}"
    );
    let all = broken.all_output();
    assert!(all.contains("audit chain broken"), "{all}");
    assert!(all.contains("seq 2"), "names the broken entry: {all}");
    assert!(all.contains("ten_"), "names the tenant: {all}");
}

/// A database migrated by a newer kycd: `kycd migrate` refuses and says which version to
/// run; other commands (as `serve` during a rolling upgrade) only warn and carry on.
#[tokio::test]
async fn migrate_refuses_a_schema_newer_than_its_code() {
    let inst = crate::harness::Instance::new().await;
    inst.cli(&["migrate"]).await.success();
    inst.execute_sql("INSERT INTO kycd_migrations (version, name, applied_at) VALUES (999999, 'from_the_future', 0)")
        .await;
    let refused = inst.cli(&["migrate"]).await;
    assert_ne!(refused.code, Some(0), "{refused:?}");
    let all = refused.all_output();
    assert!(
        all.contains("the database has migration 999999 but this kycd knows migrations up to"),
        "{all}"
    );
    let listed = inst.cli(&["tenant", "list"]).await;
    listed.success();
    assert!(listed.all_output().contains("newer than this kycd"), "{listed:?}");
}

/// `kycd seed` fills a test-mode tenant with synthetic verifications the API lists and
/// pages through like real ones; live tenants and bad arguments are refused.
#[tokio::test]
async fn seed_fills_a_test_tenant_and_refuses_live_ones() {
    let s = Server::start().await;
    let t = s.cli(&["tenant", "create", "--name", "Seeded", "--json"]).await.success_json();
    let tid = str_field(&t, "tenant_id");
    let out = s.cli(&["seed", "--tenant", &tid, "--verifications", "250", "--batch", "40"]).await;
    out.success();
    assert!(out.stdout.contains("seeded 250 verification(s)"), "{}", out.all_output());
    let api = s.client_for(&str_field(&t, "api_key"));
    let mut seen = std::collections::BTreeSet::new();
    let mut statuses = std::collections::BTreeMap::new();
    let mut cursor = String::new();
    let mut last_created = String::from("~");
    loop {
        let q = if cursor.is_empty() {
            String::new()
        } else {
            format!("&cursor={cursor}")
        };
        let page = api.get(&format!("/v1/verifications?limit=100{q}")).await.ok();
        for v in crate::flow::data(&page) {
            let created = str_field(&v, "created_at");
            assert!(created <= last_created, "newest first: {created} after {last_created}");
            last_created = created;
            *statuses.entry(str_field(&v, "status")).or_insert(0) += 1;
            assert!(seen.insert(str_field(&v, "id")), "no verification twice: {v}");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 250, "{statuses:?}");
    assert_eq!(statuses.get("approved"), Some(&(250 / 20 * 12 + 10)), "{statuses:?}");
    let review = api.get("/v1/verifications?limit=100&status=review_required").await.ok();
    assert_eq!(crate::flow::data(&review).len(), 24, "{review}");
    // Seeded people are readable like real ones (sealed, then opened).
    let first = crate::flow::data(&review)[0].clone();
    let applicant = api.get(&format!("/v1/applicants/{}", str_field(&first, "applicant_id"))).await.ok();
    assert!(applicant.to_string().contains("Seed Person"), "{applicant}");
    // The sweep leaves seeded data alone.
    s.cli(&["purge", "--tenant", &tid]).await.success();
    assert_eq!(
        crate::flow::data(&api.get("/v1/verifications?limit=100&status=created").await.ok()).len(),
        12
    );

    let live = s
        .cli(&["tenant", "create", "--name", "Live", "--live", "--json"])
        .await
        .success_json();
    let refused = s
        .cli(&["seed", "--tenant", &str_field(&live, "tenant_id"), "--verifications", "5"])
        .await;
    assert_eq!(refused.code, Some(1), "{}", refused.all_output());
    assert!(refused.stderr.contains("live mode"), "{}", refused.stderr);
    let bad = s.cli(&["seed", "--tenant", &tid, "--verifications", "0"]).await;
    assert!(
        bad.code != Some(0) && bad.stderr.contains("--verifications"),
        "{}",
        bad.all_output()
    );
    let unknown = s
        .cli(&["seed", "--tenant", "ten_doesNotExist000000000000", "--verifications", "5"])
        .await;
    assert!(
        unknown.code != Some(0) && unknown.stderr.contains("tenant"),
        "{}",
        unknown.all_output()
    );
}

/// `kycd check --json`: one line per file with the fields the issue names, the face
/// found on a selfie, an unreadable file reported (exit 1), and a kind kycd makes itself
/// refused.
#[tokio::test]
async fn check_prints_one_json_line_per_file() {
    let Some((passport, _, birth)) = crate::decision::passport() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let doc = write("passport.jpg", &passport);
    let selfie = write("selfie.png", &crate::harness::selfie_png(3));
    let junk = write("notes.txt", b"not an image");
    let run = |args: Vec<String>| {
        let out = std::process::Command::new(crate::harness::BIN).args(&args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(vec!["check".into(), "--json".into(), doc.clone()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let line: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["file"], doc.as_str());
    assert_eq!(line["feedback"], serde_json::json!([]), "{line}");
    assert_eq!(line["mrz"]["valid"], true, "{line}");
    assert_eq!(line["mrz"]["lines"].as_array().map(Vec::len), Some(2), "{line}");
    assert_eq!(line["mrz"]["fields"]["birth_date"], birth.as_str(), "{line}");
    assert!(line["barcode"].is_null(), "{line}");

    // The same photo as HEIC reads the same; a cut-off HEIC says it is damaged.
    let rgb = image::load_from_memory(&passport).unwrap().into_rgb8();
    let heic = kycd_checks::heic::encode_heic(&rgb, 90).unwrap();
    let heic_doc = write("passport.heic", &heic);
    let cut = write("cut.heic", &heic[..heic.len() / 3]);
    let (code, stdout, stderr) = run(vec!["check".into(), "--json".into(), heic_doc, cut.clone()]);
    assert_eq!(code, Some(1), "the damaged HEIC fails the run: {stdout}{stderr}");
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["mrz"]["fields"]["birth_date"], birth.as_str(), "{}", lines[0]);
    assert_eq!(lines[1]["file"], cut.as_str(), "{}", lines[1]);
    assert!(lines[1]["error"].as_str().unwrap().contains("HEIC"), "{}", lines[1]);

    let (code, stdout, _) = run(vec![
        "check".into(),
        "--json".into(),
        "--kind".into(),
        "selfie".into(),
        selfie,
        junk,
    ]);
    assert_eq!(code, Some(1), "the unreadable file fails the run: {stdout}");
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(
        lines[0]["faces"].as_array().map(Vec::len),
        Some(1),
        "one face on the selfie: {}",
        lines[0]
    );
    assert_eq!(lines[0]["accepted"], true, "{}", lines[0]);
    assert!(lines[1]["accepted"].is_null(), "{}", lines[1]);
    let decoded = &lines[1]["checks"][0];
    assert_eq!(decoded["passed"], false, "{}", lines[1]);
    assert!(
        decoded["detail"].as_str().unwrap().contains("not a JPEG, PNG, WebP or HEIC"),
        "{}",
        lines[1]
    );

    let (code, _, stderr) = run(vec!["check".into(), "--kind".into(), "document_portrait".into(), doc.clone()]);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("invalid value 'document_portrait' for '--kind <KIND>'")
            && stderr.contains("[possible values: document_front, document_back, selfie, liveness_burst]"),
        "{stderr}"
    );

    // With HEIC turned off, a HEIC file is refused, saying so; the JPEG still reads.
    let out = std::process::Command::new(crate::harness::BIN)
        .args(["check", "--json", &heic_doc_path(&dir), &doc])
        .env("KYCD_HEIC", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines[0]["error"].as_str().unwrap().contains("KYCD_HEIC=off"), "{}", lines[0]);
    assert_eq!(lines[1]["mrz"]["valid"], true, "{}", lines[1]);
}

fn heic_doc_path(dir: &tempfile::TempDir) -> String {
    dir.path().join("passport.heic").display().to_string()
}

/// `kycd ARGS…` with `env` added (no instance: for help and argument errors).
fn kycd(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(crate::harness::BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The environment variables the binary's source declares (`env = "KYCD_…"`).
fn declared_env_vars() -> std::collections::BTreeSet<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut names = std::collections::BTreeSet::new();
    let mut files = vec![src];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for part in text.split("env = \"").skip(1) {
            names.insert(part.split('"').next().unwrap().to_owned());
        }
        // No setting is read behind clap's back.
        for hand_read in ["var(\"KYCD_", "var_os(\"KYCD_", "from_env(\"KYCD_", "env(\"KYCD_"] {
            assert!(
                !text.contains(hand_read),
                "{hand_read} in {path:?}: read settings through config::Settings"
            );
        }
    }
    assert!(names.len() >= 30, "{names:?}");
    names
}

/// `kycd --help` is the reference: every variable the binary reads is listed with its
/// flag and a default (or what it is when unset); docs/deployment.md names every one.
#[test]
fn help_lists_every_setting_with_its_variable_and_default() {
    let (code, help, _) = kycd(&["--help"], &[]);
    assert_eq!(code, Some(0), "{help}");
    // Settings of one subcommand only (serve's metrics address) are in its help.
    let (code, serve_help, _) = kycd(&["serve", "--help"], &[]);
    assert_eq!(code, Some(0), "{serve_help}");
    // One block per option: from an option line (`      --name`, at most 6 spaces in;
    // a value list's `- value:` lines sit deeper) to the next.
    let mut blocks: Vec<String> = Vec::new();
    for line in help.lines().chain(serve_help.lines()) {
        let rest = line.trim_start();
        if rest.starts_with('-') && line.len() - rest.len() <= 6 {
            blocks.push(String::new());
        }
        if let Some(b) = blocks.last_mut() {
            b.push_str(line.trim());
            b.push(' ');
        }
    }
    let deployment = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deployment.md")).unwrap();
    for name in declared_env_vars() {
        let block = blocks
            .iter()
            .find(|b| b.contains(&format!("[env: {name}")))
            .unwrap_or_else(|| panic!("{name} is not in kycd --help:\n{help}"));
        assert!(block.starts_with("--"), "{name} has a flag: {block}");
        assert!(block.to_lowercase().contains("default"), "{name}'s help says its default: {block}");
        assert!(deployment.contains(&name), "docs/deployment.md does not mention {name}");
    }
    let joined = blocks.join("\n");
    for want in [
        "[env: KYCD_LISTEN=] [default: 127.0.0.1:8080]",
        "[env: KYCD_DATA_DIR=] [default: ./kycd-data]",
        "[default: on] [possible values: on, off]",
        "[possible values: local, s3]",
        "- json: One JSON object per line",
    ] {
        assert!(joined.contains(want), "{want} in:\n{joined}");
    }
    // Secrets are never echoed from the environment.
    let (_, help, _) = kycd(
        &["--help"],
        &[
            ("KYCD_S3_SECRET_ACCESS_KEY", "s3cr3t-value"),
            ("KYCD_DATABASE_URL", "postgres://u:pw-value@h/db"),
        ],
    );
    assert!(!help.contains("s3cr3t-value") && !help.contains("pw-value"), "{help}");
    // This is a testing build (the tests turn the feature on): the hooks are listed as such.
    assert!(help.contains("Test hooks (testing builds only"), "{help}");
    // A subcommand's help lists the settings too.
    let (code, serve, _) = kycd(&["serve", "--help"], &[]);
    assert_eq!(code, Some(0));
    assert!(
        serve.contains("--listen <HOST:PORT>") && serve.contains("[env: KYCD_LISTEN=]"),
        "{serve}"
    );
}

/// `--kind`, `--scope`, `--role`, `--format`, `--status` and the on/off settings take
/// their values from a list that `--help` shows and an error repeats.
#[test]
fn value_lists_are_in_help_and_errors() {
    for (args, want) in [
        (
            &["check", "--help"][..],
            "[possible values: document_front, document_back, selfie, liveness_burst]",
        ),
        (&["apikey", "create", "--help"], "[possible values: integration, reviewer, admin]"),
        (&["apikey", "create", "--help"], "[default: kycd] [possible values: kycd, checkout]"),
        (
            &["operator", "add", "--help"],
            "[default: reviewer] [possible values: reviewer, admin]",
        ),
        (&["jobs", "list", "--help"], "[possible values: queued, running, done, failed]"),
        (&["tenant", "features", "--help"], "[possible values: express_qes_evidence]"),
    ] {
        let (code, out, _) = kycd(args, &[]);
        assert_eq!(code, Some(0), "{args:?}");
        // The layout (one line or several per option) is clap's: compare the words.
        let words = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains(want), "{args:?}: {want} in:\n{out}");
    }
    let (code, _, err) = kycd(&["apikey", "create", "--tenant", "ten_x", "--scope", "superuser"], &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("invalid value 'superuser' for '--scope <SCOPE>'") && err.contains("[possible values: integration, reviewer, admin]"),
        "{err}"
    );
    let (code, _, err) = kycd(&["migrate"], &[("KYCD_FACE_MATCHING", "maybe")]);
    assert_eq!(code, Some(2));
    assert_refused_from_variable(&err, "invalid value 'maybe' for '--face-matching", "KYCD_FACE_MATCHING");
}

/// An empty variable counts as unset, a subcommand's as much as a global one (an
/// EnvironmentFile line `KYCD_METRICS_TOKEN=` does not stop the server), and a bad value
/// in a subcommand's variable names the variable.
#[tokio::test]
async fn empty_variables_are_unset_and_bad_ones_are_named() {
    let s = Server::start_with_env(&[("KYCD_METRICS_TOKEN", ""), ("KYCD_METRICS_LISTEN", ""), ("KYCD_PUBLIC_URL", "")]).await;
    s.admin().get("/v1/verifications").await.ok();
    let (code, _, err) = kycd(&["serve"], &[("KYCD_METRICS_LISTEN", "9090")]);
    assert_eq!(code, Some(2), "{err}");
    let invalid = "invalid value '9090' for '--metrics-listen <HOST:PORT>'";
    assert_refused_from_variable(&err, invalid, "KYCD_METRICS_LISTEN");
}

/// `--listen` wants host:port and says so; an address in use is said as such.
#[tokio::test]
async fn serve_listen_says_the_form_it_wants() {
    for (args, env) in [
        (&["serve", "--listen", "localhost"][..], &[][..]),
        (&["serve"], &[("KYCD_LISTEN", "localhost")]),
    ] {
        let (code, _, err) = kycd(args, env);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("invalid value 'localhost' for '--listen <HOST:PORT>'") && err.contains("host:port (e.g. 127.0.0.1:8080"),
            "{err}"
        );
        assert_eq!(
            err.contains("the value comes from the environment variable KYCD_LISTEN"),
            !env.is_empty(),
            "{err}"
        );
    }
    let (code, _, err) = kycd(&["serve", "--listen", "127.0.0.1:http"], &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("the port 'http' is not a number"), "{err}");

    let inst = crate::harness::Instance::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = inst.cli(&["serve", "--listen", &addr]).await;
    assert_eq!(out.code, Some(1), "{}", out.all_output());
    assert!(
        out.stderr.contains(&format!("cannot listen on {addr}: another server is using it")),
        "{}",
        out.stderr
    );
}

/// `operator add` prints the invitation link at the configured public URL, and without
/// one at the listen address, saying how to set it. The link's token works on the server.
#[tokio::test]
async fn operator_add_links_to_the_public_url() {
    let s = Server::start().await;
    let t = s.cli(&["tenant", "create", "--name", "Linked", "--json"]).await.success_json();
    let tid = str_field(&t, "tenant_id");
    let add = |email: &'static str, env: Vec<(&'static str, &'static str)>| {
        let (s, tid) = (&s, tid.clone());
        async move {
            s.inst
                .cli_env(&["operator", "add", "--tenant", &tid, "--email", email, "--json"], &env)
                .await
        }
    };
    let out = add("a@example.org", vec![("KYCD_PUBLIC_URL", "https://kyc.example.com/")]).await;
    let url = str_field(&out.success_json(), "invitation_url");
    assert!(url.starts_with("https://kyc.example.com/console/invite?token="), "{url}");
    assert!(!out.stderr.contains("no public URL"), "{}", out.stderr);
    let page = reqwest::get(format!("{}{}", s.base, &url["https://kyc.example.com".len()..]))
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the link's token opens the invitation page");

    let out = add("b@example.org", vec![("KYCD_LISTEN", "127.0.0.1:9137")]).await;
    let url = str_field(&out.success_json(), "invitation_url");
    assert!(url.starts_with("http://127.0.0.1:9137/console/invite?token="), "{url}");
    assert!(
        out.stderr.contains("no public URL is set") && out.stderr.contains("KYCD_PUBLIC_URL"),
        "{}",
        out.stderr
    );
}

/// With HEIC turned off the server refuses HEIC uploads (415, saying why and what to
/// send) and takes the same photo as a JPEG.
#[tokio::test]
async fn heic_off_refuses_heic_uploads() {
    let s = Server::start_with_env(&[("KYCD_HEIC", "off")]).await;
    let api = s.admin();
    let v = crate::flow::create_verification(&api, &verification_body("Heic Off", "heic@example.org")).await;
    let vid = str_field(&v, "id");
    crate::flow::create_attempt(&api, &vid).await;
    let rgb = image::load_from_memory(&crate::harness::document_jpeg(5)).unwrap().into_rgb8();
    let heic = kycd_checks::heic::encode_heic(&rgb, 90).unwrap();
    let p = api
        .post_raw(&format!("/v1/verifications/{vid}/captures?kind=document_front"), "image/heic", heic)
        .await
        .problem(415, "unsupported-media-type");
    assert!(
        p.to_string().contains("KYCD_HEIC=off") && p.to_string().contains("JPEG, PNG or WebP"),
        "{p}"
    );
    let c = crate::flow::upload(&api, &vid, "document_front", "image/jpeg", &crate::harness::document_jpeg(5)).await;
    assert_eq!(c["media_type"], "image/jpeg", "{c}");
}
