fn main() {
    eprintln!("synprobe: not built yet");
    std::process::exit(1);
}
