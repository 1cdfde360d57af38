//! Result sinks and printers. (being written)
