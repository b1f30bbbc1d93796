//! The worker's side of the channel to the page: its global scope, and posting a message (what the message handlers of
//! `worker.rs` and `worker_decoder.rs` answer with).

use wasm_bindgen::JsCast;
use web_sys::DedicatedWorkerGlobalScope;

use super::protocol::FromWorker;

pub fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

pub fn post(message: &FromWorker) {
    match serde_wasm_bindgen::to_value(message) {
        Ok(value) => {
            if let Err(e) = scope().post_message(&value) {
                web_sys::console::error_1(&e);
            }
        }
        Err(e) => web_sys::console::error_1(&format!("cannot serialise a message: {e}").into()),
    }
}
