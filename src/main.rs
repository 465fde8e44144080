//! `curtain`: command-line tool.
fn main() {}
