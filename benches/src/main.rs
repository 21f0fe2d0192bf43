//! corenet-bench: load generator for echo servers (placeholder).
fn main() {
    eprintln!("corenet-bench: not built yet");
    std::process::exit(2);
}
