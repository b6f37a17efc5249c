//! A tool, not a test: prints the records and stats of one fixture at one capture size.
//! `FIX=http_curl_keepalive.txt CAP=64 cargo test -p netsight-l7 --test fixtures_dump -- --ignored --nocapture`
mod common;
use netsight_l7::Config;

#[test]
#[ignore]
fn dump() {
    let cap: usize = std::env::var("CAP")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1024);
    let name = std::env::var("FIX").unwrap();
    let (recs, t) = common::run(&name, cap, Config::default());
    for r in &recs {
        println!("{}", common::json(r));
    }
    println!("{}", serde_json::to_string(&t.stats()).unwrap());
}
