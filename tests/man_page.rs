//! The checked-in man pages (man/*.1) are what the clap definitions render now: a flag
//! added or reworded without `scripts/man.sh` fails here. Needs no root.
//!
//! `SYNPROBE_UPDATE_MAN=1` writes the pages instead of comparing (what scripts/man.sh does).

use std::path::PathBuf;

/// Every page: synprobe.1 and one per subcommand (synprobe-scan.1, ...), rendered.
fn pages() -> Vec<(String, Vec<u8>)> {
    let top = synprobe::cli::command();
    let mut out = vec![("synprobe.1".to_string(), render(top.clone()))];
    for sub in top.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("synprobe-{}", sub.get_name());
        // clap names take &'static str (without its "string" feature): a few bytes per test run.
        let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
        let cmd = sub
            .clone()
            .name(static_name)
            .version(env!("CARGO_PKG_VERSION"));
        out.push((format!("{name}.1"), render(cmd)));
    }
    out
}

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .expect("render to memory");
    buf
}

#[test]
fn man_pages_are_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man");
    let update = std::env::var_os("SYNPROBE_UPDATE_MAN").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, page) in pages() {
        let path = dir.join(&name);
        if update {
            std::fs::create_dir_all(&dir).expect("man/");
            std::fs::write(&path, &page).expect("write page");
        } else if std::fs::read(&path).ok().as_deref() != Some(&page[..]) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "man pages not current: {stale:?}; run scripts/man.sh and commit man/"
    );
    // No page left over from a subcommand that is gone.
    let expected: Vec<String> = pages().into_iter().map(|(n, _)| n).collect();
    for entry in std::fs::read_dir(&dir).expect("man/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        if name.ends_with(".1") {
            assert!(
                expected.contains(&name),
                "man/{name} has no subcommand; remove it"
            );
        }
    }
}
