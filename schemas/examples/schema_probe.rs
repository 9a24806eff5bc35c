//! Scratch probe.
fn main() {
    let name = std::env::args().nth(1).unwrap();
    let s = dstack_schemas::config::schema::schema_for(&name).unwrap();
    println!("{}", serde_json::to_string_pretty(&s).unwrap());
}
