//! `callbridge` command-line entry point.

fn main() {
    eprintln!("callbridge: starting");
}
