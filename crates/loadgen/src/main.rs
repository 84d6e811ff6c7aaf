//! Load generator and benchmark driver for the media core and the whole gateway.
//!
//! May depend on: `callbridge-media`, `callbridge-model` and their test peers.

fn main() {
    eprintln!("callbridge-loadgen: no scenario selected");
    std::process::exit(2);
}
