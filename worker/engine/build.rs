// The linker drops shared libraries none of whose symbols are referenced, and nothing
// calls into libtorch_cuda directly: without this, CUDA is silently unavailable. Link
// libtorch_cuda with --no-as-needed so the CUDA backend
// registers itself when the binary loads. torch-sys has already added libtorch's folder
// to the search path. (rust-lld knows no --copy-dt-needed-entries: name the library.)
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
    }
}
