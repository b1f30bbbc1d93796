//! The playground: a Leptos page and a Web Worker that runs the engine, talking by typed messages
//! ([`protocol`]). One wasm serves both: `start` looks at where it runs.

mod charts;
mod page;
mod protocol;
mod store;
mod worker;

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
                worker::post(&protocol::FromWorker::Crashed(info.to_string()));
            }));
            worker::run()
        }
    }
}
