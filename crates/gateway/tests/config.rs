//! Configuration: valid files load; every bad value is refused naming its key and reason.

use std::path::Path;

use callbridge::config::{Config, ConfigError, LogFormat, render_redacted};
use callbridge_store::{KeyId, SecretKey};

fn key() -> String {
    SecretKey::generate_spec(&KeyId::parse("k1").unwrap()).unwrap()
}

fn minimal(extra: &str) -> String {
    format!(
        "[store]\nurl = \"sqlite:data/cb.db\"\n\n[secrets]\nkeys = [\"{}\"]\n{extra}",
        key()
    )
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, [], Path::new("/etc/callbridge"))
}

fn load_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    Config::from_toml(text, env, Path::new("/etc/callbridge"))
}

fn key_of(result: Result<Config, ConfigError>) -> String {
    match result {
        Err(ConfigError::Invalid { key, .. }) => key,
        Err(other) => panic!("expected an invalid key, got {other}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn minimal_config_gets_production_defaults() {
    let config = load(&minimal("")).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.request_timeout.as_secs(), 15);
    assert_eq!(config.log_format, LogFormat::Json);
    assert_eq!(
        config.store_url.expose(),
        "sqlite:/etc/callbridge/data/cb.db"
    );
    assert!(config.admin_token.is_none());
}

#[test]
fn each_bad_value_names_its_key() {
    let cases = [
        ("[server]\nlisten = \"nowhere\"\n", "server.listen"),
        (
            "[server]\nrequest_timeout = \"soon\"\n",
            "server.request_timeout",
        ),
        (
            "[server]\nrequest_timeout = \"0s\"\n",
            "server.request_timeout",
        ),
        ("[server]\nmax_body_bytes = 10\n", "server.max_body_bytes"),
        ("[server]\npublic_url = \"ftp://x\"\n", "server.public_url"),
        ("[server]\nlisen = \"127.0.0.1:1\"\n", "server.lisen"),
        ("[log]\nformat = \"xml\"\n", "log.format"),
        ("[log]\nlevel = \"[[[\"\n", "log.level"),
        ("[admin]\ntoken = \"short\"\n", "admin.token"),
        (
            "[deployment]\ntenant_id = \"acme\"\n",
            "deployment.tenant_id",
        ),
    ];
    for (extra, expected) in cases {
        assert_eq!(key_of(load(&minimal(extra))), expected, "{extra}");
    }
    assert_eq!(
        key_of(load("[store]\nurl = \"mysql://x\"\n[secrets]\nkeys=[]\n")),
        "store.url"
    );
    assert_eq!(
        key_of(load("[store]\nurl = \"sqlite:x\"\n[secrets]\n")),
        "secrets"
    );
    assert_eq!(key_of(load("[secrets]\nkeys = []\n")), "store");
    assert_eq!(key_of(load("[store]\n[secrets]\nkeys = []\n")), "store.url");
}

#[test]
fn unknown_keys_are_errors_not_silent_defaults() {
    let error = load(&minimal("[server]\nlisten_addr = \"0.0.0.0:1\"\n"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("listen_addr"), "{error}");
}

#[test]
fn bad_keys_are_refused_without_echoing_key_material() {
    let material = "c2hvcnQta2V5LW1hdGVyaWFs";
    let text = format!("[store]\nurl = \"sqlite:x\"\n[secrets]\nkeys = [\"k1:{material}\"]\n");
    let error = load(&text).unwrap_err().to_string();
    assert!(
        error.contains("secrets.keys") && error.contains("32 bytes"),
        "{error}"
    );
    assert!(!error.contains(material));
    let text = format!("{}\nactive_key = \"k9\"\n", minimal(""));
    assert_eq!(key_of(load(&text)), "secrets.active_key");
}

#[test]
fn syntax_errors_are_reported() {
    assert!(matches!(
        load("[server\nlisten ="),
        Err(ConfigError::Syntax(_))
    ));
}

#[test]
fn environment_overrides_file_values() {
    let config = load_env(
        &minimal(""),
        &[
            ("CALLBRIDGE__SERVER__LISTEN", "0.0.0.0:9000"),
            ("CALLBRIDGE__SERVER__MAX_BODY_BYTES", "2048"),
            ("CALLBRIDGE__LOG__FORMAT", "pretty"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(config.max_body_bytes, 2048);
    assert_eq!(config.log_format, LogFormat::Pretty);
    assert_eq!(
        key_of(load_env(
            &minimal(""),
            &[("CALLBRIDGE__SERVER__LISTEN", "x")]
        )),
        "server.listen"
    );
}

#[test]
fn redacted_rendering_hides_secrets() {
    let spec = key();
    let material = spec.split_once(':').unwrap().1.to_owned();
    let text = format!(
        "[store]\nurl = \"postgres://cb:hunter2pass@db/cb\"\n[secrets]\nkeys = [\"{spec}\"]\n[admin]\ntoken = \"admin-token-abcdefghij\"\n"
    );
    let rendered = render_redacted(&load(&text).unwrap());
    for secret in [material.as_str(), "hunter2pass", "admin-token-abcdefghij"] {
        assert!(!rendered.contains(secret), "leaked {secret}: {rendered}");
    }
    assert!(
        rendered.contains("postgres://cb:%3Credacted%3E@db/cb") || rendered.contains("<redacted>")
    );
    assert!(rendered.contains("active_key = \"k1\""));
}
