//! The playground: a Leptos page and a Web Worker that runs the engine, talking by typed messages
//! ([`protocol`]). One wasm serves both: `start` looks at where it runs.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

mod charts;
mod diagram;
mod page;
mod pool;
mod protocol;
mod store;
mod to_page;
mod worker;
mod worker_backend;
mod worker_checkpoints;
mod worker_decoder;

/// Model files are read whole into memory (and copied to the worker): larger ones are refused, picked or fetched.
const MAX_MODEL_BYTES: u64 = 2 << 30;

/// The refusal of a model file of `bytes`.
fn model_too_big(file: &str, bytes: u64) -> String {
    format!("{file} is {:.1} GiB; the page loads models up to 2 GiB", bytes as f64 / 1073741824.0)
}

pub fn start() {
    match web_sys::window() {
        Some(window) => {
            // A bug in the page leaves it unusable: say so on the page rather than only in the console.
            std::panic::set_hook(Box::new(move |info| {
                console_error_panic_hook::hook(info);
                if let Some(body) = window.document().and_then(|d| d.body()) {
                    let message =
                        format!("peft-lab hit a bug and stopped ({info}). Reload the page; finished runs are kept.");
                    let banner = window.document().and_then(|d| d.create_element("p").ok());
                    if let Some(banner) = banner {
                        banner.set_class_name("error crash");
                        banner.set_text_content(Some(&message));
                        let _ = body.prepend_with_node_1(&banner);
                    }
                }
            }));
            page::mount()
        }
        None => {
            // The worker cannot continue after a panic; the page restarts it and says what happened.
            std::panic::set_hook(Box::new(|info| {
                console_error_panic_hook::hook(info);
                to_page::post(&protocol::FromWorker::Crashed(info.to_string()));
            }));
            worker::run()
        }
    }
}

#[wasm_bindgen]
extern "C" {
    /// `fetch` of whichever global runs this code: the page's window or the worker's scope.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(url: &str) -> js_sys::Promise;
}

/// A successful response for `url`; network failures and HTTP errors become messages naming the URL.
async fn fetch(url: &str) -> Result<Response, String> {
    let response = JsFuture::from(global_fetch(url)).await.map_err(|e| format!("{url}: {}", js_error(&e)))?;
    let response: Response = response.unchecked_into();
    if !response.ok() {
        return Err(format!("{url}: HTTP {} {}", response.status(), response.status_text()));
    }
    Ok(response)
}

/// The body of `url`.
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    buffer_bytes(fetch(url).await?.array_buffer()).await
}

/// Resolves a promise of an `ArrayBuffer` (a response's or a file's body) to bytes.
async fn buffer_bytes(promise: Result<js_sys::Promise, JsValue>) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(promise.map_err(|e| js_error(&e))?).await.map_err(|e| js_error(&e))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The message of a JavaScript exception or rejection.
fn js_error(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}
