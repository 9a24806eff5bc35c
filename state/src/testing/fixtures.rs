//! Values the suites share.

use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::money::Usd;

use crate::model::RecordedResource;

/// A parsed address (the suites only use valid ones).
pub fn addr(text: &str) -> ResourceAddr {
    text.parse().expect("test address")
}

/// A resource row with every optional field set.
pub fn resource(address: &str) -> RecordedResource {
    let mut r = RecordedResource::new(addr(address), serde_json::json!({"nodes": 1}), "fp1".into());
    r.provider = Some("fake".into());
    r.provider_id = Some("i-1".into());
    r.price_per_hour = Some(Usd::from_micros(1_006_000));
    r.offer = Some(serde_json::json!({"instance_type": "g5.xlarge"}));
    r.data = serde_json::json!({"ip": "10.0.0.1"});
    r
}
