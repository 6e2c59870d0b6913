//! The hooks of one HTTP stream and of a filter configuration's life.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use uid_gate_core::Reason;

use super::*;
use crate::filter::{Gate, Verdict, internal, render};
use crate::settings;

/// Envoy loads the module: the ABI version it was built for.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const u8 {
    ABI_VERSION.as_ptr()
}

/// A filter configuration: the core validates the variables; a refusal names the variable in
/// Envoy's log and fails the configuration load (null).
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy: *mut c_void,
    _name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    let built = catch_unwind(AssertUnwindSafe(|| {
        let json = if config.ptr.is_null() {
            &[][..]
        } else {
            // SAFETY: Envoy passes `config.len` readable bytes, valid during this hook; they
            // are parsed (copied) before it returns.
            unsafe { std::slice::from_raw_parts(config.ptr, config.len) }
        };
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        if cfg!(feature = "bench-null-filter") || cfg!(feature = "bench-abi-filter") {
            log(
                LOG_WARN,
                "uid-gate: THIS IS A BENCHMARK-ONLY MODULE: it lets every request through unchecked",
            );
        }
        let settings = match settings::from_config(json, env) {
            Ok(s) => {
                for w in &s.warnings {
                    log(LOG_WARN, &format!("uid-gate: warning: {w}"));
                }
                s
            }
            Err(e) => {
                log_error(&format!(
                    "uid-gate: the filter configuration is refused: {e}"
                ));
                return std::ptr::null();
            }
        };
        let counters = Reason::ALL
            .iter()
            .map(|r| {
                let name = format!("uid_gate.{}", r.code());
                let mut id = 0usize;
                // SAFETY: `config_envoy` is the configuration being created (main thread),
                // where counters may be defined; the name is valid for the call.
                let result = unsafe {
                    envoy_dynamic_module_callback_http_filter_config_define_counter(
                        config_envoy,
                        ModuleBuffer::of(name.as_bytes()),
                        std::ptr::null_mut(),
                        0,
                        &mut id,
                    )
                };
                (result == 0).then_some(id)
            })
            .collect();
        let gate = match Gate::new(settings) {
            Ok(gate) => gate,
            Err(e) => {
                log_error(&format!(
                    "uid-gate: the filter configuration is refused: {e}"
                ));
                return std::ptr::null();
            }
        };
        let scheduler = if gate.jwks_source().is_some() {
            // SAFETY: `config_envoy` is the configuration being created, on the main thread.
            unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_new(config_envoy) }
        } else {
            std::ptr::null_mut()
        };
        let config = Box::new(Config {
            gate,
            counters,
            scheduler,
        });
        // The first fetch, as soon as the main thread is free: until it lands, tokens signed
        // with JWKS keys get 401 unknown_kid (as from the service before its first fetch).
        config.fetch_jwks_if_due();
        Box::into_raw(config) as *const c_void
    }));
    built.unwrap_or_else(|_| {
        log_error("uid-gate: the filter configuration failed inside the module");
        std::ptr::null()
    })
}

/// Envoy drops a filter configuration.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: *mut c_void) {
    if config.is_null() {
        return;
    }
    // SAFETY: `config` came from `Box::into_raw` in `config_new`, and Envoy destroys it once,
    // after every filter created from it is gone.
    let config = unsafe { Box::from_raw(config.cast::<Config>()) };
    if !config.scheduler.is_null() {
        // SAFETY: the scheduler was created for this configuration and is deleted once, here.
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_scheduler_delete(config.scheduler)
        };
    }
}

/// A stream starts: the filter keeps no per-stream state, so its pointer is the configuration.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config: *const c_void,
    _filter_envoy: *mut c_void,
) -> *const c_void {
    config
}

/// Request headers: the decision.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter_envoy: *mut c_void,
    filter_module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    // The benchmark's floor (`bench-null-filter`): the same module, reading and deciding nothing.
    if cfg!(feature = "bench-null-filter") {
        return CONTINUE;
    }
    // SAFETY: `filter_module` is the `Config` returned by `config_new` (through `filter_new`),
    // alive while any filter made from it exists; it is only read (atomics and a mutex inside).
    let config = unsafe { &*filter_module.cast::<Config>() };
    let mut stream = EnvoyStream {
        filter: filter_envoy,
        counters: &config.counters,
    };
    let verdict = catch_unwind(AssertUnwindSafe(|| {
        let verdict = config.gate.on_request_headers(&mut stream);
        // A token with an unknown kid may have made a fetch due; so may the refresh interval.
        config.fetch_jwks_if_due();
        verdict
    }));
    match verdict {
        Ok(Verdict::Continue) => CONTINUE,
        Ok(Verdict::Stop) => STOP_ITERATION,
        Err(_) => {
            // Fail closed: the request is answered 503, never let through.
            let answered = catch_unwind(AssertUnwindSafe(|| {
                let mut stream = EnvoyStream {
                    filter: filter_envoy,
                    counters: &config.counters,
                };
                render(internal(&stream), &mut stream, true)
            }));
            if answered.is_err() {
                log_error("uid-gate: a request could not be answered after a fault");
            }
            STOP_ITERATION
        }
    }
}

/// The hooks this filter has no use for, which Envoy 1.40 requires: each lets the stream go
/// on (`Continue` is 0 in every status enum) and keeps no state.
macro_rules! pass_through {
    ($($hook:ident => $ret:ty),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($hook), "`: nothing to do.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $hook(_filter_envoy: *mut c_void, _filter_module: *const c_void) -> $ret {
            Default::default()
        }
    )*};
}

pass_through! {
    envoy_dynamic_module_on_http_filter_request_body => u32,
    envoy_dynamic_module_on_http_filter_request_trailers => u32,
    envoy_dynamic_module_on_http_filter_response_headers => u32,
    envoy_dynamic_module_on_http_filter_response_body => u32,
    envoy_dynamic_module_on_http_filter_response_trailers => u32,
    envoy_dynamic_module_on_http_filter_stream_complete => (),
    envoy_dynamic_module_on_http_filter_http_callout_done => (),
    envoy_dynamic_module_on_http_filter_http_stream_headers => (),
    envoy_dynamic_module_on_http_filter_http_stream_data => (),
    envoy_dynamic_module_on_http_filter_http_stream_trailers => (),
    envoy_dynamic_module_on_http_filter_http_stream_complete => (),
    envoy_dynamic_module_on_http_filter_http_stream_reset => (),
    envoy_dynamic_module_on_http_filter_scheduled => (),
    envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark => (),
    envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark => (),
}

/// A stream ends: the filter pointer is the shared configuration, so nothing is freed.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(_filter_module: *const c_void) {}
