//! Scratch probe.
fn main() {
    let verbose = std::env::var("V").is_ok();
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap();
        let loaded = dstack_schemas::config::load_config(&path, &bytes);
        let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
        if errors.is_empty() {
            println!("OK   {path}");
        } else {
            println!("FAIL {path}");
        }
        for d in &loaded.diagnostics {
            let r = dstack_schemas::diag::FileReport::new(loaded.file.clone(), d.clone());
            if verbose || d.is_error() {
                println!(
                    "     {} {:?} {} | {:?}",
                    r.location(),
                    d.severity,
                    d.message,
                    d.help
                );
            }
        }
    }
}
