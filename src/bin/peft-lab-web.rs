//! The playground's entry point, compiled once to wasm for both the page and its training worker.

#[cfg(target_arch = "wasm32")]
fn main() {
    peft_lab::web::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("peft-lab-web runs in a browser: build it with ./scripts/build-web.sh (or trunk) and open the page");
    std::process::exit(2);
}
