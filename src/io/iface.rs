//! Interface existence, checked before anything is opened so that a typo is bad input.

/// Whether an interface of this name exists in this network namespace.
pub fn interface_exists(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && !name.contains(['/', '\0'])
        && name != "."
        && name != ".."
        && std::path::Path::new("/sys/class/net").join(name).exists()
}
