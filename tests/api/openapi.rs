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
        seen, 65,
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
