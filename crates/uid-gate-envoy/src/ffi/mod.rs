//! The one module with `unsafe`: the hooks Envoy calls and the callbacks it exports, declared
//! by hand from Envoy's `source/extensions/dynamic_modules/abi/abi.h` (no bindgen here).
//!
//! Rules this module keeps, each block says which it relies on:
//! - a buffer Envoy hands over is valid only during the hook that got it: it is borrowed for
//!   that hook and never kept;
//! - the filter configuration (a `Config`) is created on Envoy's main thread and shared,
//!   immutable but for atomics and a mutex, by every worker until Envoy destroys it;
//! - no panic unwinds into Envoy: every hook runs under `catch_unwind`, and a request whose
//!   hook panicked is answered 503 (fail closed).

// The one place `unsafe` is allowed (the crate denies it elsewhere), and every block says why
// it is sound: the compiler and clippy hold both rules, not a text scan.
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
// The exported hooks take Envoy's raw pointers: only Envoy calls them, with the pointers the
// ABI guarantees, so declaring them unsafe would change nothing for their one (C) caller.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::c_void;

use uid_gate_core::Reason;

use crate::filter::Gate;
use crate::stream::Stream;

/// The ABI version this module is built against: Envoy 1.40's (a mismatch is a warning in
/// Envoy's log; tests/it/envoy_module.rs pins the Envoy version).
pub const ABI_VERSION: &[u8] = b"v0.2.0\0";

/// `envoy_dynamic_module_type_envoy_buffer`: bytes owned by Envoy.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyBuffer {
    ptr: *const u8,
    len: usize,
}

/// `envoy_dynamic_module_type_module_buffer`: bytes owned by this module.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleBuffer {
    ptr: *const u8,
    len: usize,
}

impl ModuleBuffer {
    fn of(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    const NULL: Self = Self {
        ptr: std::ptr::null(),
        len: 0,
    };
}

/// `envoy_dynamic_module_type_module_http_header`.
#[repr(C)]
pub(crate) struct ModuleHttpHeader {
    key: ModuleBuffer,
    value: ModuleBuffer,
}

impl EnvoyHttpHeader {
    const EMPTY: Self = Self {
        key: EnvoyBuffer {
            ptr: std::ptr::null(),
            len: 0,
        },
        value: EnvoyBuffer {
            ptr: std::ptr::null(),
            len: 0,
        },
    };
}

/// The most request headers one listing holds; a request with more is read header by header.
const LISTED_HEADERS: usize = 32;

/// `envoy_dynamic_module_type_http_header_type_RequestHeader`.
const REQUEST_HEADER: u32 = 0;
/// `..._on_http_filter_request_headers_status_Continue` / `_StopIteration` (and `Continue`
/// is 0 in every other status enum).
const CONTINUE: u32 = 0;
const STOP_ITERATION: u32 = 1;
/// `envoy_dynamic_module_type_log_level_Error`.
const LOG_ERROR: u32 = 4;

unsafe extern "C" {
    fn envoy_dynamic_module_callback_http_get_header(
        filter: *mut c_void,
        header_type: u32,
        key: ModuleBuffer,
        result: *mut EnvoyBuffer,
        index: usize,
        optional_size: *mut usize,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_get_headers_size(
        filter: *mut c_void,
        header_type: u32,
    ) -> usize;
    fn envoy_dynamic_module_callback_http_get_headers(
        filter: *mut c_void,
        header_type: u32,
        result: *mut EnvoyHttpHeader,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_header(
        filter: *mut c_void,
        header_type: u32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_add_header(
        filter: *mut c_void,
        header_type: u32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_send_response(
        filter: *mut c_void,
        status: u32,
        headers: *mut ModuleHttpHeader,
        headers_len: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );
    fn envoy_dynamic_module_callback_http_set_dynamic_metadata_string(
        filter: *mut c_void,
        namespace: ModuleBuffer,
        key: ModuleBuffer,
        value: ModuleBuffer,
    );
    fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: *mut c_void,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_len: usize,
        counter_id: *mut usize,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter: *mut c_void,
        counter_id: usize,
        label_values: *mut ModuleBuffer,
        label_values_len: usize,
        value: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(
        config: *mut c_void,
    ) -> *mut c_void;
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
        scheduler: *mut c_void,
        event_id: u64,
    );
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(scheduler: *mut c_void);
    fn envoy_dynamic_module_callback_http_filter_config_http_callout(
        config: *mut c_void,
        callout_id: *mut u64,
        cluster: ModuleBuffer,
        headers: *mut ModuleHttpHeader,
        headers_len: usize,
        body: ModuleBuffer,
        timeout_ms: u64,
    ) -> u32;
}

/// `envoy_dynamic_module_type_envoy_http_header`: a header of the request's map or of a
/// callout's response, bytes owned by Envoy.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyHttpHeader {
    key: EnvoyBuffer,
    value: EnvoyBuffer,
}

/// The one event the configuration's scheduler carries: fetch the JWKS URL.
const FETCH_JWKS: u64 = 1;
/// `envoy_dynamic_module_type_http_callout_init_result_Success` and `..._result_Success`.
const SUCCESS: u32 = 0;
/// `envoy_dynamic_module_type_log_level_Info` and `_Warn` (spdlog's levels).
const LOG_INFO: u32 = 2;
const LOG_WARN: u32 = 3;

/// The in-module filter configuration: the gate, one Envoy counter per reason, and the
/// scheduler that runs JWKS fetches on Envoy's main thread (null without a JWKS URL).
pub(crate) struct Config {
    gate: Gate,
    counters: Vec<Option<usize>>,
    scheduler: *mut c_void,
}

impl Config {
    /// Asks Envoy's main thread to fetch the JWKS when one is due (from any thread).
    fn fetch_jwks_if_due(&self) {
        if !self.scheduler.is_null() && self.gate.jwks_due(uid_gate_core::unix_now()) {
            // SAFETY: the scheduler lives as long as this configuration (deleted in
            // `config_destroy`); committing is allowed from any thread.
            unsafe {
                envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
                    self.scheduler,
                    FETCH_JWKS,
                )
            };
        }
    }
}

fn log(level: u32, message: &str) {
    // SAFETY: the buffer is valid for the call; Envoy copies it into its log.
    unsafe { envoy_dynamic_module_callback_log(level, ModuleBuffer::of(message.as_bytes())) }
}

/// Envoy's view of one stream, for the duration of one hook.
pub(crate) struct EnvoyStream<'c> {
    filter: *mut c_void,
    counters: &'c [Option<usize>],
}

impl Stream for EnvoyStream<'_> {
    fn header(&self, name: &str, index: usize) -> (Option<&[u8]>, usize) {
        let mut result = EnvoyBuffer {
            ptr: std::ptr::null(),
            len: 0,
        };
        let mut count = 0usize;
        // The returned buffer points into Envoy's header map, which is not modified before
        // this hook returns except by `set_header`; the borrow of `self` keeps callers from
        // holding it across that.
        // SAFETY: `self.filter` is the live filter of the running hook; key and out-parameters
        // are valid for the call.
        let found = unsafe {
            envoy_dynamic_module_callback_http_get_header(
                self.filter,
                REQUEST_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                &mut result,
                index,
                &mut count,
            )
        };
        if !found || result.ptr.is_null() {
            return (None, count);
        }
        // SAFETY: Envoy guarantees `ptr` points to `len` readable bytes for this hook.
        (
            Some(unsafe { std::slice::from_raw_parts(result.ptr, result.len) }),
            count,
        )
    }

    fn headers<'s>(&'s self, visit: &mut dyn FnMut(&'s [u8], &'s [u8])) -> bool {
        // SAFETY: `self.filter` is the live filter of the running hook.
        let count = unsafe {
            envoy_dynamic_module_callback_http_get_headers_size(self.filter, REQUEST_HEADER)
        };
        if count > LISTED_HEADERS {
            return false;
        }
        let mut listed = [EnvoyHttpHeader::EMPTY; LISTED_HEADERS];
        // SAFETY: live filter; Envoy writes `count` entries, and `listed` has room for
        // LISTED_HEADERS >= count of them: the map cannot change between the two calls, which
        // run on this hook's thread with no setter in between.
        if !unsafe {
            envoy_dynamic_module_callback_http_get_headers(
                self.filter,
                REQUEST_HEADER,
                listed.as_mut_ptr(),
            )
        } {
            return false;
        }
        for header in &listed[..count] {
            // SAFETY: each buffer points into Envoy's header map, readable and unchanged for
            // this hook until a setter runs; the borrow of `self` keeps callers from holding
            // the slices across `set_header` or `add_header`.
            let (name, value) = unsafe {
                (
                    slice_of(header.key.ptr, header.key.len),
                    slice_of(header.value.ptr, header.value.len),
                )
            };
            visit(name, value);
        }
        true
    }

    fn add_header(&mut self, name: &str, value: &str) {
        // SAFETY: live filter, module buffers valid for the call (Envoy copies them).
        unsafe {
            envoy_dynamic_module_callback_http_add_header(
                self.filter,
                REQUEST_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                ModuleBuffer::of(value.as_bytes()),
            );
        }
    }

    fn set_header(&mut self, name: &str, value: Option<&str>) {
        let value = value.map_or(ModuleBuffer::NULL, |v| ModuleBuffer::of(v.as_bytes()));
        // SAFETY: live filter, module buffers valid for the call (Envoy copies them); a null
        // value removes the header.
        unsafe {
            envoy_dynamic_module_callback_http_set_header(
                self.filter,
                REQUEST_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                value,
            );
        }
    }

    fn send_response(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8], details: &str) {
        let mut vector: Vec<ModuleHttpHeader> = headers
            .iter()
            .map(|(k, v)| ModuleHttpHeader {
                key: ModuleBuffer::of(k.as_bytes()),
                value: ModuleBuffer::of(v.as_bytes()),
            })
            .collect();
        // SAFETY: live filter; the header vector, body and details outlive the call, and Envoy
        // copies them into its local reply.
        unsafe {
            envoy_dynamic_module_callback_http_send_response(
                self.filter,
                u32::from(status),
                vector.as_mut_ptr(),
                vector.len(),
                ModuleBuffer::of(body),
                ModuleBuffer::of(details.as_bytes()),
            );
        }
    }

    fn record(&mut self, reason: Reason) {
        // SAFETY: live filter, buffers valid for the call; the counter id was defined on the
        // configuration this filter was created from.
        unsafe {
            // Only denies: an allow's reason is in the counters, and the metadata costs a
            // protobuf Struct per request.
            if reason.deny_kind().is_some() {
                envoy_dynamic_module_callback_http_set_dynamic_metadata_string(
                    self.filter,
                    ModuleBuffer::of(b"uid_gate"),
                    ModuleBuffer::of(b"reason"),
                    ModuleBuffer::of(reason.code().as_bytes()),
                );
            }
            if let Some(Some(id)) = self.counters.get(reason.index()) {
                envoy_dynamic_module_callback_http_filter_increment_counter(
                    self.filter,
                    *id,
                    std::ptr::null_mut(),
                    0,
                    1,
                );
            }
        }
    }

    fn log(&mut self, warning: bool, message: &str) {
        log(if warning { LOG_WARN } else { LOG_INFO }, message);
    }
}

fn log_error(message: &str) {
    log(LOG_ERROR, message);
}

/// Envoy's buffers of one hook as a slice (empty for null).
///
/// # Safety
/// `ptr` is null or points to `len` initialised elements that stay readable and unchanged for
/// `'a`: what Envoy hands the running hook, for no longer than that hook runs.
unsafe fn slice_of<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the caller's promise (above): `len` readable elements for `'a`.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

mod hooks;
mod jwks;
