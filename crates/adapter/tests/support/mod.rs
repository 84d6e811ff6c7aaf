//! A tiny local HTTP server whose answers each test scripts, and which logs when each request
//! arrived: the platform side of the client-layer tests.

#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

/// One scripted answer: a status and an optional `Retry-After` value; status [`HANG`] answers
/// 200 only after a minute, for timeouts.
/// The scripted status of an answer that takes a minute.
pub const HANG: u16 = 0;

pub type Scripted = (u16, Option<&'static str>);

#[derive(Clone, Default)]
pub struct Server {
    /// Answers still to give, per path; an empty script answers 200.
    script: Arc<Mutex<HashMap<String, VecDeque<Scripted>>>>,
    /// Every request that arrived: its path and when.
    log: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Server {
    pub async fn start() -> (Self, SocketAddr) {
        let server = Self::default();
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (server, addr)
    }

    pub fn script(&self, path: &str, answers: &[Scripted]) {
        self.script
            .lock()
            .unwrap()
            .insert(path.to_owned(), answers.iter().copied().collect());
    }

    pub fn arrivals(&self, path: &str) -> Vec<Instant> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(p, _)| p == path)
            .map(|(_, at)| *at)
            .collect()
    }
}

async fn answer(State(server): State<Server>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    server
        .log
        .lock()
        .unwrap()
        .push((path.clone(), Instant::now()));
    let next = server
        .script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    match next {
        None => (StatusCode::OK, r#"{"ok":true}"#).into_response(),
        Some((HANG, _)) => {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            StatusCode::OK.into_response()
        }
        Some((status, retry_after)) => {
            let mut response = StatusCode::from_u16(status).unwrap().into_response();
            if let Some(value) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static(value));
            }
            response
        }
    }
}
