//! uniffi's own generator, built at the version the bindings use:
//! `cargo run -p xtask --bin uniffi-bindgen -- generate LIBRARY --language kotlin --out-dir DIR`.
//! `cargo xtask bindings` runs it for you.

fn main() {
    uniffi::uniffi_bindgen_main()
}
