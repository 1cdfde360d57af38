fn main() {
    std::process::exit(synprobe::cli::main());
}
