//! `dstack offer`: CPU, memory and disk in GB, a spot/on-demand column,
//! `--group-by gpu|backend|region` and `--max-offers`.

use crate::confirm::case_project;

fn offer(args: &[&str]) -> String {
    let p = case_project("offer-table");
    let out = p.dstack(&[&["offer"][..], args].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "$ dstack offer {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    )
}

#[test]
fn offers_show_memory_disk_and_spot_and_group_by_gpu_backend_region() {
    insta::assert_snapshot!(
        "offer_tables",
        [
            offer(&["--gpu", "1..", "--disk", "200GB..", "--max-offers", "4"]),
            offer(&["--group-by", "gpu"]),
            offer(&["--group-by", "backend", "--max-offers", "1"]),
            offer(&["--group-by", "region", "--gpu", "A10G"]),
            offer(&["--on-demand", "--instance-type", "g5.xlarge"]),
        ]
        .join("\n")
    );
    let json: serde_json::Value = serde_json::from_str(
        offer(&["--format", "json", "--spot"])
            .split_once('\n')
            .map_or("", |(_, rest)| rest),
    )
    .expect("--format json is JSON");
    let offers = json["offers"].as_array().expect("offers");
    assert!(
        !offers.is_empty() && offers.iter().all(|o| o["spot"] == true),
        "{json}"
    );
}
