//! Prints the program's Anchor IDL (see `ml_agent::idl`).

fn main() {
    print!("{}", ml_agent::idl::render());
}
