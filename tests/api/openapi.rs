//! The OpenAPI document is the truth: every operation it describes is
//! mounted (an anonymous call meets the route, not the 404 of a missing
//! one), says whether it is public, and declares the errors with their
//! schema.

use crate::helpers::*;
use serde_json::Value;

const METHODS: [&str; 7] = ["get", "head", "post", "put", "patch", "delete", "options"];

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{variant}" => "thumb".to_string(),
            s if s.starts_with('{') => uuid(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn call(app: &TestApp, method: &str, path: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = app.url(path);
    let r = match method {
        "get" => agent.get(url).call(),
        "head" => agent.head(url).call(),
        "delete" => agent.delete(url).call(),
        "options" => agent.options(url).call(),
        "post" => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send("{}"),
        "put" => agent
            .put(url)
            .header("Content-Type", "application/json")
            .send("{}"),
        _ => agent
            .patch(url)
            .header("Content-Type", "application/json")
            .send("{}"),
    };
    r.map(|r| r.status().as_u16()).unwrap_or(0)
}

#[test]
fn every_documented_operation_is_mounted_public_or_not_and_declares_its_errors() {
    let app = TestApp::spawn();
    let doc = app.get("/api/v1/openapi.json", "").ok(200);
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            seen += 1;
            let public = op["security"] == serde_json::json!([{}]);
            let status = call(&app, method, &concrete(path));
            if public {
                assert!(
                    ![0, 401, 405].contains(&status),
                    "{method} {path} is documented public but answered {status}"
                );
            } else {
                assert_eq!(
                    status, 401,
                    "{method} {path}: an anonymous call must meet the route and be refused"
                );
            }
            let responses = op["responses"].as_object().unwrap();
            for s in ["400", "404", "413", "422", "500", "503"] {
                let r = &responses[s];
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    Value::from("#/components/schemas/ErrorBody"),
                    "{method} {path} does not declare {s}"
                );
            }
            if !public {
                assert!(responses.contains_key("401") && responses.contains_key("403"));
            }
        }
    }
    // The whole API, the tus verbs and the document itself included.
    assert_eq!(
        seen, 92,
        "operations documented: a new route needs its place here"
    );
    for (m, p) in [
        ("head", "/api/v1/uploads/{id}"),
        ("options", "/api/v1/uploads"),
        ("get", "/api/v1/openapi.json"),
    ] {
        assert!(doc["paths"][p][m].is_object(), "{m} {p} is not documented");
    }
    // A path the server does not have is 404, a method it does not have on
    // a path it has is 405 with `Allow`.
    assert_eq!(call(&app, "get", "/api/v1/nowhere"), 404);
    let r = app.raw("PUT", "/api/v1/sync/pull", "", "application/json", b"{}");
    assert_eq!(r.status, 405);
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")));
}

/// utoipa names a schema component after its type and keeps only one of
/// two types of the same name: the other's answers are then described
/// wrongly (the push answer's item kind once took the checklist's). Every
/// type that derives `ToSchema` has a name of its own.
#[test]
fn no_two_schemas_share_a_name() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    let mut clashes = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut derives = false;
        let mut renamed: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[derive(") && line.contains("ToSchema") {
                derives = true;
            } else if let Some(rest) = line.strip_prefix("#[schema(as = ") {
                renamed = rest.split(')').next().map(str::to_string);
            } else if derives
                && let Some(rest) = line
                    .strip_prefix("pub struct ")
                    .or_else(|| line.strip_prefix("pub enum "))
                    .or_else(|| line.strip_prefix("struct "))
                    .or_else(|| line.strip_prefix("enum "))
            {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let name = renamed.take().unwrap_or(name);
                let here = f.display().to_string();
                if let Some(other) = seen.insert(name.clone(), here.clone()) {
                    clashes.push(format!("{name}: {other} and {here}"));
                }
                derives = false;
            } else if !line.starts_with("#[") && !line.starts_with("///") && !line.is_empty() {
                derives = false;
                renamed = None;
            }
        }
    }
    assert!(seen.len() > 40, "found only {} schemas", seen.len());
    assert!(clashes.is_empty(), "{}", clashes.join("\n"));
}
