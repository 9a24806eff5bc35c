//! The HTTP surface (axum): bearer-token check, then one handler per route
//! of [`crate::api`]. Handlers only translate; jobs live in [`super::Shared`]
//! and [`super::supervise`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;

use super::logs::{PageError, now_ms, read_page};
use super::store::{self, JobFiles};
use super::{Job, Shared, secrecy, validate};
use crate::api::{
    ApiError, ExecutorKind, Health, JobInfo, JobSubmission, LogPage, StopRequest, job_id_for_token,
};

/// Largest archive upload.
const MAX_ARCHIVE: usize = 512 * 1024 * 1024;
/// How long a woken log follower waits for more lines before answering.
const LINGER: Duration = Duration::from_millis(20);
/// Longest a log request may wait for new lines.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// An error reply.
pub struct HttpError(StatusCode, ApiError);

impl HttpError {
    fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        Self(
            status,
            ApiError {
                error: error.into(),
                message: message.into(),
            },
        )
    }

    fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no job {id} on this runner"),
        )
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

type Reply<T> = Result<axum::Json<T>, HttpError>;

/// Every route, behind the token check.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route(
            "/api/archives/{sha}",
            put(put_archive)
                .head(head_archive)
                .layer(DefaultBodyLimit::max(MAX_ARCHIVE)),
        )
        .route("/api/jobs", post(submit).get(list))
        .route("/api/jobs/{id}", get(job_info).delete(delete_job))
        .route("/api/jobs/{id}/logs", get(logs))
        .route("/api/jobs/{id}/stop", post(stop))
        .route("/api/jobs/{id}/artifacts", get(artifacts))
        .layer(middleware::from_fn_with_state(shared.clone(), authorize))
        .with_state(shared)
}

async fn authorize(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), shared.token.as_bytes()) {
        return HttpError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong runner token",
        )
        .into_response();
    }
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn health(State(shared): State<Arc<Shared>>) -> Reply<Health> {
    let (docker, docker_error) = match shared.docker.version().await {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let mut executors = vec![ExecutorKind::Process];
    if docker.is_some() {
        executors.push(ExecutorKind::Docker);
    }
    let active_jobs = shared
        .all_jobs()
        .iter()
        .filter(|j| !j.status().is_finished())
        .count();
    Ok(axum::Json(Health {
        version: env!("CARGO_PKG_VERSION").into(),
        api: crate::api::API_VERSION,
        runner_id: shared.runner_id.clone(),
        pid: std::process::id(),
        executors,
        docker,
        docker_error,
        gpus: shared.gpus.clone(),
        active_jobs,
    }))
}

fn check_sha(sha: &str) -> Result<(), HttpError> {
    validate::check_sha(sha).map_err(|e| HttpError::bad_request(e.to_string()))
}

async fn head_archive(State(shared): State<Arc<Shared>>, Path(sha): Path<String>) -> StatusCode {
    if check_sha(&sha).is_ok() && shared.layout.archive(&sha).is_file() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn put_archive(
    State(shared): State<Arc<Shared>>,
    Path(sha): Path<String>,
    body: Bytes,
) -> Result<StatusCode, HttpError> {
    check_sha(&sha)?;
    let actual = crate::archive::sha256_hex(&body);
    if actual != sha {
        return Err(HttpError::bad_request(format!(
            "the body's SHA-256 is {actual}, not {sha}"
        )));
    }
    let path = shared.layout.archive(&sha);
    tokio::task::spawn_blocking(move || store::write_atomic(&path, &body))
        .await
        .map_err(|e| HttpError::internal(e.to_string()))?
        .map_err(|e| HttpError::internal(format!("cannot store the archive: {e}")))?;
    Ok(StatusCode::CREATED)
}

async fn submit(
    State(shared): State<Arc<Shared>>,
    body: Result<axum::Json<JobSubmission>, JsonRejection>,
) -> Reply<JobInfo> {
    // A body that does not fit the submission's types (a negative or
    // oversized number, a missing field) is a 400 naming the field.
    let axum::Json(sub) = body.map_err(|e| {
        HttpError::bad_request(format!("the submission is not valid: {}", e.body_text()))
    })?;
    let id = job_id_for_token(&sub.token);
    if let Some(existing) = shared.job(&id) {
        return Ok(axum::Json(existing.info()));
    }
    validate::check(&shared, &sub).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let job = {
        let mut jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = jobs.get(&id) {
            return Ok(axum::Json(existing.info()));
        }
        let dir = shared.layout.job(&id);
        let info = JobInfo::submitted(&sub, now_ms());
        // The env (secrets among it) stays in memory; see `secrecy`.
        secrecy::private_dir(&dir)
            .and_then(|()| {
                store::write_json(&dir.join(JobFiles::SUBMISSION), &secrecy::stored(&sub))
            })
            .and_then(|()| store::write_json(&dir.join(JobFiles::INFO), &info))
            .map_err(|e| HttpError::internal(format!("cannot record the job: {e}")))?;
        let job = Arc::new(Job::new(dir, sub, info));
        jobs.insert(id, job.clone());
        job
    };
    let info = job.info();
    shared.spawn_supervisor(job);
    Ok(axum::Json(info))
}

async fn list(State(shared): State<Arc<Shared>>) -> Reply<Vec<JobInfo>> {
    Ok(axum::Json(
        shared.all_jobs().iter().map(|j| j.info()).collect(),
    ))
}

fn find(shared: &Shared, id: &str) -> Result<Arc<Job>, HttpError> {
    shared.job(id).ok_or_else(|| HttpError::not_found(id))
}

async fn job_info(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Reply<JobInfo> {
    Ok(axum::Json(find(&shared, &id)?.info()))
}

/// Query of the logs route.
#[derive(Debug, Deserialize)]
struct LogQuery {
    #[serde(default)]
    offset: u64,
    #[serde(default)]
    wait_ms: u64,
    #[serde(default)]
    limit: Option<u64>,
}

async fn logs(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Reply<LogPage> {
    let job = find(&shared, &id)?;
    let mut progress = job.log.subscribe();
    let wait = Duration::from_millis(q.wait_ms).min(MAX_WAIT);
    let current = *progress.borrow_and_update();
    if q.offset >= current.len && !current.sealed && !wait.is_zero() {
        let asked = tokio::time::Instant::now();
        let woke = tokio::time::timeout(wait, progress.wait_for(|p| p.len > q.offset || p.sealed))
            .await
            .is_ok_and(|r| r.is_ok());
        // A follower woken at once (the job is writing fast) lingers a
        // moment so the page carries what comes right after: fewer, fuller
        // pages. One that waited longer gets the first line after a quiet
        // spell (e.g. a job's first output) at once.
        let sealed = job.log.borrow().sealed;
        if woke && !sealed && asked.elapsed() < LINGER {
            tokio::time::sleep(LINGER).await;
        }
    }
    let now = *job.log.borrow();
    let limit = q
        .limit
        .unwrap_or(4 * 1024 * 1024)
        .clamp(1, 64 * 1024 * 1024);
    let path = job.log_path();
    let page = tokio::task::spawn_blocking(move || read_page(&path, q.offset, now.len, limit))
        .await
        .map_err(|e| HttpError::internal(e.to_string()))?;
    match page {
        Ok((entries, next)) => Ok(axum::Json(LogPage {
            entries,
            next,
            sealed: now.sealed && next >= now.len,
        })),
        Err(e @ PageError::BadOffset(_)) => Err(HttpError::bad_request(e.to_string())),
        Err(PageError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(axum::Json(LogPage {
                entries: Vec::new(),
                next: 0,
                sealed: now.sealed,
            }))
        }
        Err(e) => Err(HttpError::internal(e.to_string())),
    }
}

async fn stop(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Option<axum::Json<StopRequest>>,
) -> Reply<JobInfo> {
    let job = find(&shared, &id)?;
    let request = body.map(|b| b.0).unwrap_or_default();
    if !job.status().is_finished() {
        job.stop.send_if_modified(|current| match current {
            Some(existing) if existing.abort || !request.abort => false,
            _ => {
                *current = Some(request);
                true
            }
        });
    }
    Ok(axum::Json(job.info()))
}

async fn artifacts(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let job = find(&shared, &id)?;
    if !job.status().is_finished() {
        return Err(HttpError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "job {id} is still {}; artifacts are saved when it ends",
                job.status().as_str()
            ),
        ));
    }
    let dir = job.dir.join(JobFiles::ARTIFACTS);
    let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let files = if dir.is_dir() {
            crate::archive::list_files(&dir, &[])?
        } else {
            Vec::new()
        };
        crate::archive::pack(&dir, &files, u64::MAX)
    })
    .await
    .map_err(|e| HttpError::internal(e.to_string()))?
    .map_err(|e| HttpError::internal(format!("cannot pack the artifacts: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/gzip")], bytes).into_response())
}

async fn delete_job(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let job = find(&shared, &id)?;
    if !job.status().is_finished() {
        return Err(HttpError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("job {id} is still {}; stop it first", job.status().as_str()),
        ));
    }
    shared
        .jobs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    let dir = job.dir.clone();
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir))
        .await
        .map_err(|e| HttpError::internal(e.to_string()))?
        .map_err(|e| HttpError::internal(format!("cannot remove the job's files: {e}")))?;
    Ok(StatusCode::NO_CONTENT)
}
