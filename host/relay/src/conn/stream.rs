//! An event stream served outside hyper. A stream is a response that lasts for hours, and for
//! as long as a response lasts hyper keeps its connection's read buffer (8 KiB, reserved again
//! at every read) and its header buffer (8 KiB), neither of which can be set smaller: most of
//! what an idle SSE stream cost (BENCHMARKS.md, "Idle sessions"). Here the request, which
//! `first.rs` has read, goes through the same router (authentication, caps, everything a
//! request through hyper gets), and its response is written as it comes, chunked, with nothing
//! kept between writes; then the connection closes (`Connection: close`), since the stream was
//! its first request and will be its last.

use std::time::SystemTime;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header, response};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tower::ServiceExt as _;

use super::registry::Busy;

/// Answer `request`, read from `io`, with the router, then close the connection.
pub async fn serve<S>(io: S, request: Request<Body>, app: Router, busy: Busy)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _busy = busy;
    // Boxed, so that the router's future (the largest part of this one) is freed once it has
    // answered instead of staying in the state the stream lives in.
    let response = Box::pin(app.oneshot(request))
        .await
        .unwrap_or_else(|e| match e {});
    let (parts, mut body) = response.into_parts();
    let bodiless = matches!(
        parts.status,
        StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
    );
    let head = head(&parts, !bodiless);
    drop(parts);
    let (mut reader, mut writer) = tokio::io::split(io);
    if writer.write_all(&head).await.is_err() || bodiless {
        return;
    }
    drop(head);
    // Whatever the peer sends after its request is not served (the answer said it would
    // close); reading it only tells when the peer has gone, so that its stream ends at once.
    let mut ignored = [0u8; 64];
    loop {
        tokio::select! {
            frame = body.frame() => match frame {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else { continue };
                    if !data.is_empty() && writer.write_all(&chunk(&data)).await.is_err() {
                        return;
                    }
                }
                // Cut off without the last chunk, so that the peer sees a stream that broke
                // rather than one that ended.
                Some(Err(e)) => {
                    tracing::debug!("stream body failed: {e}");
                    return;
                }
                None => break,
            },
            read = reader.read(&mut ignored) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
    if writer.write_all(b"0\r\n\r\n").await.is_ok() {
        let _ = writer.shutdown().await;
    }
}

/// The status line and header fields of `parts`, ending with the connection's own: framing
/// (chunked, when there is a body) and `Connection: close`. Header values are `HeaderValue`s,
/// which cannot hold a line break.
fn head(parts: &response::Parts, body: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let reason = parts.status.canonical_reason().unwrap_or("");
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).as_bytes());
    for (name, value) in &parts.headers {
        // The framing and the connection are this writer's to say.
        if matches!(
            *name,
            header::CONTENT_LENGTH | header::TRANSFER_ENCODING | header::CONNECTION
        ) || name == "keep-alive"
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(header::DATE) {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if body {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out
}

/// `data` as one chunk of a chunked body (RFC 9112 §7.1), in one buffer for one write.
fn chunk(data: &Bytes) -> Vec<u8> {
    let size = format!("{:x}\r\n", data.len());
    let mut out = Vec::with_capacity(size.len() + data.len() + 2);
    out.extend_from_slice(size.as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Response};

    fn parts(status: StatusCode, headers: &[(&str, &str)]) -> response::Parts {
        let mut response = Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(*name, HeaderValue::from_str(value).unwrap());
        }
        response.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_head_keeps_the_routers_fields_and_says_its_own_framing() {
        let head = head(
            &parts(
                StatusCode::OK,
                &[
                    ("content-type", "text/event-stream"),
                    ("content-length", "99"),
                    ("connection", "keep-alive"),
                    ("x-accel-buffering", "no"),
                ],
            ),
            true,
        );
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains("\r\ncontent-type: text/event-stream\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nx-accel-buffering: no\r\n"), "{head}");
        assert!(head.contains("\r\ndate: "), "{head}");
        assert!(
            !head.contains("99") && !head.contains("keep-alive"),
            "{head}"
        );
        assert!(head.ends_with("\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"));

        let refused = String::from_utf8(head_of(StatusCode::NO_CONTENT)).unwrap();
        assert!(refused.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(!refused.contains("transfer-encoding"), "{refused}");
    }

    fn head_of(status: StatusCode) -> Vec<u8> {
        head(&parts(status, &[]), false)
    }

    #[test]
    fn chunks_are_sized_in_hex() {
        assert_eq!(chunk(&Bytes::from_static(b"hello")), b"5\r\nhello\r\n");
        let big = Bytes::from(vec![b'x'; 300]);
        assert!(chunk(&big).starts_with(b"12c\r\nxxx"));
    }
}
