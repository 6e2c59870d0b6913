//! Fetching the JWKS URL on Envoy's main thread: a scheduled event starts an HTTP callout
//! through the generated cluster, and its answer replaces the keys (or keeps the last good ones).

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::*;

/// Main thread: a scheduled JWKS fetch starts, as an HTTP callout through the cluster the
/// generated configuration names.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    config_envoy: *mut c_void,
    config_module: *const c_void,
    event_id: u64,
) {
    if event_id != FETCH_JWKS || config_module.is_null() {
        return;
    }
    // SAFETY: `config_module` is the live `Config` this scheduler belongs to (the scheduler is
    // deleted before the configuration is dropped).
    let config = unsafe { &*config_module.cast::<Config>() };
    let started = catch_unwind(AssertUnwindSafe(|| {
        let Some(source) = config.gate.jwks_source() else {
            return;
        };
        let mut headers = [
            (":method", "GET"),
            (":path", source.path.as_str()),
            ("host", source.authority.as_str()),
            ("accept", "application/json"),
        ]
        .map(|(k, v)| ModuleHttpHeader {
            key: ModuleBuffer::of(k.as_bytes()),
            value: ModuleBuffer::of(v.as_bytes()),
        });
        let mut id = 0u64;
        // SAFETY: main thread, live configuration; every buffer outlives the call (Envoy
        // copies the request).
        let result = unsafe {
            envoy_dynamic_module_callback_http_filter_config_http_callout(
                config_envoy,
                &mut id,
                ModuleBuffer::of(source.cluster.as_bytes()),
                headers.as_mut_ptr(),
                headers.len(),
                ModuleBuffer::NULL,
                u64::try_from(uid_gate_core::refresh::FETCH_TIMEOUT.as_millis())
                    .unwrap_or(u64::MAX),
            )
        };
        if result != SUCCESS {
            let _ = config.gate.jwks_fetched(uid_gate_core::unix_now(), None);
            log(
                LOG_WARN,
                &format!(
                    "uid-gate: the JWKS fetch could not start (callout result {result}); keeping the last good keys"
                ),
            );
        }
    }));
    if started.is_err() {
        log_error("uid-gate: the JWKS fetch failed inside the module");
    }
}

/// Main thread: the JWKS fetch answered (or failed). A 200 with usable keys replaces them;
/// anything else keeps the last good keys and tries again soon.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    _config_envoy: *mut c_void,
    config_module: *const c_void,
    _callout_id: u64,
    result: u32,
    headers: *const EnvoyHttpHeader,
    headers_len: usize,
    chunks: *const EnvoyBuffer,
    chunks_len: usize,
) {
    if config_module.is_null() {
        return;
    }
    // SAFETY: as in `config_scheduled`: the live configuration.
    let config = unsafe { &*config_module.cast::<Config>() };
    let done = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: each buffer, header and chunk is what Envoy handed this hook, valid until
        // it returns; nothing borrowed here outlives the closure, which runs inside the hook.
        let bytes = |b: &EnvoyBuffer| unsafe { slice_of(b.ptr, b.len) };
        // SAFETY: as above: `headers_len` headers from Envoy, for this hook only.
        let headers = unsafe { slice_of(headers, headers_len) };
        let ok = result == SUCCESS
            && headers
                .iter()
                .any(|h| bytes(&h.key) == b":status" && bytes(&h.value) == b"200");
        let document = ok.then(|| {
            // SAFETY: as above: `chunks_len` chunks from Envoy, for this hook only.
            unsafe { slice_of(chunks, chunks_len) }
                .iter()
                .flat_map(|c| bytes(c).iter().copied())
                .collect::<Vec<u8>>()
        });
        if let Err(why) = config
            .gate
            .jwks_fetched(uid_gate_core::unix_now(), document.as_deref())
        {
            log(
                LOG_WARN,
                &format!("uid-gate: JWKS refresh failed ({why}); keeping the last good keys"),
            );
        }
    }));
    if done.is_err() {
        log_error("uid-gate: the JWKS answer failed inside the module");
    }
}
